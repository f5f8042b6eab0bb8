//! One module per block format: its byte layout, dequantizer, quantizer and
//! the `BlockFormat` / `WeightFormat`
//! / `ActFormat` impls. Formats of one family share a
//! module of integer views and SIMD tiles (`block32`, `kblock`).
//!
//! # Formats not yet in the registry
//!
//! The scalar reference layer of more ggml weight formats (to be moved onto
//! the registry traits): block types
//! byte-compatible with GGUF, dequantizers, ggml's quantizers, and the scalar
//! dot against the activation format llama.cpp's CPU backend pairs each one
//! with. These are the oracles the SIMD kernels are tested against.
//!
//! | module | ggml type | values per block | bytes | activations (`vec_dot_type`) |
//! | --- | --- | --- | --- | --- |
//! | [`q5_k`] | `Q5_K` | 256 | 176 | [`BlockQ8K`] |
//! | [`q3_k`] | `Q3_K` | 256 | 110 | [`BlockQ8K`] |
//! | [`q2_k`] | `Q2_K` | 256 | 84 | [`BlockQ8K`] |
//! | [`iq4_xs`] | `IQ4_XS` | 256 | 136 | [`BlockQ8K`] |
//! | [`iq3_s`] | `IQ3_S` | 256 | 110 | [`BlockQ8K`] |
//! | [`iq2_xs`] | `IQ2_XS` | 256 | 74 | [`BlockQ8K`] |
//!
//! Each module's docs give the layout and the formula. Every format has:
//! - `dequantize(&self, &mut [f32; N])` on the block, bit-exact with ggml's
//!   `dequantize_row_*` (the same f32 operations in the same order; gguf-py's
//!   `gguf.quants.dequantize` agrees);
//! - `quantize(&[f32; N]) -> Self`, bit-exact with what `llama-quantize` writes
//!   without an importance matrix (`ggml_quantize_chunk` with no imatrix: ggml's
//!   `quantize_row_*_ref`, except for IQ4_NL, see [`iq4_nl`], and one deviation
//!   for IQ3_S, see [`iq3_s`]); not for IQ2_XS (ggml needs an importance matrix);
//! - an integer view for the SIMD kernels (`values`, or `sub_blocks` for the
//!   256-value formats: [`SubBlocks`]);
//! - the row functions of [`RefFormat`] (dequantize, and `dot_ref`: the sum
//!   ggml's generic `ggml_vec_dot_*_generic` computes, in the same f32
//!   operations, no FMA contraction) and [`RefQuantize`], checking lengths
//!   instead of panicking.
//!
//! `tests/formats.rs` checks all of it against `fixtures/formats/` (made by
//! `scripts/fixtures/make_format_fixtures.py` from gguf-py and llama.cpp's ggml).
//! NaN inputs to a quantizer give unspecified blocks, never a panic.

mod block32;
mod grids;
pub mod iq2_xs;
pub mod iq3_s;
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

use bytemuck::Pod;

pub(crate) use block32::{Act32, Block32, Operand};
pub use iq4_nl::BlockIq4Nl;
pub(crate) use kblock::{KBlock, KKind};
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
pub use q8_k::BlockQ8K;

use crate::KernelError;
use crate::error::check_len;

/// One weight format at the scalar reference level (see the module docs).
pub trait RefFormat: Pod + Send + Sync {
    /// ggml's name of the type (`q5_0`, `q2_K`, …).
    const NAME: &'static str;
    /// Weights per block.
    const VALUES: usize;
    /// The activation block the integer dot pairs with (ggml's `vec_dot_type`).
    type Act: Pod;

    /// Dequantizes whole blocks: `out[VALUES·i + j]` is weight `j` of block `i`.
    ///
    /// # Errors
    /// [`KernelError::InvalidDimension`] unless `out.len()` is a multiple of
    /// `VALUES`, [`KernelError::LengthMismatch`] unless it is `VALUES·blocks.len()`.
    fn dequantize_row(blocks: &[Self], out: &mut [f32]) -> Result<(), KernelError>;

    /// The dot of a row of weight blocks with a row of activation blocks, as
    /// ggml's generic scalar `vec_dot` computes it.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] unless `x.len() == w.len()`.
    fn dot_ref(w: &[Self], x: &[Self::Act]) -> Result<f32, KernelError>;
}

/// A format with ggml's quantizer (all but IQ2_XS, which ggml quantizes only
/// with an importance matrix).
pub trait RefQuantize: RefFormat {
    /// Quantizes `x` into whole blocks as `llama-quantize` does without an
    /// importance matrix: `out[i]` holds `x[VALUES·i ..][..VALUES]`.
    ///
    /// # Errors
    /// As [`RefFormat::dequantize_row`], with `x` the values.
    fn quantize_row(x: &[f32], out: &mut [Self]) -> Result<(), KernelError>;
}

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

/// Row dequantization: `f` writes each block's `N` values.
pub(crate) fn dequantize_blocks<B, const N: usize>(
    op: &'static str,
    blocks: &[B],
    out: &mut [f32],
    f: impl Fn(&B, &mut [f32; N]),
) -> Result<(), KernelError> {
    let len = out.len();
    let (chunks, rest) = out.as_chunks_mut::<N>();
    if !rest.is_empty() {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "out",
            value: len,
            reason: whole_blocks(N),
        });
    }
    check_len(op, "blocks", chunks.len(), blocks.len())?;
    for (b, o) in blocks.iter().zip(chunks) {
        f(b, o);
    }
    Ok(())
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

/// A row dot needs one activation block per weight block.
pub(crate) fn check_dot(op: &'static str, w_len: usize, x_len: usize) -> Result<(), KernelError> {
    check_len(op, "x", w_len, x_len)
}

/// The non-linear 4-bit codebook of IQ4_NL and IQ4_XS (ggml's `kvalues_iq4nl`).
pub const IQ4_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];
