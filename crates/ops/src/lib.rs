//! # smallmind-ops — transformer layers
//!
//! Sits on `smallmind-kernels` (SIMD over slices). Each op is a function over
//! borrowed, pre-planned buffers whose shapes are spelled out as
//! [`MatRef`]/[`MatMut`] views; none allocates on the hot path and none knows
//! what a model is.
//!
//! - [`linear`] — `y = x·Wᵀ + b` for `[out, in]` and Conv1D `[in, out]`
//!   weights, overwriting or accumulating (the fused residual add);
//! - [`attention`] — causal GQA attention over a KV cache, prefill and decode;
//! - [`mlp`] — GELU MLP (GPT-2) and SwiGLU (Llama);
//! - [`norm`] — LayerNorm and RMSNorm rows;
//! - [`embedding`] — token and learned position embeddings;
//! - [`rope`] — rotary embeddings with precomputed tables.

pub mod attention;
pub mod embedding;
mod error;
pub mod linear;
pub mod matrix;
pub mod mlp;
pub mod norm;
pub mod rope;

pub use attention::{AttentionScratch, AttentionShape, KvCacheLayer, KvCacheRef};
pub use error::OpsError;
pub use linear::{ActivationPrecision, Linear, WeightData, WeightLayout};
pub use matrix::{MatMut, MatRef};
pub use norm::Norm;
