//! One module per block format: its byte layout, dequantizer, quantizer and
//! the `BlockFormat` / `WeightFormat` / `ActFormat` impls. Formats of one
//! family share a module of integer views and SIMD tiles (`block32`,
//! `kblock`); the grid formats share their codebooks (`grids`) and the
//! codebook search of ggml's quantizers (`grid_search`).
//!
//! Each module's docs give the layout, the formula, the quantizer and the
//! dot. Dequantizers are bit-exact with ggml's `dequantize_row_*` (the same
//! f32 operations in the same order; gguf-py's `gguf.quants.dequantize`
//! agrees). Quantizers are ggml's reference ones (`llama-quantize` without
//! an importance matrix) where the module says so: IQ4_NL (see [`iq4_nl`]),
//! IQ3_S (one documented deviation, see [`iq3_s`]), IQ3_XXS (see [`iq3_xxs`]), IQ2_S (see [`iq2_s`]),
//! and IQ2_XS and IQ2_XXS, which ggml
//! quantizes only with an importance matrix (a simple quantizer of our own,
//! see [`iq2_xs`], [`iq2_xxs`]). The scalar dots of the formats llama.cpp pairs with
//! Q8_K (Q5_K, Q3_K, Q2_K, IQ4_XS, IQ3_S, IQ2_XS, IQ3_XXS, IQ2_XXS, IQ2_S) follow ggml's generic
//! `ggml_vec_dot_*_generic` order (bit-exact, no FMA contraction), and the
//! 256-value formats have an integer view ([`SubBlocks`], `sub_blocks()`).
//!
//! `tests/formats.rs` checks them against `fixtures/formats/` (made by
//! `scripts/fixtures/make_format_fixtures.py` from gguf-py and llama.cpp's ggml)
//! through the generic API (`dequantize`, `quantize_ref`, `dot` on the scalar
//! path); `tests/formats_kernels.rs` (32-value) and `tests/kformats.rs`
//! (K-quants) check the SIMD paths. NaN inputs to a quantizer give
//! unspecified blocks, never a panic.

mod block32;
mod grid_block;
mod grid_search;
mod grids;
pub mod iq2_s;
pub mod iq2_xs;
pub mod iq2_xxs;
pub mod iq3_s;
pub mod iq3_xxs;
pub mod iq4_nl;
pub mod iq4_xs;
mod kblock;
pub mod q2_k;
pub mod q3_k;
mod q4_0;
mod q4_1;
mod q4_k;
mod q5_0;
mod q5_1;
pub mod q5_k;
mod q6_k;
mod q8_0;
mod q8_1;
mod q8_k;
mod search;

pub(crate) use block32::{Act32, Block32, Operand};
pub(crate) use grid_block::{GridBlock, GridPoints};
pub use iq2_s::BlockIq2S;
pub use iq2_xs::BlockIq2Xs;
pub use iq2_xxs::BlockIq2Xxs;
pub use iq3_s::BlockIq3S;
pub use iq3_xxs::BlockIq3Xxs;
pub use iq4_nl::BlockIq4Nl;
pub use iq4_xs::BlockIq4Xs;
pub(crate) use kblock::{BsumsTerm, KBlock};
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q5_k::BlockQ5K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
pub use q8_k::BlockQ8K;

use crate::KernelError;
use crate::error::check_len;

/// Integer view of a 256-value superblock, for the SIMD kernels:
/// `x[j] = d·scales[s]·q[j] − dmin·mins[s]` with `s = j / (256 / S)`.
///
/// `S` is the number of sub-blocks (16 of 16 values or 8 of 32). Formats
/// without an offset have `dmin = 0` and `mins` all zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubBlocks<const S: usize> {
    /// Superblock scale of the sub-block scales.
    pub d: f32,
    /// Superblock scale of the sub-block mins (0 for symmetric formats).
    pub dmin: f32,
    /// Integer scale of each sub-block.
    pub scales: [i8; S],
    /// Integer min of each sub-block (0 for symmetric formats).
    pub mins: [u8; S],
    /// The 256 integer weights, in order.
    pub q: [i8; 256],
}

impl<const S: usize> SubBlocks<S> {
    /// The 256 values, `(d·scales[s])·q[j] − dmin·mins[s]`, in the order of
    /// ggml's K-quant dequantizers (for formats without mins the `− 0` changes
    /// no bit).
    #[inline(always)]
    pub fn dequantize(&self, out: &mut [f32]) {
        let sub = 256 / S;
        for (s, (o, q)) in out
            .chunks_exact_mut(sub)
            .zip(self.q.chunks_exact(sub))
            .enumerate()
        {
            let d = self.d * f32::from(self.scales[s]);
            let m = self.dmin * f32::from(self.mins[s]);
            for (o, &q) in o.iter_mut().zip(q) {
                *o = d * f32::from(q) - m;
            }
        }
    }

    /// `Σ_j scales[j / (256/S)]·q[j]·x[j]`, exact in i32.
    #[inline(always)]
    pub fn scaled_isum(&self, x: &[i8; 256]) -> i32 {
        let sub = 256 / S;
        (0..256)
            .map(|j| i32::from(self.scales[j / sub]) * i32::from(self.q[j]) * i32::from(x[j]))
            .sum()
    }
}

/// `1/d`, or 0 when `d == 0` (ggml's `d ? 1/d : 0`).
#[inline(always)]
pub(crate) fn inv_or_zero(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// The reason for a row length that is not whole blocks of `n` values.
const fn whole_blocks(n: usize) -> &'static str {
    if n == 32 {
        "length must be a multiple of the block size 32"
    } else {
        "length must be a multiple of the superblock size 256"
    }
}

/// Row quantization: `f` makes one block from `N` values.
pub(crate) fn quantize_blocks<B, const N: usize>(
    op: &'static str,
    x: &[f32],
    out: &mut [B],
    f: impl Fn(&[f32; N]) -> B,
) -> Result<(), KernelError> {
    let (chunks, rest) = x.as_chunks::<N>();
    if !rest.is_empty() {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "x",
            value: x.len(),
            reason: whole_blocks(N),
        });
    }
    check_len(op, "out", chunks.len(), out.len())?;
    for (xb, o) in chunks.iter().zip(out) {
        *o = f(xb);
    }
    Ok(())
}

/// ggml's generic K-quant dots keep eight i32 lanes per superblock: lane `l`
/// sums `scale[j / (256/S)]·q[j]·x[j]` over `j ≡ l (mod 8)`. Exact in i32.
#[inline(always)]
pub(crate) fn lane_sums<const S: usize>(
    scales: &[i8; S],
    q: &[i8; 256],
    x: &[i8; 256],
) -> [i32; 8] {
    let sub = 256 / S;
    let mut lanes = [0i32; 8];
    for (j, (&qj, &xj)) in q.iter().zip(x).enumerate() {
        lanes[j % 8] += i32::from(scales[j / sub]) * i32::from(qj) * i32::from(xj);
    }
    lanes
}

/// The non-linear 4-bit codebook of IQ4_NL and IQ4_XS (ggml's `kvalues_iq4nl`).
pub const IQ4_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];
