//! ggml `IQ3_S`: 256 weights per superblock, 110 bytes; points of 4 values
//! from a 512-entry grid with explicit signs, and 4-bit scales per 32 values:
//! `x = d·(1 + 2·sc)·s·g` with `g` odd in `1..=15` and a sign `s`.
//!
//! Layout ([`BlockIq3S`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (bytes 2..66) and `qh` (bytes 66..74): the 9-bit grid index of
//!   weights `4k .. 4k + 4` is `qs[k]` plus bit `k % 8` of `qh[k / 8]` as bit 8
//!   (ggml's `iq3s_grid`, value `j` in byte `j`);
//! - `signs` (bytes 74..106): bit `j % 8` of `signs[j / 8]` set means weight
//!   `j` is negative;
//! - `scales` (bytes 106..110): byte `b` holds the 4-bit scale of sub-block
//!   `2b` (32 weights) in its low nibble and of `2b + 1` in its high nibble.
//!
//! Dequantization (ggml's `dequantize_row_iq3_s`): `((d·(1 + 2·sc))·g)·(±1)`.
//!
//! Quantizer (ggml's `quantize_iq3_s` without an importance matrix, which is
//! also its `quantize_row_iq3_s_ref` and what `llama-quantize` runs), per
//! sub-block of 32 with weights `w = x²`: signs are taken out (`a = |x|`); for
//! the 19 inverse scales `id = (15 + 0.2·t)/max a` (`t = −9 ..= 9`) each group
//! of 4 rounds `(id·a − 1)/2` to `l` in `0..=7` (grid value `2l + 1`); a group
//! that is not a grid point takes, among its precomputed neighbours (the grid
//! points at the three smallest distances), the one nearest `a` at scale
//! `1/id` (weights `√w`). The candidate with the largest
//! `(Σ w·a·q)²/Σ w·q²` wins, with scale `Σ w·a·q/Σ w·q²`; if some group was off
//! the grid, all groups are re-rounded once at that scale and the scale
//! re-fitted. Then `d = max scale/31`, stored as `d·1.033` (f16), and each
//! sub-block's `sc = clamp(round((scale/d − 1)/2), 0, 15)` (with the unstored
//! `d`).
//!
//! **One deviation from ggml.** When a sub-block is all zeros, ggml skips it
//! without advancing its write position in `qs` and `signs`, so the later
//! sub-blocks' quants land one slot early (and decode with the wrong scales).
//! This quantizer writes every sub-block at its own place (zeros for the
//! zero sub-block); `tests/formats.rs` checks that it equals ggml's block with
//! the slots moved back. Blocks without an all-zero sub-block are identical.
//!
//! Dot (ggml pairs IQ3_S with Q8_K activations) and SIMD tiles: the
//! `grid_block` module's, with `ROW_SCALE = 1` (ggml's
//! `ggml_vec_dot_iq3_s_q8_K_generic`) and `OFFSET = 16` (`u = 16 + s·g` in
//! `1..=31`).

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grid_block::{GridBlock, GridConsts, Group, le_u32, odd_nibble};
use super::grid_search::{GridTables, ScaleSearch, split_signs, superblock_scale};
use super::grids::IQ3S_GRID;
use super::kblock::weight_format_k;
use crate::quant::QK_K;

/// An IQ3_S superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq3S {
    /// Superblock scale.
    pub d: f16,
    /// Low 8 bits of the grid index per 4 weights.
    pub qs: [u8; QK_K / 4],
    /// Bit 8 of the grid indices, one bit per 4 weights.
    pub qh: [u8; QK_K / 32],
    /// One sign bit per weight.
    pub signs: [u8; QK_K / 8],
    /// 4-bit scales per 32 weights, two per byte.
    pub scales: [u8; QK_K / 64],
}

/// Values per grid point.
const GROUP: usize = 4;

/// The search tables of the 512-point grid (values `2l + 1` already).
fn tables() -> &'static GridTables<GROUP, 3> {
    static TABLES: OnceLock<GridTables<GROUP, 3>> = OnceLock::new();
    TABLES
        .get_or_init(|| GridTables::new(IQ3S_GRID.iter().map(|p| p.to_le_bytes()).collect(), 7, 3))
}

/// One quantized sub-block of 32: grid indices, sign bytes and scale.
struct SubBlock {
    grid: [u16; 8],
    signs: [u8; 4],
    scale: f32,
}

/// ggml's IQ3_S trials (module docs): 19 inverse scales, every group
/// re-rounded at the fitted scale.
const SEARCH: ScaleSearch = ScaleSearch {
    steps: 9,
    step: 0.2,
    reround_all: true,
};

/// The sub-block search of ggml's `quantize_row_iq3_s_impl` (see the module
/// docs); `None` for an all-zero sub-block.
fn quantize_sub_block(x: &[f32; 32]) -> Option<SubBlock> {
    let t = tables();
    let (a, mut signs) = split_signs::<32, 4>(x);
    let max = a[1..].iter().fold(a[0], |m, &v| if m > v { m } else { v });
    if max == 0.0 {
        return None;
    }
    let (l, mut scale) = t.fit(&a, &x.map(|v| v * v), max, &SEARCH);
    if scale < 0.0 {
        // Never expected (ggml's comment says the same); the scale is stored unsigned.
        scale = -scale;
        signs = signs.map(|s| !s);
    }
    // Every group is a grid point now (ggml aborts otherwise; 0 here).
    let grid = std::array::from_fn(|k| t.index(&l.as_chunks::<GROUP>().0[k]).unwrap_or(0));
    Some(SubBlock { grid, signs, scale })
}

impl BlockIq3S {
    /// ggml's `quantize_iq3_s` without importance matrix, with the one
    /// deviation of the module docs.
    fn quantize(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let subs: [Option<SubBlock>; 8] =
            std::array::from_fn(|ib| quantize_sub_block(&x.as_chunks::<32>().0[ib]));
        for (ib, sub) in subs.iter().enumerate() {
            let Some(sub) = sub else { continue };
            for (k, &index) in sub.grid.iter().enumerate() {
                block.qs[8 * ib + k] = (index & 255) as u8;
                block.qh[ib] |= ((index >> 8) as u8) << k;
            }
            block.signs[4 * ib..][..4].copy_from_slice(&sub.signs);
        }
        let Some((d, ls)) =
            superblock_scale(subs.each_ref().map(|s| s.as_ref().map(|s| s.scale)), 1.033)
        else {
            return block;
        };
        block.d = d;
        for (b, pair) in block.scales.iter_mut().zip(ls.as_chunks::<2>().0) {
            *b = pair[0] | (pair[1] << 4);
        }
        block
    }
}

weight_format_k!(BlockIq3S, "iq3_s", bytes 110, via grid, sub_blocks 8);

impl GridBlock for BlockIq3S {
    type Points = [u32; 8];
    const GRID: GridConsts = GridConsts {
        row_scale: 1.0,
        // `16 + s·g` in `1..=31`.
        offset: 16,
    };

    /// Groups `k = 8v .. 8v + 8`: `qs[k]` with bit `k % 8` of `qh[v]` as
    /// bit 8; `signs[4v .. 4v + 4]`; nibble `v` of `scales` for all 32.
    #[inline(always)]
    fn group(&self, v: usize) -> Group<[u32; 8]> {
        let index =
            |i: usize| usize::from(self.qs[8 * v + i]) | usize::from((self.qh[v] >> i) & 1) << 8;
        let sc = odd_nibble(self.scales[v / 2] >> (4 * (v % 2)));
        Group {
            points: std::array::from_fn(|i| IQ3S_GRID[index(i)]),
            signs: le_u32(&self.signs[4 * v..]),
            scales: [sc, sc],
        }
    }
}
