//! Row normalizations: LayerNorm and RMSNorm over the last dimension.
//!
//! `x` and `out` are `(rows, row_len)` row-major with `row_len = gamma.len()`;
//! each row is normalized independently.
//!
//! - **LayerNorm** (Ba, Kiros & Hinton 2016; PyTorch `layer_norm`):
//!   `out = (x − μ) / √(σ² + eps) · γ + β`, with `μ` the row mean and `σ²` the
//!   *biased* variance `Σ(x − μ)² / row_len`; `eps` inside the square root.
//! - **RMSNorm** (Zhang & Sennrich 2019; HF `LlamaRMSNorm`):
//!   `out = x / √(mean(x²) + eps) · γ`.
//!
//! # Numerical stability
//! The naive `E[x²] − E[x]²` cancels catastrophically when `|μ| ≫ σ` (a row of
//! `1000 + N(0,1)` loses every significant digit of σ² in f32). LayerNorm uses
//! shifted sums instead (Chan, Golub & LeVeque 1983), which are exact in
//! exact arithmetic for any shift `K` and accurate when `K` is near `μ`:
//! 1. with `K = x[0]` (a sample of the row, typically within a few σ of `μ`),
//!    one pass computes `d = Σ(x − K)` and `q = Σ(x − K)²` (four SIMD
//!    accumulators each); then `μ = K + d/n` and `σ² = q/n − (d/n)²`. The
//!    relative error of σ² is about `u · (q/n)/σ²`, so when
//!    `q/n > 8σ²` (the first element was an outlier more than ~2.6σ from the
//!    mean) a second pass repeats the sums shifted by the mean just found,
//!    whose error is then a few ulp;
//! 2. `out = (((x − K) − d/n) · r) · γ + β` with `r = 1/√(σ² + eps)`: the mean
//!    stays the unevaluated sum `K + d/n`, since rounding it to one f32 would
//!    cost up to half an ulp of `|μ|` in every output (`3e-5·σ` at `μ = 1000`);
//!    `x − K` is exact (Sterbenz) for values near the offset.
//!
//! Each row is thus read two times (rarely three), from L1 after the first.
//! The error is a few ulp of the result relative to the row's spread,
//! independent of the offset `|μ|` (for offsets up to ~`σ·2²⁴`, where the input
//! itself no longer resolves σ). A constant row gives `d = q = 0` and
//! `out = β` exactly. RMSNorm needs no such care: its sum of squares has only
//! positive terms.
//!
//! # Threads
//! Inputs of at least [`NORM_PARALLEL_MIN_LEN`] elements are split by rows
//! across rayon tasks (the SIMD token chosen once is moved into each task);
//! each row is computed by one task, so the result does not depend on the split.
//!
//! Non-finite inputs propagate: a NaN or ±inf in a row makes that whole row
//! NaN (its mean/variance are NaN), other rows are unaffected.

use crate::parallel::{for_each_part_mut, plan_chunks};
use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::error::check_len;

/// Checks the `(rows, row_len)` layout of `x` and `out`; returns `rows`.
fn check_rows(
    op: &'static str,
    x: &[f32],
    row_len: usize,
    out: &[f32],
) -> Result<usize, KernelError> {
    check_len(op, "out", x.len(), out.len())?;
    if row_len == 0 {
        if x.is_empty() {
            return Ok(0);
        }
        return Err(KernelError::InvalidDimension {
            op,
            dim: "row_len (gamma.len())",
            value: 0,
            reason: "is zero but x is not empty",
        });
    }
    if !x.len().is_multiple_of(row_len) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "row_len (gamma.len())",
            value: row_len,
            reason: "does not divide x.len()",
        });
    }
    Ok(x.len() / row_len)
}

/// (Σ(x − shift), Σ(x − shift)²), four accumulators each. The tail is done
/// one element at a time: zero padding would contribute `−shift`.
#[inline(always)]
fn row_shifted_moments<S: Simd>(simd: S, x: &[f32], shift: f32) -> (f32, f32) {
    let (head, tail) = S::as_simd_f32s(x);
    let (x4, x1) = pulp::as_arrays::<4, _>(head);
    let shift_v = simd.splat_f32s(shift);
    let zero = simd.splat_f32s(0.0);
    let mut sum = [zero; 4];
    let mut sq = [zero; 4];
    for x in x4 {
        for k in 0..4 {
            let d = simd.sub_f32s(x[k], shift_v);
            sum[k] = simd.add_f32s(sum[k], d);
            sq[k] = simd.mul_add_e_f32s(d, d, sq[k]);
        }
    }
    for &x in x1 {
        let d = simd.sub_f32s(x, shift_v);
        sum[0] = simd.add_f32s(sum[0], d);
        sq[0] = simd.mul_add_e_f32s(d, d, sq[0]);
    }
    let add4 =
        |v: [S::f32s; 4]| simd.add_f32s(simd.add_f32s(v[0], v[1]), simd.add_f32s(v[2], v[3]));
    let mut sum = simd.reduce_sum_f32s(add4(sum));
    let mut sq = simd.reduce_sum_f32s(add4(sq));
    for &x in tail {
        let d = x - shift;
        sum += d;
        sq += d * d;
    }
    (sum, sq)
}

/// Σ x², four FMA accumulators (zero padding in the tail is harmless).
#[inline(always)]
fn row_sum_squares<S: Simd>(simd: S, x: &[f32]) -> f32 {
    let (head, tail) = S::as_simd_f32s(x);
    let (x4, x1) = pulp::as_arrays::<4, _>(head);
    let mut acc = [simd.splat_f32s(0.0); 4];
    for x in x4 {
        for k in 0..4 {
            acc[k] = simd.mul_add_e_f32s(x[k], x[k], acc[k]);
        }
    }
    for &x in x1 {
        acc[0] = simd.mul_add_e_f32s(x, x, acc[0]);
    }
    let t = simd.partial_load_f32s(tail);
    acc[1] = simd.mul_add_e_f32s(t, t, acc[1]);
    simd.reduce_sum_f32s(
        simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3])),
    )
}

/// `out = (((x − mean_hi) − mean_lo) · rstd) · gamma + beta`.
///
/// The mean is passed as an unevaluated sum `mean_hi + mean_lo`: rounding it to
/// one f32 would cost up to half an ulp of `|μ|`, i.e. `3e-5·σ` for a row of
/// `1000 + N(0, 1)`. `x − mean_hi` is exact (Sterbenz) for the values near the
/// mean that carry the information.
#[inline(always)]
fn row_affine<S: Simd>(
    simd: S,
    x: &[f32],
    (mean_hi, mean_lo): (f32, f32),
    rstd: f32,
    gamma: &[f32],
    beta: &[f32],
    out: &mut [f32],
) {
    let hi = simd.splat_f32s(mean_hi);
    let lo = simd.splat_f32s(mean_lo);
    let rstd_v = simd.splat_f32s(rstd);
    let (x_head, x_tail) = S::as_simd_f32s(x);
    let (g_head, g_tail) = S::as_simd_f32s(gamma);
    let (b_head, b_tail) = S::as_simd_f32s(beta);
    let (o_head, o_tail) = S::as_mut_simd_f32s(out);
    let f = |x, g, b| {
        let centered = simd.sub_f32s(simd.sub_f32s(x, hi), lo);
        simd.mul_add_e_f32s(simd.mul_f32s(centered, rstd_v), g, b)
    };
    for (((o, &x), &g), &b) in o_head.iter_mut().zip(x_head).zip(g_head).zip(b_head) {
        *o = f(x, g, b);
    }
    if !o_tail.is_empty() {
        let v = f(
            simd.partial_load_f32s(x_tail),
            simd.partial_load_f32s(g_tail),
            simd.partial_load_f32s(b_tail),
        );
        simd.partial_store_f32s(o_tail, v);
    }
}

/// `out = (x · scale) · gamma`.
#[inline(always)]
fn row_scale<S: Simd>(simd: S, x: &[f32], scale: f32, gamma: &[f32], out: &mut [f32]) {
    let scale_v = simd.splat_f32s(scale);
    let (x_head, x_tail) = S::as_simd_f32s(x);
    let (g_head, g_tail) = S::as_simd_f32s(gamma);
    let (o_head, o_tail) = S::as_mut_simd_f32s(out);
    for ((o, &x), &g) in o_head.iter_mut().zip(x_head).zip(g_head) {
        *o = simd.mul_f32s(simd.mul_f32s(x, scale_v), g);
    }
    if !o_tail.is_empty() {
        let x = simd.partial_load_f32s(x_tail);
        let g = simd.partial_load_f32s(g_tail);
        simd.partial_store_f32s(o_tail, simd.mul_f32s(simd.mul_f32s(x, scale_v), g));
    }
}

/// Row mean as an unevaluated sum `hi + lo`, and the biased variance, of one
/// non-empty row (see the module docs).
#[inline(always)]
fn row_mean_var<S: Simd>(simd: S, x: &[f32]) -> ((f32, f32), f32) {
    // Divisions (not a reciprocal multiply) keep a constant row exact: there
    // `d = 0` and `(x − hi) − lo = 0`, so every output is exactly `β`.
    let n = x.len() as f32;
    let shift = x[0];
    let (d, q) = row_shifted_moments(simd, x, shift);
    let lo = d / n;
    let var = q / n - lo * lo;
    // The relative error of `var` is about `u·(q/n)/var`: fine while the shift
    // is within a few σ of the mean, which a sample of the row usually is.
    if q / n <= MAX_SHIFT_CANCELLATION * var {
        return ((shift, lo), var);
    }
    // The first element was an outlier (or the row is not finite): one more
    // pass, shifted by the mean now known to a few ulp.
    let hi = shift + lo;
    let (d, q) = row_shifted_moments(simd, x, hi);
    let lo = d / n;
    ((hi, lo), (q / n - lo * lo).max(0.0))
}

/// Accepted loss in the one-pass variance, `(q/n) / σ²`: up to ~3 bits.
const MAX_SHIFT_CANCELLATION: f32 = 8.0;

/// Rows of at least this many elements in total (4 Mi, 16 MiB) are split
/// among workers.
///
/// Measured on Zen 4, 2 cores (`SMALL_TUNE_PAIRED=1 cargo bench -p
/// smallmind-kernels --bench small_tune`, min of 25 paired runs): K-norm
/// 1024×512 LayerNorm takes 43 µs on one thread and 51 µs split (waking the
/// second worker costs more than half the rows save); at 8192×512 both are
/// memory-bound at about the speed of a copy and the split changed the time by
/// −6% to +5% across runs. Splitting is kept for larger inputs, where a free
/// second core can add bandwidth.
pub const NORM_PARALLEL_MIN_LEN: usize = 1 << 22;

/// Rows per part (times the row length, at least this many elements).
const NORM_TASK_MIN_LEN: usize = 1 << 15;

/// A per-row normalisation: maps one input row to one output row of the same
/// length, with its parameters (γ, β, eps) captured.
trait RowNorm: Copy + Send + Sync {
    /// Normalises `x` into `out` (both `row_len` long) with the chosen `S`.
    fn row<S: Simd>(self, simd: S, x: &[f32], out: &mut [f32]);
}

/// LayerNorm parameters (see the module docs).
#[derive(Clone, Copy)]
struct LayerNorm<'a> {
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl RowNorm for LayerNorm<'_> {
    #[inline(always)]
    fn row<S: Simd>(self, simd: S, x: &[f32], out: &mut [f32]) {
        let (mean, var) = row_mean_var(simd, x);
        let rstd = 1.0 / (var + self.eps).sqrt();
        row_affine(simd, x, mean, rstd, self.gamma, self.beta, out);
    }
}

/// RMSNorm parameters (see the module docs).
#[derive(Clone, Copy)]
struct RmsNorm<'a> {
    gamma: &'a [f32],
    eps: f32,
}

impl RowNorm for RmsNorm<'_> {
    #[inline(always)]
    fn row<S: Simd>(self, simd: S, x: &[f32], out: &mut [f32]) {
        let mean_square = row_sum_squares(simd, x) / x.len() as f32;
        let scale = 1.0 / (mean_square + self.eps).sqrt();
        row_scale(simd, x, scale, self.gamma, out);
    }
}

/// Applies `norm` to every `(row_len)` row of `x` into `out`, split among
/// workers when `split` (each task re-enters SIMD with the same token).
struct Rows<'a, N> {
    norm: N,
    row_len: usize,
    x: &'a [f32],
    out: &'a mut [f32],
    split: bool,
}

impl<N: RowNorm> WithSimd for Rows<'_, N> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            norm,
            row_len,
            x,
            out,
            split,
        } = self;
        if split {
            let chunk = NORM_TASK_MIN_LEN.div_ceil(row_len) * row_len;
            let parts = plan_chunks(x.len(), chunk, NORM_PARALLEL_MIN_LEN);
            if parts.is_parallel() {
                for_each_part_mut(parts, out, |r, out| {
                    simd.vectorize(Rows {
                        norm,
                        row_len,
                        x: &x[r],
                        out,
                        split: false,
                    });
                });
                return;
            }
        }
        for (x, out) in x.chunks_exact(row_len).zip(out.chunks_exact_mut(row_len)) {
            norm.row(simd, x, out);
        }
    }
}

/// Whether `len` elements of rows are worth splitting across threads.
fn split_rows(len: usize) -> bool {
    len >= NORM_PARALLEL_MIN_LEN && crate::parallel::available_workers() > 1
}

/// LayerNorm of each row of `x`, `(rows, row_len)` with `row_len = gamma.len()`,
/// into `out` (same shape): `(x − μ)/√(σ² + eps)·γ + β`, biased variance.
///
/// Errors: `LengthMismatch` if `beta` differs from `gamma` in length or `out`
/// from `x`; `InvalidDimension` if `gamma.len()` does not divide `x.len()`
/// (or is zero while `x` is not empty). Zero rows is fine.
pub fn layer_norm_rows(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_len("layer_norm_rows", "beta", gamma.len(), beta.len())?;
    if check_rows("layer_norm_rows", x, gamma.len(), out)? == 0 {
        return Ok(());
    }
    dispatch(Rows {
        norm: LayerNorm { gamma, beta, eps },
        row_len: gamma.len(),
        x,
        out,
        split: split_rows(x.len()),
    });
    Ok(())
}

/// Scalar twin of [`layer_norm_rows`]: textbook two-pass mean and variance in
/// f64, then the affine map, rounded once.
pub fn layer_norm_rows_ref(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_len("layer_norm_rows", "beta", gamma.len(), beta.len())?;
    if check_rows("layer_norm_rows", x, gamma.len(), out)? == 0 {
        return Ok(());
    }
    let n = gamma.len();
    for (x, out) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = x
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let rstd = 1.0 / (var + f64::from(eps)).sqrt();
        for (((o, &v), &g), &b) in out.iter_mut().zip(x).zip(gamma).zip(beta) {
            *o = ((f64::from(v) - mean) * rstd * f64::from(g) + f64::from(b)) as f32;
        }
    }
    Ok(())
}

/// RMSNorm of each row of `x`, `(rows, row_len)` with `row_len = gamma.len()`,
/// into `out` (same shape): `x/√(mean(x²) + eps)·γ` (HF `LlamaRMSNorm`).
///
/// Errors: `LengthMismatch` if `out` differs from `x` in length;
/// `InvalidDimension` if `gamma.len()` does not divide `x.len()` (or is zero
/// while `x` is not empty).
pub fn rms_norm_rows(
    x: &[f32],
    gamma: &[f32],
    eps: f32,
    out: &mut [f32],
) -> Result<(), KernelError> {
    if check_rows("rms_norm_rows", x, gamma.len(), out)? == 0 {
        return Ok(());
    }
    dispatch(Rows {
        norm: RmsNorm { gamma, eps },
        row_len: gamma.len(),
        x,
        out,
        split: split_rows(x.len()),
    });
    Ok(())
}

/// Scalar twin of [`rms_norm_rows`], in f64, rounded once.
pub fn rms_norm_rows_ref(
    x: &[f32],
    gamma: &[f32],
    eps: f32,
    out: &mut [f32],
) -> Result<(), KernelError> {
    if check_rows("rms_norm_rows", x, gamma.len(), out)? == 0 {
        return Ok(());
    }
    let n = gamma.len();
    for (x, out) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let mean_square = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n as f64;
        let scale = 1.0 / (mean_square + f64::from(eps)).sqrt();
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(gamma) {
            *o = (f64::from(v) * scale * f64::from(g)) as f32;
        }
    }
    Ok(())
}
