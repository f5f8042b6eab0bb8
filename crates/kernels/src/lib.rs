//! # smallmind-kernels — the bottom layer
//!
//! SIMD primitives over plain slices: GEMM and GEMV, vector arithmetic, fast
//! `exp`/`tanh`/`erf`, GELU and SiLU, softmax, LayerNorm and RMSNorm, RoPE, and
//! f16/bf16 conversion. This crate knows nothing about tensors or models.
//!
//! Rules every kernel here follows:
//! - it takes slices and writes into caller-provided buffers; it never allocates
//!   on the heap (GEMM's packing buffers are per-thread, sized once from the cache
//!   blocking and reused for the life of the thread);
//! - it checks its arguments and returns a [`KernelError`] naming the operand,
//!   instead of panicking;
//! - it dispatches to a SIMD path once per call ([`dispatch`]), with the body
//!   written once, generic over [`pulp::Simd`];
//! - it has a scalar `_ref` twin with the same signature, which is its test oracle.

pub mod activation;
pub mod attention;
pub mod convert;
pub mod dispatch;
pub mod dtype;
mod error;
pub mod gemm;
pub mod gemv;
pub mod gemv_half;
pub mod math;
pub mod norm;
pub mod parallel;
mod prefetch;
pub mod quant;
pub mod rope;
pub mod softmax;
pub mod team;
pub mod vector;

pub use dispatch::{SimdPath, active_path, available_paths, with_path};
pub use dtype::DType;
pub use error::KernelError;
pub use team::Team;
