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
//! Dot (ggml pairs IQ3_XXS with Q8_K activations) and SIMD tiles: the
//! `grid_block` module's, with `ROW_SCALE = 1/4` (ggml's
//! `ggml_vec_dot_iq3_xxs_q8_K_generic`) and `OFFSET = 62` (`u = 62 + s·g` in
//! `0..=124`).

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grid_block::{GridBlock, GridConsts, Group, le_u32};
use super::grid_search::{GridTables, ScaleSearch, superblock_scale};
use super::grids::IQ3XXS_GRID;
use super::kblock::weight_format_k;
use crate::quant::QK_K;

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

/// ggml's IQ3_XXS trials (module docs): 31 inverse scales, the groups off
/// the grid re-rounded at the fitted scale.
const SEARCH: ScaleSearch = ScaleSearch {
    steps: 15,
    step: 0.2,
    reround_all: false,
};

/// The sub-block search of ggml's `quantize_row_iq3_xxs_impl` (module docs);
/// `None` for a sub-block below [`GROUP_MAX_EPS`].
fn quantize_sub_block(x: &[f32; 32]) -> Option<SubBlock> {
    let t = tables();
    let w = x.map(|v| v * v);
    let (mut signs, a) = take_signs(x, &w);
    let max = a[1..].iter().fold(a[0], |m, &v| if m > v { m } else { v });
    if max < GROUP_MAX_EPS {
        return None;
    }
    let (l, mut scale) = t.fit(&a, &w, max, &SEARCH);
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

impl BlockIq3Xxs {
    /// ggml's `quantize_iq3_xxs` without importance matrix.
    fn quantize(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let subs: [Option<SubBlock>; 8] =
            std::array::from_fn(|ib| quantize_sub_block(&x.as_chunks::<32>().0[ib]));
        let Some((d, ls)) =
            superblock_scale(subs.each_ref().map(|s| s.as_ref().map(|s| s.scale)), 1.0125)
        else {
            return block;
        };
        block.d = d;
        for (ib, (sub, ls)) in subs.iter().zip(ls).enumerate() {
            let Some(sub) = sub else { continue };
            block.qs[8 * ib..][..8].copy_from_slice(&sub.grid);
            block.scales_and_signs[4 * ib..][..4]
                .copy_from_slice(&(sub.signs | (u32::from(ls) << 28)).to_le_bytes());
        }
        block
    }
}

weight_format_k!(BlockIq3Xxs, "iq3_xxs", bytes 98, via grid, sub_blocks 8);

impl GridBlock for BlockIq3Xxs {
    type Points = [u32; 8];
    const GRID: GridConsts = GridConsts {
        row_scale: 0.25,
        // `62 + s·g` in `0..=124`.
        offset: 62,
    };

    /// Grid indices `qs[8v .. 8v + 8]` and word `v` of `scales_and_signs`.
    #[inline(always)]
    fn group(&self, v: usize) -> Group<[u32; 8]> {
        let points = std::array::from_fn(|k| IQ3XXS_GRID[usize::from(self.qs[8 * v + k])]);
        Group::with_word(points, le_u32(&self.scales_and_signs[4 * v..]))
    }
}
