//! Backward of the GELU between the MLP's two layers.
//!
//! `gelu(x) = ½·x·(1 + tanh u)`, `u = √(2/π)·(x + 0.044715·x³)` (HF
//! `gelu_new`), so
//! `gelu'(x) = ½·(1 + tanh u) + ½·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)`.

use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 4096;

/// `√(2/π)`.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation.
const GELU_CUBIC: f32 = 0.044_715;

/// `d[i] *= gelu'(x[i])`: turns `∂L/∂gelu(x)` into `∂L/∂x`, both `(N, F)`.
pub(super) fn gelu_backward(x: &[f32], d: &mut [f32]) {
    d.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(d, x)| {
            for (d, &x) in d.iter_mut().zip(x) {
                *d *= gelu_tanh_grad(x);
            }
        });
}

/// `gelu'(x)` for the tanh form.
#[inline]
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
}
