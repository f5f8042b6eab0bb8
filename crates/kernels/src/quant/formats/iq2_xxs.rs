//! ggml `IQ2_XXS`: 256 weights per superblock, 66 bytes; points of 8 values
//! from a 256-entry grid, signs by eights with even parity, and 4-bit scales
//! per 32 values: `x = d·(2·ls + 1)/8·s·g` with `g ∈ {8, 25, 43}` and a sign
//! `s`.
//!
//! Layout ([`BlockIq2Xxs`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (bytes 2..66): 8 bytes per sub-block `s` of 32 weights. Bytes
//!   `8s .. 8s + 4` are the grid indices of weights `32s + 8l .. 32s + 8l + 8`
//!   (`l = 0..4`; ggml's `iq2xxs_grid`, value `j` in byte `j`); bytes
//!   `8s + 4 .. 8s + 8` are a little-endian u32 whose bits `7l .. 7l + 7` are
//!   the signs of those eights (bit `j` set: negative; the eighth sign is the
//!   one that makes the number of negatives even) and bits 28..32 the scale
//!   `ls`.
//!
//! Dequantization (ggml's `dequantize_row_iq2_xxs`):
//! `((d·(0.5 + ls))·0.25·g)·(±1)`.
//!
//! Quantizer: ggml quantizes IQ2_XXS only with an importance matrix, so
//! `llama-quantize` has no reference to match. [`BlockFormat::quantize_block`]
//! makes a valid block by a simple scheme like IQ2_XS's (`iq2_xs` module
//! docs; not ggml's search, and not meant for real models), with scales per
//! 32: `d = 4·amax/(15.5·43)` (f16); per sub-block of 32 and each `ls` in
//! `0..=15`, per 8 values the signs and the grid point nearest `|x|/step`,
//! `step = d·(0.5 + ls)/4`; the `ls` whose round trip has the smallest
//! squared error wins (the first on ties). An all-zero (or NaN) block gives
//! zeros.
//!
//! Dot (ggml pairs IQ2_XXS with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq2_xxs_q8_K_generic`: per superblock the exact
//! `B = Σ_s (2·ls[s] + 1)·Σ_{j ∈ s} s_j·g_j·x_j` over the eight sub-blocks of
//! 32, `sumf += (d·d_x)·B` in superblock order, and the result `0.125·sumf`:
//! the scalar path's row dot (bit-exact with ggml); the oracle is
//! `(d/8)·d_x·B` in f64.
//!
//! SIMD tiles (`x86/kquants.rs`): the `vpmaddubsw` operand is the unsigned
//! `u = 43 + s·g` (`0..=86`, `2·86·127 < 2¹⁵`, no saturation) and the offset
//! comes back from the Q8_K block sums: `B = Σ_s (2·ls[s] + 1)·(Σ_{j∈s}
//! u_j·x_j − 43·(bsums[2s] + bsums[2s+1]))`. `|Σ (2·ls + 1)·u·x| ≤
//! 31·86·127·256 < 2²⁷`: exact in i32.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::SubBlocks;
use super::grids::IQ2XXS_GRID;
use super::iq2_xs::{encode_group, even_signs};
use super::kblock::{BsumsTerm, KBlock, weight_format_k};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockFormat, BlockQ8K, QK_K};

/// An IQ2_XXS superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq2Xxs {
    /// Superblock scale.
    pub d: f16,
    /// Per 32 weights: four grid indices, then a little-endian u32 of four
    /// 7-bit sign indices and the 4-bit scale in bits 28..32.
    pub qs: [u8; QK_K / 4],
}

const _: () = assert!(size_of::<BlockIq2Xxs>() == 66);
const _: () = assert!(align_of::<BlockIq2Xxs>() == 2);

impl BlockIq2Xxs {
    /// The signs-and-scale word of sub-block `s` (32 weights).
    #[inline(always)]
    fn word(&self, s: usize) -> u32 {
        let b = &self.qs[8 * s + 4..][..4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The integer scale `2·ls + 1` (in `1..=31`) of sub-block `s`.
    #[inline(always)]
    fn scale(&self, s: usize) -> u8 {
        2 * (self.word(s) >> 28) as u8 + 1
    }

    /// The grid values (unsigned) and sign bits (bit `j` set: negative,
    /// parity bit included) of weights `8e .. 8e + 8`.
    #[inline(always)]
    fn group(&self, e: usize) -> ([u8; 8], u8) {
        let (s, l) = (e / 4, e % 4);
        let grid = IQ2XXS_GRID[usize::from(self.qs[8 * s + l])].to_le_bytes();
        (grid, even_signs(((self.word(s) >> (7 * l)) & 127) as u8))
    }

    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 32, `q` the signed
    /// grid values (`±8, ±25, ±43`), scales `2·ls + 1` in `1..=31`, and
    /// `d = d_f16/8` (exact; `dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<8> {
        let mut q = [0i8; QK_K];
        for (e, v) in q.as_chunks_mut::<8>().0.iter_mut().enumerate() {
            let (grid, signs) = self.group(e);
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
            scales: std::array::from_fn(|s| self.scale(s) as i8),
            mins: [0; 8],
            q,
        }
    }
}

impl BlockFormat for BlockIq2Xxs {
    const NAME: &'static str = "iq2_xxs";
    const VALUES: usize = QK_K;

    /// ggml's `dequantize_row_iq2_xxs`: `((d·(0.5 + ls))·0.25·g)·(±1)`.
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (e, o) in out.chunks_exact_mut(8).enumerate() {
            let db = d * (0.5 + (self.word(e / 4) >> 28) as f32) * 0.25;
            let (grid, signs) = self.group(e);
            for (j, (o, &g)) in o.iter_mut().zip(&grid).enumerate() {
                let sign = if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
                *o = db * f32::from(g) * sign;
            }
        }
    }

    /// The simple quantizer of the module docs (ggml has none without an
    /// importance matrix).
    fn quantize_block(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let sub_max = |xs: &[f32]| xs.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let amax = x.chunks_exact(32).fold(0.0f32, |m, xs| m.max(sub_max(xs)));
        if amax == 0.0 || amax.is_nan() {
            return block;
        }
        // `(d·(0.5 + 15))/4·43 = amax`.
        let d = f16::from_f32(amax * 4.0 / (15.5 * 43.0));
        let df = d.to_f32();
        block.d = d;
        for (s, xs) in x.chunks_exact(32).enumerate() {
            let mut best = encode_sub_block(xs, 0, df);
            for ls in 1..16 {
                let candidate = encode_sub_block(xs, ls, df);
                if candidate.0 < best.0 {
                    best = candidate;
                }
            }
            block.qs[8 * s..][..8].copy_from_slice(&best.1);
        }
        block
    }
}

/// Sub-block `xs` (32 values) at scale `ls` (`d` the stored superblock
/// scale): its squared round-trip error and its 8 bytes of `qs`.
fn encode_sub_block(xs: &[f32], ls: u32, d: f32) -> (f32, [u8; 8]) {
    let step = d * (0.5 + ls as f32) * 0.25;
    let mut word = ls << 28;
    let mut bytes = [0u8; 8];
    let mut err = 0.0f32;
    for (l, group) in xs.chunks_exact(8).enumerate() {
        let (index, signs) = encode_group(group, step, &IQ2XXS_GRID);
        bytes[l] = index as u8;
        word |= u32::from(signs) << (7 * l);
        let grid = IQ2XXS_GRID[index].to_le_bytes();
        let all_signs = even_signs(signs);
        for (j, (&v, &g)) in group.iter().zip(&grid).enumerate() {
            let sign = if all_signs & (1 << j) != 0 { -1.0 } else { 1.0 };
            let e = step * f32::from(g) * sign - v;
            err += e * e;
        }
    }
    bytes[4..].copy_from_slice(&word.to_le_bytes());
    (err, bytes)
}

weight_format_k!(BlockIq2Xxs);

impl KBlock for BlockIq2Xxs {
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

    /// ggml's `ggml_vec_dot_iq2_xxs_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let (isum, _) = wb.isums(xb);
            sum += (wb.d.to_f32() * xb.d) * isum as f32;
        }
        0.125 * sum
    }

    /// Vector `s` holds `43 + s_j·g_j` of sub-block `s`: its four grid
    /// points (`_mm256_set_epi64x` of table reads) with the signs of its four
    /// sign indices; the block sums multiply the scale of each sub-block
    /// twice.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{bit_masks, f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the table reads index `IQ2XXS_GRID` with a byte (below
        // 256); the load reads the 16 i16 of `sums_by`; AVX2 and F16C are
        // the caller's contract.
        unsafe {
            let offset = _mm256_set1_epi8(43);
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            let mut sums_by = [0i16; 16];
            for s in 0..8 {
                let point = |l: usize| IQ2XXS_GRID[usize::from(self.qs[8 * s + l])] as i64;
                let grid = _mm256_set_epi64x(point(3), point(2), point(1), point(0));
                let word = self.word(s);
                let signs = u32::from_le_bytes(std::array::from_fn(|l| {
                    even_signs(((word >> (7 * l)) & 127) as u8)
                }));
                let neg = bit_masks(signs);
                let signed = _mm256_sub_epi8(_mm256_xor_si256(grid, neg), neg);
                q[s] = _mm256_add_epi8(signed, offset);
                let scale = i32::from(self.scale(s));
                sc[s] = O::scale_vec(scale, scale);
                sums_by[2 * s] = scale as i16;
                sums_by[2 * s + 1] = scale as i16;
            }
            Unpacked {
                q,
                sc,
                sums_by: load(sums_by.as_ptr().cast()),
                d: f16_to_f32(self.d) * 0.125,
                dmin: 0.0,
            }
        }
    }
}
