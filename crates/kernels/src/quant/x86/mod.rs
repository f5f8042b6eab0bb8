//! x86-64 SIMD tiles of the block dots, one module per family of formats:
//! the 32-value blocks (`blocks32`) and the 256-value K-quants (`kquants`).

pub(crate) mod blocks32;
pub(crate) mod kquants;
pub(crate) mod lanes;
