//! Work in progress.
use crate::KernelError;
use crate::gemm::Gemm;
/// tmp
pub fn gemv(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), KernelError> { crate::gemm::gemm_ref(g, a, b, c) }
