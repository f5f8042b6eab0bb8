//! AdamW and gradient clipping over flat parameter buffers.
//!
//! [`AdamW`] follows `torch.optim.AdamW` (Loshchilov & Hutter, "Decoupled
//! Weight Decay Regularization", 2019) in its single-tensor form, operation
//! for operation in `f32`, so one step reproduces PyTorch to rounding. For
//! step `t` (counted from 1), learning rate `lr`, gradient `g`:
//!
//! ```text
//! p ← p · (1 − lr·wd)                       (decoupled weight decay, first)
//! m ← m + (1 − β1)·(g − m)                  (torch's lerp)
//! v ← β2·v + (1 − β2)·g·g
//! p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
//! ```
//!
//! The scalars (`1 − lr·wd`, the bias corrections, the step size) are
//! computed in `f64` and rounded once to `f32`, as PyTorch does with its
//! Python-float hyperparameters. Weight decay applies to every parameter
//! (one parameter group, like the fixture and llm.c's reference).
//!
//! Parameters, gradients and both moments are flat buffers in the same
//! [`crate::ParamLayout`]. A step allocates nothing: the update is a plain
//! element-wise loop the compiler vectorizes, split into fixed chunks over
//! rayon for large models. Each element's update is independent, so the
//! result does not depend on the thread count.
//!
//! [`clip_grad_norm`] rescales the gradients to a maximal global L2 norm
//! like `torch.nn.utils.clip_grad_norm_` (norm accumulated in `f64`,
//! sequentially, so it is deterministic).

use rayon::prelude::*;

use crate::error::{Result, check_len};

/// Elements per rayon task in [`AdamW::step`]; smaller buffers run on the
/// calling thread.
const PAR_CHUNK: usize = 1 << 16;

/// The term torch adds to the norm in the clip coefficient
/// `max_norm / (norm + 1e-6)`.
pub const CLIP_NORM_EPS: f64 = 1e-6;

/// Default β1 (PyTorch's).
pub const DEFAULT_BETA1: f32 = 0.9;
/// Default β2 (PyTorch's).
pub const DEFAULT_BETA2: f32 = 0.999;
/// Default eps (PyTorch's).
pub const DEFAULT_EPS: f32 = 1e-8;
/// Default decoupled weight decay (PyTorch's AdamW default).
pub const DEFAULT_WEIGHT_DECAY: f32 = 0.01;

/// The AdamW optimizer: hyperparameters and its state (both moments, the
/// step count) for one flat parameter buffer.
#[derive(Clone, Debug)]
pub struct AdamW {
    /// The base learning rate (schedules scale from it; [`AdamW::step`]
    /// takes the rate of the current step explicitly).
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator for stability.
    pub eps: f32,
    /// Decoupled weight decay, applied as `p ← p·(1 − lr·wd)`.
    pub weight_decay: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    step: u64,
}

/// The per-step scalars, computed once in `f64` and rounded to `f32`.
#[derive(Clone, Copy, Debug)]
struct StepScalars {
    decay: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
}

impl AdamW {
    /// A fresh optimizer (zero moments, step 0) for `len` parameters with
    /// the given base learning rate and PyTorch's default β1, β2, eps and
    /// weight decay.
    pub fn new(len: usize, lr: f32) -> Self {
        AdamW {
            lr,
            beta1: DEFAULT_BETA1,
            beta2: DEFAULT_BETA2,
            eps: DEFAULT_EPS,
            weight_decay: DEFAULT_WEIGHT_DECAY,
            m: vec![0.0; len],
            v: vec![0.0; len],
            step: 0,
        }
    }

    /// Sets β1 and β2.
    pub fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets eps.
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the decoupled weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Steps taken so far (the `t` of the last update).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The first moment `m`, in the parameter layout.
    pub fn m(&self) -> &[f32] {
        &self.m
    }

    /// The second moment `v`, in the parameter layout.
    pub fn v(&self) -> &[f32] {
        &self.v
    }

    /// Number of parameters the state covers.
    pub fn len(&self) -> usize {
        self.m.len()
    }

    /// True for an optimizer over no parameters.
    pub fn is_empty(&self) -> bool {
        self.m.is_empty()
    }

    /// Replaces the state (e.g. from a checkpoint): both moments and the
    /// step count.
    ///
    /// # Errors
    /// [`TrainError::ShapeMismatch`](crate::TrainError::ShapeMismatch) if a moment's length differs from the
    /// optimizer's.
    pub fn restore(&mut self, m: Vec<f32>, v: Vec<f32>, step: u64) -> Result<()> {
        check_len("AdamW first moment m", self.len(), m.len())?;
        check_len("AdamW second moment v", self.len(), v.len())?;
        self.m = m;
        self.v = v;
        self.step = step;
        Ok(())
    }

    /// One AdamW update of `params` with `grads` at learning rate `lr`
    /// (see the module docs for the formula). Allocates nothing.
    ///
    /// # Errors
    /// [`TrainError::ShapeMismatch`](crate::TrainError::ShapeMismatch) if `params` or `grads` differ in length
    /// from the optimizer state; nothing is updated then.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) -> Result<()> {
        check_len("AdamW parameters", self.len(), params.len())?;
        check_len("AdamW gradients", self.len(), grads.len())?;
        self.step += 1;
        let scalars = self.scalars(lr);
        if params.len() <= PAR_CHUNK {
            update(params, grads, &mut self.m, &mut self.v, scalars);
            return Ok(());
        }
        params
            .par_chunks_mut(PAR_CHUNK)
            .zip(grads.par_chunks(PAR_CHUNK))
            .zip(self.m.par_chunks_mut(PAR_CHUNK))
            .zip(self.v.par_chunks_mut(PAR_CHUNK))
            .for_each(|(((p, g), m), v)| update(p, g, m, v, scalars));
        Ok(())
    }

    /// The scalars of step `self.step` at rate `lr`, as PyTorch forms them.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn scalars(&self, lr: f32) -> StepScalars {
        let lr = f64::from(lr);
        let (beta1, beta2) = (f64::from(self.beta1), f64::from(self.beta2));
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let bias_correction1 = 1.0 - beta1.powi(t);
        let bias_correction2 = 1.0 - beta2.powi(t);
        StepScalars {
            decay: (1.0 - lr * f64::from(self.weight_decay)) as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: self.beta2,
            one_minus_beta2: (1.0 - beta2) as f32,
            step_size: (lr / bias_correction1) as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            eps: self.eps,
        }
    }
}

/// The element-wise AdamW update of one chunk (all slices the same length).
#[inline]
fn update(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], s: StepScalars) {
    let n = params.len();
    let (grads, m, v) = (&grads[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let g = grads[i];
        let p = params[i] * s.decay;
        let m_new = m[i] + s.one_minus_beta1 * (g - m[i]);
        let v_new = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
        let denom = v_new.sqrt() / s.bias_correction2_sqrt + s.eps;
        params[i] = p + -s.step_size * m_new / denom;
        m[i] = m_new;
        v[i] = v_new;
    }
}

/// The global L2 norm of `grads`, accumulated in `f64` (sequentially, so
/// the result is deterministic).
pub fn grad_norm(grads: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let mut chunks = grads.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &g) in acc.iter_mut().zip(chunk) {
            let g = f64::from(g);
            *a += g * g;
        }
    }
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&g| f64::from(g) * f64::from(g))
        .sum();
    (acc.iter().sum::<f64>() + tail).sqrt()
}

/// Scales `grads` so their global L2 norm is at most `max_norm`, like
/// `torch.nn.utils.clip_grad_norm_`: the coefficient is
/// `max_norm / (norm + 1e-6)`, applied only when below 1. Returns the norm
/// before clipping (as `f32`).
///
/// A non-finite norm (a NaN or infinite gradient) is returned as is and the
/// gradients are left untouched, so the caller can skip the step; torch
/// would instead scale everything by NaN or 0.
#[allow(clippy::cast_possible_truncation)]
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> f32 {
    let norm = grad_norm(grads);
    if !norm.is_finite() {
        return norm as f32;
    }
    let coef = f64::from(max_norm) / (norm + CLIP_NORM_EPS);
    if coef < 1.0 {
        let coef = coef as f32;
        grads.iter_mut().for_each(|g| *g *= coef);
    }
    norm as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_mismatch_is_an_error_and_changes_nothing() {
        let mut opt = AdamW::new(4, 1e-3);
        let mut params = [1.0f32; 3];
        let err = opt.step(&mut params, &[0.5; 3], 1e-3).unwrap_err();
        assert!(err.to_string().contains("AdamW parameters"), "{err}");
        assert_eq!(opt.step_count(), 0);
        assert_eq!(params, [1.0; 3]);
    }

    #[test]
    fn clip_leaves_small_gradients_alone() {
        let mut g = [3.0f32, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 10.0), 5.0);
        assert_eq!(g, [3.0, 4.0]);
    }

    #[test]
    fn clip_scales_large_gradients() {
        let mut g = [3.0f32, 4.0];
        let norm = clip_grad_norm(&mut g, 1.0);
        assert_eq!(norm, 5.0);
        let after = grad_norm(&g);
        assert!((after - 1.0).abs() < 1e-6, "{after}");
    }

    #[test]
    fn clip_reports_nan_without_touching() {
        let mut g = [f32::NAN, 1.0];
        assert!(clip_grad_norm(&mut g, 1.0).is_nan());
        assert_eq!(g[1], 1.0);
    }
}
