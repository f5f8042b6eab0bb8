//! # smallmind-ops — transformer layers
//!
//! Sits on `smallmind-kernels` (SIMD over slices) and `smallmind-tensor`
//! (storage). Each op is a function over borrowed, pre-planned buffers with
//! their shapes spelled out; none allocates, none knows what a model is.

mod error;

pub use error::OpsError;
