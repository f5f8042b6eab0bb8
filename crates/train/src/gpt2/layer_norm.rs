//! LayerNorm over rows, forward with saved statistics and backward.
//!
//! Forward (Ba et al. 2016): `x̂ = (x − μ)·r`, `r = 1/√(σ² + eps)` (biased
//! variance), `y = x̂·γ + β`; the output comes from the inference op
//! (`smallmind_ops::norm::norm_rows`), and `μ`, `r` are saved per row (two
//! passes, so they agree with the kernel's to a few ulp).
//!
//! Backward, per row of length `C`, with `g = dy·γ`:
//! `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dγ += Σ_rows dy·x̂`, `dβ += Σ_rows dy`.

use rayon::prelude::*;
use smallmind_ops::norm::{Norm, norm_rows};
use smallmind_ops::{MatMut, MatRef};

use super::{Dims, NormActs, ROWS_PER_TASK, reduce};
use crate::error::Result;

/// `acts.out = LayerNorm(x)` for `x` `(N, C)`, saving each row's mean and rstd.
pub(super) fn forward(
    dims: &Dims,
    gamma: &[f32],
    beta: &[f32],
    x: &[f32],
    acts: &mut NormActs,
) -> Result<()> {
    let (n, c, eps) = (dims.n, dims.c, dims.eps);
    let norm = Norm::Layer { gamma, beta, eps };
    norm_rows(
        &norm,
        MatRef::new(x, n, c)?,
        MatMut::new(&mut acts.out, n, c)?,
    )?;
    x.par_chunks(c * ROWS_PER_TASK)
        .zip(acts.mean.par_chunks_mut(ROWS_PER_TASK))
        .zip(acts.rstd.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|((x, mean), rstd)| {
            for ((row, m), r) in x.chunks_exact(c).zip(mean).zip(rstd) {
                (*m, *r) = row_stats(row, eps);
            }
        });
    Ok(())
}

/// `(μ, 1/√(σ² + eps))` of one row: the mean, then the centered sum of
/// squares (two passes, no cancellation).
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let len = row.len() as f32;
    let mean = reduce::sum(row) / len;
    let var = reduce::centered_sum_sq(row, mean) / len;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Backward of [`forward`]: `dx += ∂L/∂x` for `dy = ∂L/∂y` `(N, C)`, and
/// `(dgamma, dbeta)` `(C,)` accumulate the parameter gradients.
pub(super) fn backward(
    dims: &Dims,
    gamma: &[f32],
    x: &[f32],
    acts: &NormActs,
    dy: &[f32],
    dx: &mut [f32],
    (dgamma, dbeta): (&mut [f32], &mut [f32]),
) {
    let c = dims.c;
    // Input gradient (row-parallel) and parameter gradients (rows in order,
    // deterministic) are independent.
    rayon::join(
        || input_backward(c, gamma, x, acts, dy, dx),
        || param_backward(c, x, acts, dy, dgamma, dbeta),
    );
}

/// `dx += ∂L/∂x`, rows in parallel.
fn input_backward(c: usize, gamma: &[f32], x: &[f32], acts: &NormActs, dy: &[f32], dx: &mut [f32]) {
    dx.par_chunks_mut(c * ROWS_PER_TASK)
        .zip(x.par_chunks(c * ROWS_PER_TASK))
        .zip(dy.par_chunks(c * ROWS_PER_TASK))
        .zip(acts.mean.par_chunks(ROWS_PER_TASK))
        .zip(acts.rstd.par_chunks(ROWS_PER_TASK))
        .for_each(|((((dx, x), dy), mean), rstd)| {
            let rows = dx.chunks_exact_mut(c).zip(x.chunks_exact(c));
            for ((((dx, x), dy), &m), &r) in rows.zip(dy.chunks_exact(c)).zip(mean).zip(rstd) {
                row_backward(gamma, x, dy, m, r, dx);
            }
        });
}

/// `dγ += Σ_rows dy·x̂`, `dβ += Σ_rows dy`: rows in order, columns vectorized.
fn param_backward(
    c: usize,
    x: &[f32],
    acts: &NormActs,
    dy: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    for (((x, dy), &m), &r) in x
        .chunks_exact(c)
        .zip(dy.chunks_exact(c))
        .zip(&acts.mean)
        .zip(&acts.rstd)
    {
        for (((dg, db), &xi), &g) in dgamma.iter_mut().zip(dbeta.iter_mut()).zip(x).zip(dy) {
            *dg += g * ((xi - m) * r);
            *db += g;
        }
    }
}

/// One row: `dx += r·(g − mean(g) − x̂·mean(g·x̂))`, `g = dy·γ`.
#[inline]
fn row_backward(gamma: &[f32], x: &[f32], dy: &[f32], mean: f32, rstd: f32, dx: &mut [f32]) {
    // Σ g·x̂ = r·(Σ g·x − μ·Σ g).
    let (sum_g, sum_g_x) = reduce::dot_pair(dy, gamma, x);
    let sum_gx = rstd * (sum_g_x - mean * sum_g);
    let inv_c = 1.0 / x.len() as f32;
    let (mean_g, mean_gx) = (sum_g * inv_c, sum_gx * inv_c);
    for (((d, &xi), &g), &w) in dx.iter_mut().zip(x).zip(dy).zip(gamma) {
        let xhat = (xi - mean) * rstd;
        *d += rstd * (g * w - mean_g - xhat * mean_gx);
    }
}
