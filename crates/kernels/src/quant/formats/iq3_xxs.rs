//! ggml `IQ3_XXS`: 256 weights per superblock, 98 bytes; points of 4 values
//! from a 256-entry grid, signs by eights with even parity, and 4-bit scales
//! per 32 values: `x = d·(2·ls + 1)/4·s·g` with `g ∈ {4, 12, …, 52, 62}` and a
//! sign `s`.
//!
//! Layout ([`BlockIq3Xxs`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (bytes 2..66): byte `k` is the grid index of weights `4k .. 4k + 4`
//!   (ggml's `iq3xxs_grid`, value `j` in byte `j`);
//! - `scales_and_signs` (bytes 66..98): one little-endian u32 per sub-block
//!   `s` of 32 weights; bits `7l .. 7l + 7` are the signs of weights
//!   `32s + 8l .. 32s + 8l + 7` (bit `j` set: negative; the eighth sign is
//!   the one that makes the number of negatives even, ggml's `ksigns_iq2xs`),
//!   bits 28..32 the scale `ls`.
//!
//! Dequantization (ggml's `dequantize_row_iq3_xxs`):
//! `((d·(0.5 + ls))·0.5·g)·(±1)`.
//!
//! Quantizer (ggml's `quantize_iq3_xxs` without an importance matrix, which is
//! also its `quantize_row_iq3_xxs_ref`; `llama-quantize` itself asks for an
//! importance matrix for IQ3_XXS tensors), per sub-block of 32 with weights
//! `w = x²`: per 8 values the signs are taken out (`a = |x|`); when the count
//! of negatives is odd, the value with the smallest `w·x²` keeps `a = −|x|`
//! and its sign bit flips (the stored parity). The search is IQ3_S's (`iq3_s`
//! module docs, shared tables) on the 256-point grid seen as `2l + 1`
//! (`g = 8l + 4`, 62 for `l = 7`), with the neighbours at the two smallest
//! distances, the 31 inverse scales `id = (15 + 0.2·t)/max a`
//! (`t = −15 ..= 15`), a sub-block whose `max a` is below 10⁻⁸ left zero, and
//! only the groups that were off the grid re-rounded at the fitted scale.
//! Then `d = max scale/31`, stored as `d·1.0125` (f16), and each sub-block's
//! `ls = clamp(round((scale/d − 1)/2), 0, 15)` (with the unstored `d`).
//! Bit-exact with ggml.
//!
//! Dot (ggml pairs IQ3_XXS with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq3_xxs_q8_K_generic`: per superblock the exact
//! `B = Σ_s (2·ls[s] + 1)·Σ_{j ∈ s} s_j·g_j·x_j` over the eight sub-blocks of
//! 32, `sumf += (d·d_x)·B` in superblock order, and the result `0.25·sumf`:
//! the scalar path's row dot (bit-exact with ggml); the oracle is
//! `(d/4)·d_x·B` in f64.
//!
//! SIMD tiles (`x86/kquants.rs`): the `vpmaddubsw` operand is the unsigned
//! `u = 62 + s·g` (`0..=124`, `2·124·127 < 2¹⁵`, no saturation) and the offset
//! comes back from the Q8_K block sums: `B = Σ_s (2·ls[s] + 1)·(Σ_{j∈s}
//! u_j·x_j − 62·(bsums[2s] + bsums[2s+1]))`. `|Σ (2·ls + 1)·u·x| ≤
//! 31·124·127·256 < 2²⁷`: exact in i32.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::SubBlocks;
use super::grid_search::{GridTables, fit_sums};
use super::grids::IQ3XXS_GRID;
use super::iq2_xs::even_signs;
use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::search::nearest_int;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockFormat, BlockQ8K, QK_K};

/// An IQ3_XXS superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq3Xxs {
    /// Superblock scale.
    pub d: f16,
    /// Grid index per 4 weights.
    pub qs: [u8; QK_K / 4],
    /// Per 32 weights, a little-endian u32: four 7-bit sign indices, then
    /// the 4-bit scale in bits 28..32.
    pub scales_and_signs: [u8; QK_K / 8],
}

const _: () = assert!(size_of::<BlockIq3Xxs>() == 98);
const _: () = assert!(align_of::<BlockIq3Xxs>() == 2);

impl BlockIq3Xxs {
    /// The scales-and-signs word of sub-block `s` (32 weights).
    #[inline(always)]
    fn word(&self, s: usize) -> u32 {
        let b = &self.scales_and_signs[4 * s..][..4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The integer scale `2·ls + 1` (in `1..=31`) of sub-block `s`.
    #[inline(always)]
    fn scale(&self, s: usize) -> u8 {
        2 * (self.word(s) >> 28) as u8 + 1
    }

    /// The sign bits of weights `32s + 8l .. 32s + 8l + 8` (bit `j` set:
    /// negative), parity bit included.
    #[inline(always)]
    fn signs(&self, s: usize, l: usize) -> u8 {
        even_signs(((self.word(s) >> (7 * l)) & 127) as u8)
    }

    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 32, `q` the signed
    /// grid values (`±4 ..= ±62`), scales `2·ls + 1` in `1..=31`, and
    /// `d = d_f16/4` (exact; `dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<8> {
        let mut q = [0i8; QK_K];
        for (e, v) in q.as_chunks_mut::<8>().0.iter_mut().enumerate() {
            let signs = self.signs(e / 4, e % 4);
            let grid = |h: usize| IQ3XXS_GRID[usize::from(self.qs[2 * e + h])].to_le_bytes();
            let values = [grid(0), grid(1)].concat();
            for (j, (v, &g)) in v.iter_mut().zip(&values).enumerate() {
                *v = if signs & (1 << j) != 0 {
                    -(g as i8)
                } else {
                    g as i8
                };
            }
        }
        SubBlocks {
            d: self.d.to_f32() * 0.25,
            dmin: 0.0,
            scales: std::array::from_fn(|s| self.scale(s) as i8),
            mins: [0; 8],
            q,
        }
    }
}

/// Values per grid point.
const GROUP: usize = 4;

/// The search tables of the 256-point grid, as `2l + 1` per value.
fn tables() -> &'static GridTables<GROUP, 3> {
    static TABLES: OnceLock<GridTables<GROUP, 3>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let points = IQ3XXS_GRID
            .iter()
            .map(|p| p.to_le_bytes().map(|g| 2 * (g >> 3) + 1))
            .collect();
        GridTables::new(points, 7, 2)
    })
}

/// ggml's `GROUP_MAX_EPS_IQ3_XXS`: a sub-block whose largest `a` is below
/// this is left zero.
const GROUP_MAX_EPS: f32 = 1e-8;

/// One quantized sub-block of 32: grid indices, the word of sign indices
/// (scale bits still 0) and the fitted scale.
struct SubBlock {
    grid: [u8; 8],
    signs: u32,
    scale: f32,
}

/// The sign indices and the values `a` the search fits, per 8 values (see
/// the module docs).
fn take_signs(x: &[f32; 32], w: &[f32; 32]) -> ([u8; 4], [f32; 32]) {
    let mut a = [0.0f32; 32];
    let mut signs = [0u8; 4];
    for (k, s) in signs.iter_mut().enumerate() {
        let range = 8 * k..8 * k + 8;
        for (i, (ai, &v)) in a[range.clone()].iter_mut().zip(&x[range]).enumerate() {
            if v >= 0.0 {
                *ai = v;
            } else {
                *ai = -v;
                *s |= 1 << i;
            }
        }
        if s.count_ones() % 2 == 1 {
            let cost = |i: usize| w[8 * k + i] * x[8 * k + i] * x[8 * k + i];
            let imin = (1..8).fold(0, |m, i| if cost(i) < cost(m) { i } else { m });
            a[8 * k + imin] = -a[8 * k + imin];
            *s ^= 1 << imin;
        }
        *s &= 127;
    }
    (signs, a)
}

/// The sub-block search of ggml's `quantize_row_iq3_xxs_impl` (module docs);
/// `None` for a sub-block below [`GROUP_MAX_EPS`].
fn quantize_sub_block(x: &[f32; 32]) -> Option<SubBlock> {
    let t = tables();
    let w = x.map(|v| v * v);
    let w_sqrt = w.map(f32::sqrt);
    let (mut signs, a) = take_signs(x, &w);
    let max = a[1..].iter().fold(a[0], |m, &v| if m > v { m } else { v });
    if max < GROUP_MAX_EPS {
        return None;
    }
    let groups = |v: &[f32; 32]| -> [[f32; GROUP]; 8] {
        std::array::from_fn(|k| std::array::from_fn(|i| v[GROUP * k + i]))
    };
    let (a4, w4) = (groups(&a), groups(&w_sqrt));
    let round = |id: f32, k: usize| -> [i8; GROUP] {
        a4[k].map(|v| nearest_int(0.5 * (id * v - 1.0)).clamp(0, 7) as i8)
    };

    let mut l = [0i8; 32];
    let mut on_grid = [true; 8];
    let mut best = 0.0f32;
    let mut scale = max / 15.0;
    for step in -15..=15 {
        let id = (15.0 + step as f32 * 0.2) / max;
        let this_scale = 1.0 / id;
        let mut trial = [0i8; 32];
        let mut trial_on_grid = [true; 8];
        for (k, g) in trial.as_chunks_mut::<GROUP>().0.iter_mut().enumerate() {
            *g = round(id, k);
            trial_on_grid[k] = t.snap(g, &a4[k], &w4[k], this_scale).1;
        }
        let (sumqx, sumq2) = fit_sums(&w, &a, &trial);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            l = trial;
            on_grid = trial_on_grid;
        }
    }
    if on_grid.contains(&false) && scale > 0.0 {
        let id = 1.0 / scale;
        for (k, g) in l.as_chunks_mut::<GROUP>().0.iter_mut().enumerate() {
            if on_grid[k] {
                continue;
            }
            *g = round(id, k);
            t.snap(g, &a4[k], &w4[k], scale);
        }
        let (sumqx, sumq2) = fit_sums(&w, &a, &l);
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    if scale < 0.0 {
        // Never expected (ggml's comment says the same); the scale is stored unsigned.
        scale = -scale;
        signs = signs.map(|s| !s & 127);
    }
    // Every group is a grid point now (ggml aborts otherwise; 0 here).
    let grid = std::array::from_fn(|k| t.index(&l.as_chunks::<GROUP>().0[k]).unwrap_or(0) as u8);
    let signs = signs
        .iter()
        .enumerate()
        .fold(0u32, |word, (k, &s)| word | (u32::from(s) << (7 * k)));
    Some(SubBlock { grid, signs, scale })
}

impl BlockFormat for BlockIq3Xxs {
    const NAME: &'static str = "iq3_xxs";
    const VALUES: usize = QK_K;

    /// ggml's `dequantize_row_iq3_xxs`: `((d·(0.5 + ls))·0.5·g)·(±1)`.
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (e, o) in out.chunks_exact_mut(8).enumerate() {
            let (s, l) = (e / 4, e % 4);
            let db = d * (0.5 + (self.word(s) >> 28) as f32) * 0.5;
            let signs = self.signs(s, l);
            let grid = |h: usize| IQ3XXS_GRID[usize::from(self.qs[2 * e + h])].to_le_bytes();
            let values = [grid(0), grid(1)].concat();
            for (j, (o, &g)) in o.iter_mut().zip(&values).enumerate() {
                let sign = if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
                *o = db * f32::from(g) * sign;
            }
        }
    }

    /// ggml's `quantize_iq3_xxs` without importance matrix.
    fn quantize_block(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let mut scales = [0.0f32; 8];
        let mut words = [0u32; 8];
        let mut max_scale = 0.0f32;
        for (ib, xb) in x.as_chunks::<32>().0.iter().enumerate() {
            let Some(sub) = quantize_sub_block(xb) else {
                continue;
            };
            block.qs[8 * ib..][..8].copy_from_slice(&sub.grid);
            words[ib] = sub.signs;
            scales[ib] = sub.scale;
            max_scale = if max_scale > sub.scale {
                max_scale
            } else {
                sub.scale
            };
        }
        if max_scale == 0.0 {
            return Self::zeroed();
        }
        let d = max_scale / 31.0;
        block.d = f16::from_f32(d * 1.0125);
        let id = 1.0 / d;
        for (ib, (word, &scale)) in words.iter().zip(&scales).enumerate() {
            let ls = nearest_int(0.5 * (id * scale - 1.0)).clamp(0, 15) as u32;
            block.scales_and_signs[4 * ib..][..4]
                .copy_from_slice(&(word | (ls << 28)).to_le_bytes());
        }
        block
    }
}

weight_format_k!(BlockIq3Xxs);

impl KBlock for BlockIq3Xxs {
    /// The SIMD tiles take the unsigned `62 + s·g` (`0..=124`).
    const BSUMS: BsumsTerm = BsumsTerm::Offset(62);

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        let isum = v.scaled_isum(&x.qs);
        (isum, 0)
    }

    /// `d/4` (exact) and 0.
    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32() * 0.25, 0.0)
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_iq3_xxs_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let (isum, _) = wb.isums(xb);
            sum += (wb.d.to_f32() * xb.d) * isum as f32;
        }
        0.25 * sum
    }

    /// Vector `s` holds `62 + s_j·g_j` of sub-block `s`: its eight grid
    /// points (`_mm256_set_epi32` of table reads) with the signs of its four
    /// sign indices; the block sums multiply the scale of each sub-block
    /// twice.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{bit_masks, f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the table reads index `IQ3XXS_GRID` with a byte (below
        // 256); the load reads the 16 i16 of `sums_by`; AVX2 and F16C are
        // the caller's contract.
        unsafe {
            let offset = _mm256_set1_epi8(62);
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            let mut sums_by = [0i16; 16];
            for s in 0..8 {
                let point = |k: usize| IQ3XXS_GRID[usize::from(self.qs[8 * s + k])] as i32;
                let grid = _mm256_set_epi32(
                    point(7),
                    point(6),
                    point(5),
                    point(4),
                    point(3),
                    point(2),
                    point(1),
                    point(0),
                );
                let signs = u32::from_le_bytes(std::array::from_fn(|l| self.signs(s, l)));
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
                d: f16_to_f32(self.d) * 0.25,
                dmin: 0.0,
            }
        }
    }
}
