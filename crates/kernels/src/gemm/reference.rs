//! The scalar oracle for [`super::gemm`]: the textbook triple loop with f64
//! accumulation, no blocking, no SIMD.

use super::{Gemm, Transpose, scale_c, validate};
use crate::KernelError;

/// Scalar twin of [`super::gemm`] with the same contract: each output is
/// `α·Σₚ op(A)[i,p]·op(B)[p,j] + β·C[i,j]`, summed in f64 and rounded once.
///
/// # Errors
/// The same validation errors as [`super::gemm`].
pub fn gemm_ref(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), KernelError> {
    validate("gemm_ref", g, a, b, c)?;
    gemm_ref_unchecked(g, a, b, c);
    Ok(())
}

/// The oracle after validation (shared with `gemv_ref`).
pub(crate) fn gemm_ref_unchecked(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) {
    if g.m == 0 || g.n == 0 {
        return;
    }
    if g.k == 0 || g.alpha == 0.0 {
        scale_c(g, c);
        return;
    }
    let a_at = |i: usize, p: usize| match g.trans_a {
        Transpose::No => a[i * g.lda + p],
        Transpose::Yes => a[p * g.lda + i],
    };
    let b_at = |p: usize, j: usize| match g.trans_b {
        Transpose::No => b[p * g.ldb + j],
        Transpose::Yes => b[j * g.ldb + p],
    };
    for i in 0..g.m {
        for j in 0..g.n {
            let dot: f64 = (0..g.k)
                .map(|p| f64::from(a_at(i, p)) * f64::from(b_at(p, j)))
                .sum();
            let out = &mut c[i * g.ldc + j];
            let scaled = f64::from(g.alpha) * dot;
            *out = if g.beta == 0.0 {
                scaled as f32
            } else {
                (scaled + f64::from(g.beta) * f64::from(*out)) as f32
            };
        }
    }
}
