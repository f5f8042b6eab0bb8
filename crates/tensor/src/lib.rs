//! # smallmind-tensor — the tensor layer
//!
//! Sits directly on `smallmind-kernels`. Work in progress.
