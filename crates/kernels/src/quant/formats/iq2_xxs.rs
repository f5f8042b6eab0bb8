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
//! `llama-quantize` has no reference to match. [`BlockFormat::quantize_block`](crate::quant::BlockFormat::quantize_block)
//! makes a valid block by a simple scheme like IQ2_XS's (`iq2_xs` module
//! docs; not ggml's search, and not meant for real models), with scales per
//! 32: `d = 4·amax/(15.5·43)` (f16); per sub-block of 32 and each `ls` in
//! `0..=15`, per 8 values the signs and the grid point nearest `|x|/step`,
//! `step = d·(0.5 + ls)/4`; the `ls` whose round trip has the smallest
//! squared error wins (the first on ties). An all-zero (or NaN) block gives
//! zeros.
//!
//! Dot (ggml pairs IQ2_XXS with Q8_K activations) and SIMD tiles: the
//! `grid_block` module's, with `ROW_SCALE = 1/8` (ggml's
//! `ggml_vec_dot_iq2_xxs_q8_K_generic`) and `OFFSET = 43` (`u = 43 + s·g` in
//! `0..=86`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grid_block::{GridBlock, GridConsts, Group, IQ2_GRID, even_signs, le_u32};
use super::grids::IQ2XXS_GRID;
use super::iq2_xs::{encode_group, simple_scale};
use super::kblock::weight_format_k;
use crate::quant::QK_K;

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

impl BlockIq2Xxs {
    /// The simple quantizer of the module docs (ggml has none without an
    /// importance matrix).
    fn quantize(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let Some(d) = simple_scale(x) else {
            return block;
        };
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

weight_format_k!(BlockIq2Xxs, "iq2_xxs", bytes 66, via grid, sub_blocks 8);

impl GridBlock for BlockIq2Xxs {
    type Points = [u64; 4];
    const GRID: GridConsts = IQ2_GRID;

    /// The four grid indices and the word of sub-block `v`.
    #[inline(always)]
    fn group(&self, v: usize) -> Group<[u64; 4]> {
        let points = std::array::from_fn(|l| IQ2XXS_GRID[usize::from(self.qs[8 * v + l])]);
        Group::with_word(points, le_u32(&self.qs[8 * v + 4..]))
    }
}
