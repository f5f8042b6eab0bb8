//! What the codebook formats share (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S):
//! a superblock of 256 weights `x_j = d·ROW_SCALE·sc[j/16]·s_j·g_j`, with
//! `g_j` the unsigned values of grid points (table entries of 8 or 4 values,
//! `grids.rs`), a sign `s_j` per weight, an odd integer scale `sc` in `1..=31`
//! per 16 or 32 weights (stored as the 4-bit `ls`, `sc = 2·ls + 1`) and no
//! mins.
//!
//! Each format is one module implementing [`GridBlock`]: where its grid
//! points, sign bits and scales sit in its bytes.
//! From these hooks this module makes its [`KBlock`] (the integer sums, the dot
//! in ggml's order, the SIMD tiles through `x86/kquants.rs`'s
//! `unpack_grid`), its dequantizer and its integer view.
//!
//! Dot, as ggml's `ggml_vec_dot_iq*_q8_K_generic`: per superblock the exact
//! `B = Σ_j sc[j/16]·s_j·g_j·x_j` (`|B| ≤ 31·62·127·256 < 2²⁶`), `sumf += (d·d_x)·B`
//! in superblock order, and the row's dot `ROW_SCALE·sumf` (bit-exact with
//! ggml); the oracle is `(d·ROW_SCALE)·d_x·B` in f64. The SIMD tiles take the
//! unsigned `u = OFFSET + s·g` (`OFFSET ≥ max g`, 43, 62 or 16, so
//! `u ≤ 2·62 = 124` and `2·124·127 < 2¹⁵`: `vpmaddubsw` does not saturate) and subtract
//! `OFFSET·Σ_i sc[i]·bsums[i]` from the Q8_K block sums.

use half::f16;

use super::SubBlocks;
use super::kblock::{BsumsTerm, KBlock};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockQ8K, QK_K, WeightFormat};

/// The grid entries of 32 consecutive weights: four points of 8 values
/// (`[u64; 4]`, IQ2_*) or eight points of 4 values (`[u32; 8]`, IQ3_*),
/// value `j` of an entry in its byte `j`.
pub(crate) trait GridPoints: Copy {
    /// The 32 unsigned grid values, in weight order.
    fn values(self) -> [u8; 32];

    /// The same 32 values in one vector (a `vpinsr` of each table read).
    ///
    /// # Safety
    /// The CPU must support AVX.
    #[cfg(target_arch = "x86_64")]
    unsafe fn vector(self) -> core::arch::x86_64::__m256i;
}

impl GridPoints for [u64; 4] {
    #[inline(always)]
    fn values(self) -> [u8; 32] {
        std::array::from_fn(|j| self[j / 8].to_le_bytes()[j % 8])
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn vector(self) -> core::arch::x86_64::__m256i {
        use core::arch::x86_64::_mm256_set_epi64x;
        let [p0, p1, p2, p3] = self.map(|p| p as i64);
        // SAFETY: AVX is the caller's contract.
        unsafe { _mm256_set_epi64x(p3, p2, p1, p0) }
    }
}

impl GridPoints for [u32; 8] {
    #[inline(always)]
    fn values(self) -> [u8; 32] {
        std::array::from_fn(|j| self[j / 4].to_le_bytes()[j % 4])
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn vector(self) -> core::arch::x86_64::__m256i {
        use core::arch::x86_64::_mm256_set_epi32;
        let [p0, p1, p2, p3, p4, p5, p6, p7] = self.map(|p| p as i32);
        // SAFETY: AVX is the caller's contract.
        unsafe { _mm256_set_epi32(p7, p6, p5, p4, p3, p2, p1, p0) }
    }
}

/// Weights `32v .. 32v + 32` of a codebook superblock, read from its layout.
pub(crate) struct Group<P> {
    /// The grid entries.
    pub(crate) points: P,
    /// Bit `j` set: weight `32v + j` is negative.
    pub(crate) signs: u32,
    /// The odd scales `sc = 2·ls + 1` of weights `32v ..` and `32v + 16 ..`.
    pub(crate) scales: [u8; 2],
}

impl<P> Group<P> {
    /// A group of the XXS layouts (IQ2_XXS, IQ3_XXS), whose little-endian
    /// word per 32 weights holds four 7-bit sign indices (bits `7l .. 7l + 7`
    /// for weights `8l .. 8l + 8`, completed to even parity) and `ls` in bits
    /// 28..32.
    #[inline(always)]
    pub(crate) fn with_word(points: P, word: u32) -> Self {
        let sc = 2 * (word >> 28) as u8 + 1;
        let signs = u32::from_le_bytes(std::array::from_fn(|l| {
            even_signs(((word >> (7 * l)) & 127) as u8)
        }));
        Group {
            points,
            signs,
            scales: [sc, sc],
        }
    }
}

/// The constants of a grid for the dot (`ROW_SCALE` and `OFFSET` in the
/// module docs).
pub(crate) struct GridConsts {
    /// ggml's factor on the row sum (and the integer view's `d`): `1/8`
    /// (IQ2_*), `1/4` (IQ3_XXS) or 1 (IQ3_S).
    pub(crate) row_scale: f32,
    /// What the SIMD tiles add to `s·g` to make it unsigned: at least the
    /// largest grid value, at most 62.
    pub(crate) offset: i8,
}

/// The IQ2 grids (values 8, 25 and 43): `x = (d/8)·sc·s·g`; the SIMD tiles
/// take `43 + s·g` (`0..=86`).
pub(crate) const IQ2_GRID: GridConsts = GridConsts {
    row_scale: 0.125,
    offset: 43,
};

/// The stored superblock scale `d` every codebook block holds, read by
/// `weight_format_k!(.., via grid, ..)`'s accessor.
pub(crate) trait GridScale {
    /// The stored superblock scale `d`.
    fn d(&self) -> f16;
}

/// A codebook superblock (see the module docs): the hooks of its layout.
/// Every hook is `#[inline(always)]` or a constant, so the shared dot and
/// tiles compile to one straight kernel per format.
pub(crate) trait GridBlock: WeightFormat<Act = BlockQ8K> + GridScale {
    /// The grid entries of 32 weights.
    type Points: GridPoints;
    /// Its grid's constants.
    const GRID: GridConsts;

    /// Weights `32v .. 32v + 32`.
    fn group(&self, v: usize) -> Group<Self::Points>;
}

/// Every codebook format is a K-quant: its hooks give the integer sums, the
/// dot in ggml's order (module docs) and the x86 unpacking.
impl<B: GridBlock> KBlock for B {
    const BSUMS: BsumsTerm = BsumsTerm::Offset(B::GRID.offset as i32);

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        (sub_blocks::<B, 16>(self).scaled_isum(&x.qs), 0)
    }

    /// `d·ROW_SCALE` (exact: a power of two) and 0.
    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d().to_f32() * B::GRID.row_scale, 0.0)
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_iq*_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let (isum, _) = wb.isums(xb);
            sum += (wb.d().to_f32() * xb.d) * isum as f32;
        }
        B::GRID.row_scale * sum
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        // SAFETY: forwarded from our caller.
        unsafe { crate::quant::x86::kquants::unpack_grid::<O, B>(self) }
    }
}

/// The integer view with `S` sub-blocks (8 of 32 or 16 of 16 weights):
/// `x = d·scales[s]·q` with `q` the signed grid values, `d = d_f16·ROW_SCALE`
/// (exact) and the odd scales (`dmin` and `mins` are 0).
#[inline(always)]
pub(crate) fn sub_blocks<B: GridBlock, const S: usize>(b: &B) -> SubBlocks<S> {
    let mut q = [0i8; QK_K];
    let mut sc = [0u8; 16];
    for (v, q) in q.as_chunks_mut::<32>().0.iter_mut().enumerate() {
        let group = b.group(v);
        sc[2 * v..][..2].copy_from_slice(&group.scales);
        for (j, (q, g)) in q.iter_mut().zip(group.points.values()).enumerate() {
            *q = if group.signs & (1 << j) != 0 {
                -(g as i8)
            } else {
                g as i8
            };
        }
    }
    SubBlocks {
        d: b.d().to_f32() * B::GRID.row_scale,
        dmin: 0.0,
        scales: std::array::from_fn(|s| sc[s * 16 / S] as i8),
        mins: [0; S],
        q,
    }
}

/// ggml's `dequantize_row_iq*`: `(((d·(ls + ½))·2·ROW_SCALE)·g)·(±1)`
/// (`ls = sc >> 1`; IQ3_S's `d·(1 + 2·ls)` is the same f32, `(d·(ls + ½))·2`,
/// since a doubling is exact).
#[inline(always)]
pub(crate) fn dequantize<B: GridBlock>(b: &B, out: &mut [f32]) {
    let d = b.d().to_f32();
    for (v, o) in out.chunks_exact_mut(32).enumerate() {
        let group = b.group(v);
        let values = group.points.values();
        for (h, (o, g)) in o
            .chunks_exact_mut(16)
            .zip(values.as_chunks::<16>().0)
            .enumerate()
        {
            let step = d * (0.5 + f32::from(group.scales[h] >> 1)) * (2.0 * B::GRID.row_scale);
            for (i, (o, &g)) in o.iter_mut().zip(g).enumerate() {
                let sign = if group.signs & (1 << (16 * h + i)) != 0 {
                    -1.0
                } else {
                    1.0
                };
                *o = step * f32::from(g) * sign;
            }
        }
    }
}

/// The odd scales `2·ls + 1` of weights `32v ..` and `32v + 16 ..` from
/// 4-bit `ls` per 16 weights, two per byte, low nibble first (IQ2_XS,
/// IQ2_S).
#[inline(always)]
pub(crate) fn nibble_scales(nibbles: &[u8], v: usize) -> [u8; 2] {
    [odd_nibble(nibbles[v]), odd_nibble(nibbles[v] >> 4)]
}

/// `2·ls + 1` of the 4-bit `ls` in the low nibble of `byte`.
#[inline(always)]
pub(crate) fn odd_nibble(byte: u8) -> u8 {
    2 * (byte & 0x0F) + 1
}

/// The little-endian u32 at the start of `bytes`.
#[inline(always)]
pub(crate) fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// ggml's `ksigns_iq2xs`: 7 stored sign bits plus the eighth that makes the
/// number of set bits even.
#[inline(always)]
pub(crate) const fn even_signs(seven: u8) -> u8 {
    seven | (((seven.count_ones() & 1) as u8) << 7)
}
