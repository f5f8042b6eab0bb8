//! Quantized weights in ggml's block formats: types, quantizers,
//! dequantizers, block dot products, GEMV (decode) and GEMM (prefill).
//!
//! # Formats
//! Blocks of [`QK`] = 32 weights (byte-compatible with GGUF):
//! - [`BlockQ8_0`] (34 bytes): `x = d·q`, `q: i8`, `d: f16`;
//! - [`BlockQ4_0`] (18 bytes): `x = d·(q − 8)`, `q` 4-bit; weight `j < 16`
//!   is the low nibble of byte `j`, weight `j + 16` its high nibble;
//! - [`BlockQ4_1`] (20 bytes): `x = d·q + m`, same nibble order;
//! - [`BlockQ8_1`] (40 bytes, ours, in memory only): Q8_0 with an f32 scale
//!   plus `s = d·Σq`, the activation format for Q4_1 weights.
//!
//! [`blocks_from_bytes`] views a GGUF tensor's bytes as blocks in place.
//! The K-quants `Q4_K` and `Q6_K` (256-weight superblocks, [`BlockQ4K`],
//! [`BlockQ6K`]) have dequantizers, an f32-activation GEMV, and the integer
//! path against activations quantized to [`BlockQ8K`] (256 values, f32
//! scale, per-16 sums): [`gemv_q4_k`], [`gemm_q4_k`], [`gemv_q6_k`],
//! [`gemm_q6_k`]. Their error bounds are in the `kdot` module docs: the
//! same form as below, with one activation scale per 256 values.
//!
//! # Quantized activations (the llama.cpp way)
//! For decode and prefill, activations are quantized once per row — to Q8_0
//! for Q8_0 and Q4_0 weights, to Q8_1 for Q4_1 weights — and each block dot
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
//! Bit-exact with ggml's reference quantizers (and gguf-py); see
//! [`quantize_q8_0`] and the rules in the `quantize` module docs.
//! Round-trip error (`quantize → dequantize`) per block of `x`:
//! Q8_0 `≤ amax/254`, Q4_0 `≤ amax/16`, Q4_1 `≤ (max − min)/30` (plus f16
//! scale rounding).

mod blocks;
mod format;
pub mod formats;
mod gemm;
mod gemv;
mod isa;
mod kdot;
#[cfg(target_arch = "x86_64")]
mod kdot_x86;
mod kquant;
mod kquantize;
mod quantize;
mod split;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK, blocks_from_bytes};
pub use format::{Kind, QuantAct, QuantWeight, RawScale};
pub use gemm::{
    QUANT_GEMM_PARALLEL_MIN_BLOCK_DOTS, gemm_q4_0, gemm_q4_0_ref, gemm_q4_1, gemm_q4_1_ref,
    gemm_q8_0, gemm_q8_0_ref,
};
pub use gemv::{
    QUANT_GEMV_PARALLEL_MIN_BYTES, dot_q4_0, dot_q4_0_f32, dot_q4_0_f32_ref, dot_q4_0_ref,
    dot_q4_1, dot_q4_1_f32, dot_q4_1_f32_ref, dot_q4_1_ref, dot_q8_0, dot_q8_0_f32,
    dot_q8_0_f32_ref, dot_q8_0_ref, gemv_q4_0, gemv_q4_0_f32, gemv_q4_0_f32_ref, gemv_q4_0_ref,
    gemv_q4_1, gemv_q4_1_f32, gemv_q4_1_f32_ref, gemv_q4_1_ref, gemv_q8_0, gemv_q8_0_f32,
    gemv_q8_0_f32_ref, gemv_q8_0_ref,
};
#[doc(hidden)]
pub use isa::with_narrow_vnni;
pub use kdot::{
    BlockQ8K, KQUANT_GEMM_PARALLEL_MIN_BLOCK_DOTS, KQUANT_GEMV_PARALLEL_MIN_BYTES, dequantize_q8_k,
    dot_q4_k, dot_q4_k_ref, dot_q6_k, dot_q6_k_ref, gemm_q4_k, gemm_q4_k_ref, gemm_q6_k,
    gemm_q6_k_ref, gemv_q4_k, gemv_q4_k_ref, gemv_q6_k, gemv_q6_k_ref, quantize_q8_k,
    quantize_q8_k_ref,
};
pub use kquant::{
    BlockQ4K, BlockQ6K, KQuantBlock, QK_K, dequantize_q4_k, dequantize_q6_k, gemv_q4_k_f32,
    gemv_q4_k_f32_ref, gemv_q6_k_f32, gemv_q6_k_f32_ref,
};
pub use kquantize::{quantize_q4_k, quantize_q6_k};
pub use quantize::{
    dequantize_q4_0, dequantize_q4_1, dequantize_q8_0, dequantize_q8_1, quantize_q4_0,
    quantize_q4_0_ref, quantize_q4_1, quantize_q4_1_ref, quantize_q8_0, quantize_q8_0_ref,
    quantize_q8_1, quantize_q8_1_ref,
};
