//! LayerNorm and RMSNorm over the rows of a `(T, C)` matrix.
//!
//! The residual add that precedes each norm in a pre-norm block is fused
//! upstream: the attention and MLP output projections accumulate straight
//! into the residual stream ([`crate::linear::linear_accumulate`], GEMM
//! `β = 1`), so a norm reads the updated residual once and writes the
//! normalized copy the next projection consumes.

use smallmind_kernels::norm::{layer_norm_rows, rms_norm_rows};

use crate::OpsError;
use crate::matrix::{MatMut, MatRef};

/// Which normalization, with its parameters.
#[derive(Clone, Copy, Debug)]
pub enum Norm<'w> {
    /// LayerNorm (Ba et al. 2016): `(x − μ)/√(σ² + eps)·γ + β`.
    Layer {
        /// Gain γ, `(C,)`.
        gamma: &'w [f32],
        /// Bias β, `(C,)`.
        beta: &'w [f32],
        /// Epsilon.
        eps: f32,
    },
    /// RMSNorm (Zhang & Sennrich 2019): `x/√(mean(x²) + eps)·γ`.
    Rms {
        /// Gain γ, `(C,)`.
        gamma: &'w [f32],
        /// Epsilon.
        eps: f32,
    },
}

/// Normalizes each row of `x` into the same row of `out`; both `(T, C)`.
///
/// # Errors
/// [`OpsError::Shape`] when the views differ in shape or `C` is not the
/// parameters' length.
pub fn norm_rows(norm: &Norm<'_>, x: MatRef<'_>, mut out: MatMut<'_>) -> Result<(), OpsError> {
    let c = match norm {
        Norm::Layer { gamma, .. } | Norm::Rms { gamma, .. } => gamma.len(),
    };
    if x.cols != c || out.cols != c || x.rows != out.rows {
        return Err(OpsError::Shape {
            op: "norm_rows",
            what: format!(
                "x ({}, {}) and out ({}, {}) must both be (T, {c})",
                x.rows, x.cols, out.rows, out.cols
            ),
        });
    }
    if x.ld == c && out.ld == c {
        let len = x.rows * c;
        return apply(norm, &x.data[..len], &mut out.data[..len]);
    }
    for r in 0..x.rows {
        apply(norm, x.row(r), out.row_mut(r))?;
    }
    Ok(())
}

fn apply(norm: &Norm<'_>, x: &[f32], out: &mut [f32]) -> Result<(), OpsError> {
    match *norm {
        Norm::Layer { gamma, beta, eps } => layer_norm_rows(x, gamma, beta, eps, out)?,
        Norm::Rms { gamma, eps } => rms_norm_rows(x, gamma, eps, out)?,
    }
    Ok(())
}
