//! Backward of the GELU between the MLP's two layers.
//!
//! `gelu(x) = ½·x·(1 + tanh u)`, `u = √(2/π)·(x + 0.044715·x³)` (HF
//! `gelu_new`), so
//! `gelu'(x) = ½·(1 + tanh u) + ½·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)`.

use rayon::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::math::tanh;

/// Elements per rayon task.
const CHUNK: usize = 4096;
/// Elements whose `tanh u` is evaluated in one kernel call (stack buffers).
const BLOCK: usize = 512;

/// `√(2/π)`.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation.
const GELU_CUBIC: f32 = 0.044_715;

/// `d[i] *= gelu'(x[i])`: turns `∂L/∂gelu(x)` into `∂L/∂x`, both `(N, F)`.
///
/// `tanh u` comes from the SIMD kernel ([`tanh`], ≤ 1.5 ulp) a block at a
/// time; the rest of the formula is plain element-wise arithmetic, which
/// the compiler vectorizes.
pub(super) fn gelu_backward(x: &[f32], d: &mut [f32]) -> Result<(), KernelError> {
    d.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .try_for_each(|(d, x)| {
            let (mut u, mut th) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
            for (d, x) in d.chunks_mut(BLOCK).zip(x.chunks(BLOCK)) {
                let (u, th) = (&mut u[..x.len()], &mut th[..x.len()]);
                for (u, &x) in u.iter_mut().zip(x) {
                    *u = SQRT_2_OVER_PI * x * (1.0 + GELU_CUBIC * x * x);
                }
                tanh(u, th)?;
                for ((d, &x), &th) in d.iter_mut().zip(x).zip(th.iter()) {
                    *d *= gelu_grad_from_tanh(x, th);
                }
            }
            Ok(())
        })
}

/// `gelu'(x)` given `th = tanh u(x)`.
#[inline(always)]
fn gelu_grad_from_tanh(x: f32, th: f32) -> f32 {
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
    0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du
}

/// `gelu'(x)` for the tanh form, one element (the scalar twin of
/// [`gelu_backward`]).
#[cfg(test)]
fn gelu_tanh_grad(x: f32) -> f32 {
    let x2 = x * x;
    let u = SQRT_2_OVER_PI * x * (1.0 + GELU_CUBIC * x2);
    let th = u.tanh();
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x2);
    0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gelu_f64(x: f64) -> f64 {
        let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
        0.5 * x * (1.0 + u.tanh())
    }

    #[test]
    fn derivative_matches_central_differences() {
        for i in -80..=80 {
            let x = f64::from(i) * 0.1;
            let h = 1e-5;
            let fd = (gelu_f64(x + h) - gelu_f64(x - h)) / (2.0 * h);
            let ours = f64::from(gelu_tanh_grad(x as f32));
            assert!((ours - fd).abs() < 2e-6, "x={x}: {ours} vs {fd}");
        }
    }

    #[test]
    fn blocked_simd_path_matches_the_scalar_formula() {
        let x: Vec<f32> = (0..5000).map(|i| (i as f32 - 2500.0) * 0.004).collect();
        let mut d = vec![1.0f32; x.len()];
        gelu_backward(&x, &mut d).unwrap();
        for (&x, &d) in x.iter().zip(&d) {
            assert!((d - gelu_tanh_grad(x)).abs() < 1e-6, "x={x}");
        }
    }
}
