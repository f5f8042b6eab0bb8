//! Quantized weights in ggml's block formats: types, quantizers,
//! dequantizers, block dot products, GEMV (decode) and GEMM (prefill).
//!
//! # Formats
//! Every format is one module of `formats/` implementing the traits of
//! [`BlockFormat`] (all blocks), [`WeightFormat`] (weights: the activation
//! format its integer dot takes, and its SIMD tiles) and [`ActFormat`]
//! (activations). Byte-compatible with GGUF:
//! - blocks of [`QK`] = 32: [`BlockQ8_0`] (34 bytes, `x = d·q`),
//!   [`BlockQ4_0`] (18 bytes, `x = d·(q − 8)`), [`BlockQ4_1`] (20 bytes,
//!   `x = d·q + m`); and our in-memory [`BlockQ8_1`] (Q8_0 with an f32 scale
//!   plus `s = d·Σq`), the activation format of Q4_1;
//! - superblocks of [`QK_K`] = 256: [`BlockQ4K`], [`BlockQ6K`], and the
//!   activation format [`BlockQ8K`] (f32 scale, per-16 sums).
//!
//! The kernels are generic over the format, written once:
//! [`gemv`]/[`gemm`] (quantized activations), [`gemv_f32`] (f32
//! activations), [`dot`], [`quantize`], [`dequantize`], each with a scalar
//! `_ref` oracle. [`blocks_from_bytes`] views a GGUF tensor's bytes as blocks
//! in place.
//!
//! # Quantized activations (the llama.cpp way)
//! For decode and prefill, activations are quantized once per row — to Q8_0
//! for Q8_0 and Q4_0 weights, to Q8_1 for Q4_1 weights, to Q8_K for the
//! K-quants (whose dots and bounds are in the `formats::kblock` docs) — and
//! each block dot
//! is an exact integer sum `Σ v_w·q_x` (AVX-512 VNNI `vpdpbusd`, or AVX2
//! `vpmaddubsw`/`vpmaddwd`), scaled once per block:
//! `dot = Σ_b d_w·d_x·Σ_j v_w[j]·q_x[j]  (+ m·s_x for Q4_1)`.
//! Only the f32 scaling and summation order differ between paths: within
//! `(nb + 8)·2⁻²³·Σ_b |d_w·d_x|·Σ_j |v_w[j]·q_x[j]|` (+ `|m·s_x|`) of the
//! f64 oracles (`*_ref`).
//!
//! **Error of quantized activations.** Rounding `x` to Q8_0 moves each value
//! by at most `d/2 = amax_b/254` (`amax_b` the block's largest `|x|`), plus
//! the f16 rounding of `d` (`|d' − d| ≤ max(2⁻¹¹·d, 2⁻²⁵)`, times
//! `|q| ≤ 127`) and a hair for `q = round(x·(1/d))` with a rounded `1/d`.
//! So against the f32-activation path (`*_f32`, which dequantizes each weight
//! block in registers and multiplies by `x` in f32),
//! `|dot_q − dot_f32| ≤ Σ_b ε_b·Σ_{j∈b} |w_j|` with
//! `ε_b = 1.0001·amax_b/254 + 127·max(2⁻¹¹·d_b, 2⁻²⁵)` for Q8_0
//! activations and `ε_b = 1.0001·amax_b/254` for Q8_1 (f32 scale), plus f32
//! summation error. That is about `|x|/254` per element, as for llama.cpp;
//! `tests/quant.rs` checks the bound. The f32 path is the exact one: its
//! only error is f32 summation (`≲ k·2⁻²⁴·Σ|w x|`).
//!
//! # Quantizers
//! [`quantize`] rounds as each format's module docs say: bit-exact with
//! ggml's reference quantizers (and gguf-py) for Q8_0, Q4_0, Q4_1 and Q8_K.
//! Round-trip error (`quantize → dequantize`) per block of `x`:
//! Q8_0 `≤ amax/254`, Q4_0 `≤ amax/16`, Q4_1 `≤ (max − min)/30` (plus f16
//! scale rounding).

mod format;
pub mod formats;
mod gemm;
mod gemv;
mod isa;
mod quantize;
mod split;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use format::{ActFormat, BlockFormat, WeightFormat};
pub use formats::{
    BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs, BlockIq4Nl, BlockIq4Xs, BlockQ2K,
    BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0,
    BlockQ8_1, BlockQ8K,
};
pub use gemm::{GEMM_PARALLEL_MIN_MACS, gemm, gemm_ref};
pub use gemv::{
    GEMV_PARALLEL_MIN_BYTES, dot, dot_f32, dot_f32_ref, dot_ref, gemv, gemv_f32, gemv_f32_ref,
    gemv_ref,
};
#[doc(hidden)]
pub use isa::with_narrow_vnni;
pub use quantize::{blocks_from_bytes, dequantize, quantize, quantize_ref};

/// Numbers per block of the 32-value formats (`QK4_0`, `QK8_0`, ... in ggml).
pub const QK: usize = 32;
/// Numbers per K-quant superblock (`QK_K` in ggml).
pub const QK_K: usize = 256;
