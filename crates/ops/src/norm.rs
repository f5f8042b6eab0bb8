//! LayerNorm and RMSNorm over the rows of a `(T, C)` matrix.
//!
//! The residual add that precedes each norm in a pre-norm block is fused
//! upstream: the attention and MLP output projections accumulate straight
//! into the residual stream ([`crate::linear::linear_accumulate`], GEMM
//! `β = 1`), so a norm reads the updated residual once and writes the
//! normalized copy the next projection consumes.

use smallmind_kernels::norm::{layer_norm_rows, rms_norm_rows};
use smallmind_kernels::vector::add_inplace;

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

/// `residual += norm(x)` (Gemma's post-attention and post-MLP norms, applied
/// to a sub-layer's output before the residual add), with `normed` `(T, C)`
/// as scratch.
///
/// # Errors
/// [`OpsError::Shape`] as [`norm_rows`], or when the three views differ in shape.
pub fn add_normed(
    norm: &Norm<'_>,
    x: MatRef<'_>,
    mut normed: MatMut<'_>,
    mut residual: MatMut<'_>,
) -> Result<(), OpsError> {
    if residual.rows != x.rows || residual.cols != x.cols {
        return Err(OpsError::Shape {
            op: "add_normed",
            what: format!(
                "residual ({}, {}) differs from x ({}, {})",
                residual.rows, residual.cols, x.rows, x.cols
            ),
        });
    }
    norm_rows(norm, x, reborrow(&mut normed))?;
    for r in 0..x.rows {
        add_inplace(residual.row_mut(r), normed.row_mut(r))?;
    }
    Ok(())
}

fn reborrow<'s>(m: &'s mut MatMut<'_>) -> MatMut<'s> {
    MatMut {
        data: m.data,
        rows: m.rows,
        cols: m.cols,
        ld: m.ld,
    }
}

/// RMSNorm over each `D`-wide head of a row part, in place (QK-norm: Qwen3,
/// Gemma 3): for every row of `x`, the `heads` heads in columns
/// `start..start + heads·D` are each normalized with the one `(D,)` gain
/// `gamma`. `scratch` holds at least `heads·D` floats (the kernel writes
/// out of place).
///
/// # Errors
/// [`OpsError::Shape`] when the heads do not fit the rows or `scratch` is short.
pub fn rms_norm_heads_inplace(
    gamma: &[f32],
    eps: f32,
    x: &mut MatMut<'_>,
    start: usize,
    heads: usize,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let width = heads * gamma.len();
    if start + width > x.cols || scratch.len() < width {
        return Err(OpsError::Shape {
            op: "rms_norm_heads_inplace",
            what: format!(
                "{heads} heads of {} from column {start} in rows of {} columns, with {} floats \
                 of scratch (need {width})",
                gamma.len(),
                x.cols,
                scratch.len()
            ),
        });
    }
    let scratch = &mut scratch[..width];
    for r in 0..x.rows {
        let part = &mut x.row_mut(r)[start..start + width];
        scratch.copy_from_slice(part);
        rms_norm_rows(scratch, gamma, eps, part)?;
    }
    Ok(())
}

/// Scalar twin of [`rms_norm_heads_inplace`]: `x / √(mean(x²) + eps) · γ`
/// per head, accumulated in f64. Needs no scratch.
///
/// # Errors
/// As [`rms_norm_heads_inplace`].
pub fn rms_norm_heads_inplace_ref(
    gamma: &[f32],
    eps: f32,
    x: &mut MatMut<'_>,
    start: usize,
    heads: usize,
) -> Result<(), OpsError> {
    let d = gamma.len();
    if start + heads * d > x.cols {
        return Err(OpsError::Shape {
            op: "rms_norm_heads_inplace_ref",
            what: format!(
                "{heads} heads of {d} from column {start} exceed {} columns",
                x.cols
            ),
        });
    }
    for r in 0..x.rows {
        for head in x.row_mut(r)[start..start + heads * d].chunks_exact_mut(d) {
            let mean = head
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                / d as f64;
            let inv = 1.0 / (mean + f64::from(eps)).sqrt();
            for (v, &g) in head.iter_mut().zip(gamma) {
                *v = (f64::from(*v) * inv * f64::from(g)) as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in roughly [-2, 2].
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761) >> 8;
                (h % 4001) as f32 / 1000.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn heads_inplace_matches_the_scalar_twin_on_every_path() {
        use smallmind_kernels::dispatch::{SimdPath, with_path};
        // 3 rows of q (4 heads of 6) | k (2 heads of 6) | 5 more columns.
        let (rows, d, cols) = (3, 6, 4 * 6 + 2 * 6 + 5);
        let gamma = values(d, 7);
        for path in [SimdPath::V4, SimdPath::V3, SimdPath::Scalar] {
            if !path.is_available() {
                continue;
            }
            let mut got = values(rows * cols, 1);
            let mut want = got.clone();
            let mut scratch = vec![0.0; 4 * d];
            with_path(path, || {
                let mut x = MatMut::new(&mut got, rows, cols).unwrap();
                rms_norm_heads_inplace(&gamma, 1e-6, &mut x, 0, 4, &mut scratch).unwrap();
                rms_norm_heads_inplace(&gamma, 1e-6, &mut x, 4 * d, 2, &mut scratch).unwrap();
            })
            .unwrap();
            let mut x = MatMut::new(&mut want, rows, cols).unwrap();
            rms_norm_heads_inplace_ref(&gamma, 1e-6, &mut x, 0, 4).unwrap();
            rms_norm_heads_inplace_ref(&gamma, 1e-6, &mut x, 4 * d, 2).unwrap();
            // Measured 2.4e-7 (f32 kernel vs f64 twin); the tail columns must be untouched.
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| {
                    if a.is_nan() || b.is_nan() {
                        f32::INFINITY
                    } else {
                        (a - b).abs()
                    }
                })
                .fold(0.0, f32::max);
            assert!(worst < 1e-6, "{path:?}: max abs diff {worst}");
            for r in 0..rows {
                let tail = &got[r * cols + 6 * d..(r + 1) * cols];
                assert_eq!(
                    tail,
                    &values(rows * cols, 1)[r * cols + 6 * d..(r + 1) * cols]
                );
            }
        }
    }

    #[test]
    fn add_normed_adds_the_normalized_rows() {
        let (rows, c) = (3, 5);
        let gamma = values(c, 3);
        let x = values(rows * c, 4);
        let start = values(rows * c, 5);
        let mut residual = start.clone();
        let mut normed = vec![0.0; rows * c];
        let norm = Norm::Rms {
            gamma: &gamma,
            eps: 1e-6,
        };
        add_normed(
            &norm,
            MatRef::new(&x, rows, c).unwrap(),
            MatMut::new(&mut normed, rows, c).unwrap(),
            MatMut::new(&mut residual, rows, c).unwrap(),
        )
        .unwrap();
        let mut want = x.clone();
        rms_norm_heads_inplace_ref(
            &gamma,
            1e-6,
            &mut MatMut::new(&mut want, rows, c).unwrap(),
            0,
            1,
        )
        .unwrap();
        for i in 0..rows * c {
            let expect = start[i] + want[i];
            // Measured 4.8e-7 (f32 kernel vs the f64 twin).
            assert!(
                (residual[i] - expect).abs() < 1e-6,
                "{i}: {} vs {expect}",
                residual[i]
            );
        }
    }

    #[test]
    fn heads_that_do_not_fit_are_an_error() {
        let mut data = vec![0.0; 10];
        let mut x = MatMut::new(&mut data, 1, 10).unwrap();
        let mut scratch = vec![0.0; 16];
        let err = rms_norm_heads_inplace(&[1.0; 4], 1e-6, &mut x, 4, 2, &mut scratch);
        assert!(matches!(err, Err(OpsError::Shape { .. })));
        let mut short = vec![0.0; 3];
        let err = rms_norm_heads_inplace(&[1.0; 4], 1e-6, &mut x, 0, 1, &mut short);
        assert!(matches!(err, Err(OpsError::Shape { .. })));
    }
}
