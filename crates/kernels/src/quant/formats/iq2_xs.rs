//! ggml `IQ2_XS`: 256 weights per superblock, 74 bytes; points of 8 values
//! from a 512-entry grid with signs, and 4-bit scales per 16 values:
//! `x = d·(2·sc + 1)/8·s·g` with `g ∈ {8, 25, 43}` and a sign `s`.
//!
//! Layout ([`BlockIq2Xs`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (32 little-endian u16, bytes 2..66): entry `k` covers weights
//!   `8k .. 8k + 8`; its low 9 bits index the grid
//!   (ggml's `iq2xs_grid`, value `j` in byte `j`), its high 7 bits are
//!   the signs of values 0..7 (bit `j` set: negative), the eighth sign being
//!   the one that makes the number of negatives even;
//! - `scales` (bytes 66..74): byte `b` holds the 4-bit scale of weights
//!   `32b .. 32b + 16` in its low nibble, `32b + 16 .. 32b + 32` in its high.
//!
//! Dequantization (ggml's `dequantize_row_iq2_xs`):
//! `((d·(0.5 + sc))·0.25·g)·(±1)`.
//!
//! Quantizer: ggml quantizes IQ2_XS only with an importance matrix, so
//! `llama-quantize` has no reference to match. [`BlockFormat::quantize_block`]
//! makes a valid block by a simple scheme instead (not ggml's search, and not
//! meant for real models; enough for tests and round trips): with `amax` the
//! block's largest `|x|`, `d = 4·amax/(15.5·43)` (f16, so `sc = 15` maps 43 to
//! `amax`); per sub-block of 16 with largest `|x|` `m`,
//! `sc = clamp(round(4·m/(43·d) − 0.5), 0, 15)`; per 8 values the signs of `x`
//! (the smallest `|x|` flipped when the count of negatives is odd, since the
//! eighth sign is implied) and the grid point nearest `|x|/step` in squared
//! distance, `step = d·(0.5 + sc)/4`. An all-zero (or NaN) block gives zeros.
//!
//! Dot (ggml pairs IQ2_XS with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq2_xs_q8_K_generic`: per superblock the exact
//! `B = Σ_s (2·sc[s] + 1)·Σ_{j ∈ s} s_j·g_j·x_j` over the sixteen sub-blocks of
//! 16, `sumf += (d·d_x)·B` in superblock order, and the result `0.125·sumf`:
//! the scalar path's row dot (bit-exact with ggml); the oracle is
//! `(d/8)·d_x·B` in f64.
//!
//! SIMD tiles (`x86/kquants.rs`): the `vpmaddubsw` operand is the unsigned
//! `u = 43 + s·g` (`0..=86`, `2·86·127 < 2¹⁵`, no saturation) and the offset
//! comes back from the Q8_K block sums: `B = Σ_s (2·sc[s] + 1)·(Σ_{j∈s} u_j·x_j
//! − 43·bsums[s])`. `|Σ (2·sc + 1)·u·x| ≤ 31·86·127·256 < 2²⁷`: exact in i32.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::SubBlocks;
use super::grids::IQ2XS_GRID;
use super::kblock::{BsumsTerm, KBlock, weight_format_k};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockFormat, BlockQ8K, QK_K};

/// An IQ2_XS superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq2Xs {
    /// Superblock scale.
    pub d: f16,
    /// Grid index (low 9 bits) and sign index (high 7 bits) per 8 weights, little-endian.
    pub qs: [u16; QK_K / 8],
    /// 4-bit scales per 16 weights, two per byte.
    pub scales: [u8; QK_K / 32],
}

const _: () = assert!(size_of::<BlockIq2Xs>() == 74);
const _: () = assert!(align_of::<BlockIq2Xs>() == 2);

/// ggml's `ksigns_iq2xs`: 7 stored sign bits plus the eighth that makes the
/// number of set bits even.
#[inline(always)]
pub(crate) const fn even_signs(seven: u8) -> u8 {
    seven | (((seven.count_ones() & 1) as u8) << 7)
}

impl BlockIq2Xs {
    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 16, `q` the signed
    /// grid values (`±8, ±25, ±43`), scales `2·sc + 1` in `1..=31`, and
    /// `d = d_f16/8` (exact; `dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<16> {
        let mut q = [0i8; QK_K];
        for (v, &entry) in q.as_chunks_mut::<8>().0.iter_mut().zip(&self.qs) {
            let entry = u16::from_le(entry);
            let grid = IQ2XS_GRID[usize::from(entry & 511)].to_le_bytes();
            let signs = even_signs((entry >> 9) as u8);
            for (j, (v, &g)) in v.iter_mut().zip(&grid).enumerate() {
                *v = if signs & (1 << j) != 0 {
                    -(g as i8)
                } else {
                    g as i8
                };
            }
        }
        SubBlocks {
            d: self.d.to_f32() * 0.125,
            dmin: 0.0,
            scales: std::array::from_fn(|s| {
                (2 * ((self.scales[s / 2] >> (4 * (s % 2))) & 0x0F) + 1) as i8
            }),
            mins: [0; 16],
            q,
        }
    }
}

impl BlockFormat for BlockIq2Xs {
    const NAME: &'static str = "iq2_xs";
    const VALUES: usize = QK_K;

    /// ggml's `dequantize_row_iq2_xs`: `((d·(0.5 + sc))·0.25·g)·(±1)`.
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (s, o) in out.chunks_exact_mut(16).enumerate() {
            let sc = (self.scales[s / 2] >> (4 * (s % 2))) & 0x0F;
            let db = d * (0.5 + f32::from(sc)) * 0.25;
            for (o8, &entry) in o.chunks_exact_mut(8).zip(&self.qs[2 * s..][..2]) {
                let entry = u16::from_le(entry);
                let grid = IQ2XS_GRID[usize::from(entry & 511)].to_le_bytes();
                let signs = even_signs((entry >> 9) as u8);
                for (j, (o, &g)) in o8.iter_mut().zip(&grid).enumerate() {
                    let sign = if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
                    *o = db * f32::from(g) * sign;
                }
            }
        }
    }

    /// The simple quantizer of the module docs (ggml has none without an
    /// importance matrix).
    fn quantize_block(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let sub_max = |xs: &[f32]| xs.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let amax = x.chunks_exact(16).fold(0.0f32, |m, xs| m.max(sub_max(xs)));
        if amax == 0.0 || amax.is_nan() {
            return block;
        }
        // `(d·(0.5 + 15))/4·43 = amax`.
        let d = f16::from_f32(amax * 4.0 / (15.5 * 43.0));
        let df = d.to_f32();
        block.d = d;
        for (s, xs) in x.chunks_exact(16).enumerate() {
            let want = sub_max(xs) / 43.0;
            let sc = ((want * 4.0 / df - 0.5).round() as i32).clamp(0, 15) as u8;
            block.scales[s / 2] |= sc << (4 * (s % 2));
            let step = df * (0.5 + f32::from(sc)) * 0.25;
            for (e, group) in block.qs[2 * s..][..2].iter_mut().zip(xs.chunks_exact(8)) {
                let (index, signs) = encode_group(group, step, &IQ2XS_GRID);
                *e = (index as u16 | (u16::from(signs) << 9)).to_le();
            }
        }
        block
    }
}

/// One grid entry for 8 values at `step` per grid unit (the simple
/// quantizer of IQ2_XS and IQ2_XXS): the index of the `grid` point nearest
/// `|x|/step` and the seven stored signs of `x` (the smallest `|x|` flipped if
/// the count of negatives is odd, since the eighth is implied).
pub(super) fn encode_group(x: &[f32], step: f32, grid: &[u64]) -> (usize, u8) {
    let mut signs = 0u8;
    for (j, &v) in x.iter().enumerate() {
        if v < 0.0 {
            signs |= 1 << j;
        }
    }
    if signs.count_ones() % 2 == 1 {
        let smallest = (0..8).fold(0, |b, j| if x[j].abs() < x[b].abs() { j } else { b });
        signs ^= 1 << smallest;
    }
    let a: [f32; 8] = std::array::from_fn(|j| x[j].abs() / step);
    let mut best = (f32::INFINITY, 0usize);
    for (i, &point) in grid.iter().enumerate() {
        let d2: f32 = point
            .to_le_bytes()
            .iter()
            .zip(&a)
            .map(|(&g, &v)| (f32::from(g) - v) * (f32::from(g) - v))
            .sum();
        if d2 < best.0 {
            best = (d2, i);
        }
    }
    (best.1, signs & 0x7F)
}

weight_format_k!(BlockIq2Xs);

impl KBlock for BlockIq2Xs {
    /// The SIMD tiles take the unsigned `43 + s·g` (`0..=86`).
    const BSUMS: BsumsTerm = BsumsTerm::Offset(43);

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        let isum = v.scaled_isum(&x.qs);
        (isum, 0)
    }

    /// `d/8` (exact) and 0.
    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32() * 0.125, 0.0)
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_iq2_xs_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let (isum, _) = wb.isums(xb);
            sum += (wb.d.to_f32() * xb.d) * isum as f32;
        }
        0.125 * sum
    }

    /// Vector `g` holds `43 + s·g` of weights `32g ..` (grid entries
    /// `4g .. 4g + 4`, `_mm256_set_epi64x` of table reads, with their signs);
    /// its halves are sub-blocks `2g` and `2g + 1`. The block sums multiply
    /// the sixteen scales `2·sc + 1`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{bit_masks, f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the table reads index `IQ2XS_GRID` below 512; the load reads
        // the 16 i16 of `sums_by`; AVX2 and F16C are the caller's contract.
        unsafe {
            let offset = _mm256_set1_epi8(43);
            let scales: [i16; 16] = std::array::from_fn(|s| {
                2 * i16::from((self.scales[s / 2] >> (4 * (s % 2))) & 0x0F) + 1
            });
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            for g in 0..8 {
                let entry = |i: usize| u16::from_le(self.qs[4 * g + i]);
                let point = |i: usize| IQ2XS_GRID[usize::from(entry(i) & 511)] as i64;
                let grid = _mm256_set_epi64x(point(3), point(2), point(1), point(0));
                let signs = (0..4).fold(0u32, |m, i| {
                    m | (u32::from(even_signs((entry(i) >> 9) as u8)) << (8 * i))
                });
                let neg = bit_masks(signs);
                let signed = _mm256_sub_epi8(_mm256_xor_si256(grid, neg), neg);
                q[g] = _mm256_add_epi8(signed, offset);
                sc[g] = O::scale_vec(i32::from(scales[2 * g]), i32::from(scales[2 * g + 1]));
            }
            Unpacked {
                q,
                sc,
                sums_by: load(scales.as_ptr().cast()),
                d: f16_to_f32(self.d) * 0.125,
                dmin: 0.0,
            }
        }
    }
}
