//! ggml `IQ2_S`: 256 weights per superblock, 82 bytes; points of 8 values
//! from a 1024-entry grid with explicit signs, and 4-bit scales per 16
//! values: `x = d·(2·sc + 1)/8·s·g` with `g ∈ {8, 25, 43}` and a sign `s`.
//!
//! Layout ([`BlockIq2S`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (bytes 2..66): byte `k < 32` is the low 8 bits of the grid index of
//!   weights `8k .. 8k + 8` (ggml's `iq2s_grid`, value `j` in byte `j`), and
//!   byte `32 + k` their signs (bit `j` set: weight `8k + j` is negative);
//! - `qh` (bytes 66..74): bits `2(k % 4) .. 2(k % 4) + 2` of `qh[k / 4]` are
//!   bits 8..10 of the grid index of group `k`;
//! - `scales` (bytes 74..82): byte `b` holds the 4-bit scale of weights
//!   `32b .. 32b + 16` in its low nibble, `32b + 16 .. 32b + 32` in its high.
//!
//! Dequantization (ggml's `dequantize_row_iq2_s`):
//! `((d·(0.5 + sc))·0.25·g)·(±1)`.
//!
//! Quantizer (ggml's `quantize_iq2_s` without an importance matrix, which is
//! also its `quantize_row_iq2_s_ref`), per sub-block of 16 with weights
//! `w = σ²/4 + x²` (`σ² = 2·Σx²/256` over the superblock): signs are taken
//! out (`a = |x|`); for the 19 inverse scales `id = (5 + 0.1·t)/max a`
//! (`t = −9 ..= 9`) each group of 8 rounds `(id·a − 1)/2` to `l` in `0..=2`
//! (grid value `2l + 1`, stored as 8, 25, 43); a group that is not a grid
//! point takes, among the grid points at the smallest distance, the one
//! nearest `a` at scale `1/id` (weights `√w`). The candidate with the largest
//! `(Σ w·a·q)²/Σ w·q²` wins, with scale `Σ w·a·q/Σ w·q²`; the groups that
//! were off the grid are re-rounded once at that scale and the scale
//! re-fitted. A sub-block whose `max a` is below 10⁻⁸ is left zero. Then
//! `d = max scale/31`, stored as `d·0.9875` (f16), and each sub-block's
//! `sc = clamp(round((scale/d − 1)/2), 0, 15)` (with the unstored `d`).
//! Bit-exact with ggml. (`llama-quantize` asks for an importance matrix for
//! the IQ2_S file types; ggml's quantizer itself does not need one.)
//!
//! Dot (ggml pairs IQ2_S with Q8_K activations) and SIMD tiles: the
//! `grid_block` module's, with `ROW_SCALE = 1/8` (ggml's
//! `ggml_vec_dot_iq2_s_q8_K_generic`) and `OFFSET = 43` (`u = 43 + s·g` in
//! `0..=86`).

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grid_block::{GridBlock, GridConsts, Group, IQ2_GRID, le_u32, nibble_scales};
use super::grid_search::{GridTables, ScaleSearch, split_signs, superblock_scale};
use super::grids::IQ2S_GRID;
use super::kblock::weight_format_k;
use crate::quant::QK_K;

/// An IQ2_S superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq2S {
    /// Superblock scale.
    pub d: f16,
    /// Low 8 bits of the grid index per 8 weights, then their sign bytes.
    pub qs: [u8; QK_K / 4],
    /// Bits 8..10 of the grid indices, four per byte.
    pub qh: [u8; QK_K / 32],
    /// 4-bit scales per 16 weights, two per byte.
    pub scales: [u8; QK_K / 32],
}

/// Values per grid point.
const GROUP: usize = 8;

/// The search tables of the 1024-point grid, as `2l + 1` per value
/// (`8, 25, 43` → `l = 0, 1, 2`).
fn tables() -> &'static GridTables<GROUP, 2> {
    static TABLES: OnceLock<GridTables<GROUP, 2>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let l_of = |g: u8| match g {
            8 => 0,
            25 => 1,
            _ => 2,
        };
        let points = IQ2S_GRID
            .iter()
            .map(|p| p.to_le_bytes().map(|g| 2 * l_of(g) + 1))
            .collect();
        GridTables::new(points, 2, 1)
    })
}

/// ggml's `GROUP_MAX_EPS_IQ2_S`: a sub-block whose largest `a` is below this
/// is left zero.
const GROUP_MAX_EPS: f32 = 1e-8;

/// One quantized sub-block of 16: grid indices, sign bytes and scale.
struct SubBlock {
    grid: [u16; 2],
    signs: [u8; 2],
    scale: f32,
}

/// ggml's IQ2_S trials (module docs): 19 inverse scales, the groups off the
/// grid re-rounded at the fitted scale.
const SEARCH: ScaleSearch = ScaleSearch {
    steps: 9,
    step: 0.1,
    reround_all: false,
};

/// The sub-block search of ggml's `quantize_row_iq2_s_impl` (module docs);
/// `None` below [`GROUP_MAX_EPS`].
fn quantize_sub_block(x: &[f32; 16], sigma2: f32) -> Option<SubBlock> {
    let t = tables();
    let (a, mut signs) = split_signs::<16, 2>(x);
    let max = a[1..].iter().fold(a[0], |m, &v| if m > v { m } else { v });
    if max < GROUP_MAX_EPS {
        return None;
    }
    let (l, mut scale) = t.fit(&a, &x.map(|v| 0.25 * sigma2 + v * v), max, &SEARCH);
    if scale < 0.0 {
        // Never expected (ggml's comment on IQ3 says the same); the scale is stored unsigned.
        scale = -scale;
        signs = signs.map(|s| !s);
    }
    // Every group is a grid point now (ggml aborts otherwise; 0 here).
    let grid = std::array::from_fn(|k| t.index(&l.as_chunks::<GROUP>().0[k]).unwrap_or(0));
    Some(SubBlock { grid, signs, scale })
}

impl BlockIq2S {
    /// ggml's `quantize_iq2_s` without importance matrix.
    fn quantize(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let sumx2 = x.iter().fold(0.0f32, |s, &v| s + v * v);
        let sigma2 = 2.0 * sumx2 / QK_K as f32;
        let subs: [Option<SubBlock>; 16] =
            std::array::from_fn(|ib| quantize_sub_block(&x.as_chunks::<16>().0[ib], sigma2));
        for (ib, sub) in subs.iter().enumerate() {
            let Some(sub) = sub else { continue };
            for (k, (&index, &signs)) in sub.grid.iter().zip(&sub.signs).enumerate() {
                let group = 2 * ib + k;
                block.qs[group] = (index & 255) as u8;
                block.qh[group / 4] |= ((index >> 8) as u8) << (2 * (group % 4));
                block.qs[QK_K / 8 + group] = signs;
            }
        }
        let Some((d, ls)) =
            superblock_scale(subs.each_ref().map(|s| s.as_ref().map(|s| s.scale)), 0.9875)
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

weight_format_k!(BlockIq2S, "iq2_s", bytes 82, via grid, sub_blocks 16);

impl GridBlock for BlockIq2S {
    type Points = [u64; 4];
    const GRID: GridConsts = IQ2_GRID;

    /// Groups `k = 4v .. 4v + 4`: `qs[k]` with bits `2(k % 4) ..` of
    /// `qh[k / 4] = qh[v]` as bits 8..10; sign bytes `32 + 4v ..` of `qs`;
    /// scale byte `v`.
    #[inline(always)]
    fn group(&self, v: usize) -> Group<[u64; 4]> {
        let index = |i: usize| {
            usize::from(self.qs[4 * v + i]) | usize::from((self.qh[v] >> (2 * i)) & 3) << 8
        };
        Group {
            points: std::array::from_fn(|i| IQ2S_GRID[index(i)]),
            signs: le_u32(&self.qs[QK_K / 8 + 4 * v..]),
            scales: nibble_scales(&self.scales, v),
        }
    }
}
