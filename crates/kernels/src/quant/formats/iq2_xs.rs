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
//! `llama-quantize` has no reference to match. [`BlockFormat::quantize_block`](crate::quant::BlockFormat::quantize_block)
//! makes a valid block by a simple scheme instead (not ggml's search, and not
//! meant for real models; enough for tests and round trips): with `amax` the
//! block's largest `|x|`, `d = 4·amax/(15.5·43)` (f16, so `sc = 15` maps 43 to
//! `amax`); per sub-block of 16 with largest `|x|` `m`,
//! `sc = clamp(round(4·m/(43·d) − 0.5), 0, 15)`; per 8 values the signs of `x`
//! (the smallest `|x|` flipped when the count of negatives is odd, since the
//! eighth sign is implied) and the grid point nearest `|x|/step` in squared
//! distance, `step = d·(0.5 + sc)/4`. An all-zero (or NaN) block gives zeros.
//!
//! Dot (ggml pairs IQ2_XS with Q8_K activations) and SIMD tiles: the
//! `grid_block` module's, with `ROW_SCALE = 1/8` (ggml's
//! `ggml_vec_dot_iq2_xs_q8_K_generic`) and `OFFSET = 43` (`u = 43 + s·g` in
//! `0..=86`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grid_block::{GridBlock, GridConsts, Group, IQ2_GRID, even_signs, nibble_scales};
use super::grids::IQ2XS_GRID;
use super::kblock::weight_format_k;
use crate::quant::QK_K;

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

impl BlockIq2Xs {
    /// The simple quantizer of the module docs (ggml has none without an
    /// importance matrix).
    fn quantize(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let Some(d) = simple_scale(x) else {
            return block;
        };
        let df = d.to_f32();
        block.d = d;
        for (s, xs) in x.chunks_exact(16).enumerate() {
            let want = max_abs(xs) / 43.0;
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

/// The largest `|x|` (0 for none; NaN ignored).
fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, &v| m.max(v.abs()))
}

/// The superblock scale of the simple quantizers of IQ2_XS and IQ2_XXS:
/// `d = 4·amax/(15.5·43)` (f16), so that the largest scale (`0.5 + 15`)
/// maps the largest grid value 43 to `amax`; `None` for an all-zero block.
pub(super) fn simple_scale(x: &[f32]) -> Option<f16> {
    let amax = max_abs(x);
    if amax == 0.0 || amax.is_nan() {
        return None;
    }
    Some(f16::from_f32(amax * 4.0 / (15.5 * 43.0)))
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

weight_format_k!(BlockIq2Xs, "iq2_xs", bytes 74, via grid, sub_blocks 16);

impl GridBlock for BlockIq2Xs {
    type Points = [u64; 4];
    const GRID: GridConsts = IQ2_GRID;

    /// Entries `4v .. 4v + 4`: the grid index in the low 9 bits, the sign
    /// index in the high 7; scale byte `v`.
    #[inline(always)]
    fn group(&self, v: usize) -> Group<[u64; 4]> {
        let entry = |i: usize| u16::from_le(self.qs[4 * v + i]);
        Group {
            points: std::array::from_fn(|i| IQ2XS_GRID[usize::from(entry(i) & 511)]),
            signs: u32::from_le_bytes(std::array::from_fn(|i| even_signs((entry(i) >> 9) as u8))),
            scales: nibble_scales(&self.scales, v),
        }
    }
}
