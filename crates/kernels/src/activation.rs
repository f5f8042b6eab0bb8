//! GELU (tanh and erf forms) and SiLU over f32 slices, out of place and in place.
//!
//! Each kernel is one fused pass: load, evaluate, store, with the transcendental
//! inlined from [`crate::math`]; no temporaries and no second pass, so small
//! inputs pay no overhead beyond the single dispatch (long inputs are split
//! among the workers above [`crate::math::PAR_MIN_LEN`] elements).
//!
//! # Formulas
//! - `gelu_tanh` (GPT-2 "gelu_new", Hendrycks & Gimpel 2016):
//!   `0.5·x·(1 + tanh(u))`, `u = √(2/π)·(x + 0.044715·x³)`, evaluated in the
//!   equivalent logistic form `x / (1 + e^{−2u})`, which has no cancellation for
//!   negative `x` and costs one `exp`. In the negative tail the relative error
//!   is about `|2u|·2^−24` (the rounding of `u` amplified by `e^{−2u}`) plus
//!   2.9e-6 (the degree-4 `2^f` of the exp), i.e. ≤ 1.2e-5 (measured 1.1e-5)
//!   down to `x = −10`, below which the result (< 2e-37) flushes to 0.
//!   Measured against the PyTorch f64 fixture on `[−8, 8]`: 4.8e-7 absolute
//!   (half an ulp at |x| ≈ 8; `GELU_TANH_FIXTURE_ABS_TOL` = 1e-6 in
//!   `tests/activation.rs`).
//! - `gelu_erf` (exact GELU): `0.5·x·(1 + erf(x/√2))` with the fast rational
//!   erf of [`crate::math`], its `1/√2` folded into the coefficients (≤ 5.5
//!   ulp of `erf(x/√2)`, 15 vector ops; the public `erf` is the 1.5-ulp one);
//!   absolute error ≤ `|x|/2 · 5.5 ulp(1)` (≤ 1e-6 on [−8, 8], erf saturating
//!   from `|x| = 5.66`; measured 7.1e-7 as `|a−b|/max(1,|b|)` against the
//!   PyTorch fixture;
//!   `GELU_ERF_VS_REF_TOL` against the f64 twin), relative a few ulp for
//!   `x > −1` (for very negative `x` the result is tiny and `1 + erf` cancels,
//!   so only the absolute bound holds; from `x < −5.66` the result is exactly 0).
//! - `silu` (swish, Ramachandran et al. 2017): `x·σ(x) = x / (1 + e^{−x})`,
//!   relative error a few ulp for `x ≥ −87`; below, the result (< 1.4e-36)
//!   flushes to 0.
//!
//! GELU-tanh evaluates `1 + e^{−2u}` as `1 + 2^{−2u·log2 e}`, with `log2 e`
//! folded into its constants (no Cody–Waite reduction), SiLU keeps the exact
//! argument reduction of `e^{−x}` (its relative accuracy would otherwise
//! degrade with `|x|`); both fuse the `1 +` into the exp's last multiply.
//! The GELU flush below −10, GELU-tanh's clamp of the exponent's argument to
//! `x ≤ 9.5` (where `e^{−2u} < 2^−110`; the result is `x` in f32) and the
//! rational erf's clamps work on the bit patterns with integer ops, which issue more cheaply than float
//! compares and min/max (the loop is bound by its float ops and the
//! division: `vrcp14ps` plus a Newton step measured slower than `vdivps`).
//!
//! Special values: NaN propagates; `gelu(+inf) = silu(+inf) = +inf`;
//! `gelu(−inf)` and `silu(−inf)` are zero (inputs below −10 resp. −87, where
//! the true result is below 2e-37 resp. 1.4e-36, give 0, so `−inf` cannot
//! form `−inf/inf`).

use pulp::Simd;

use crate::KernelError;
use crate::math::{
    LaneMap, erf_f64, erf_frac_1_sqrt2_rational_f32s, map_inplace, map_into, map_ref,
    one_plus_exp_neg_for_logistic_f32s, one_plus_exp2_for_logistic_f32s,
};

/// `√(2/π)`.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// `log2 e` (folded into the exponent constants).
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// GPT-2's cubic coefficient.
const GELU_CUBIC: f32 = 0.044_715;
/// Below this `gelu_*(x)` returns 0: `|gelu_tanh(x)| < 2e-37` there (and
/// GELU-erf is exactly 0 from −5.66 on anyway); above it the logistic
/// exponent `−2u·log2 e` stays ≤ 126, as the exp requires. Flushing also
/// avoids `−inf/inf`.
const GELU_FLUSH_BELOW: f32 = -10.0;
/// Below this `silu(x)` returns 0: `|silu(x)| < 1.4e-36` there; above it the
/// exponent `−x·log2 e` stays ≤ 126.
const SILU_FLUSH_BELOW: f32 = -87.0;

/// Replaces lanes below `lo` with 0; NaN lanes stay NaN.
#[inline(always)]
fn flush_below<S: Simd>(simd: S, x: S::f32s, lo: f32) -> S::f32s {
    let lo = simd.splat_f32s(lo);
    simd.select_f32s(simd.less_than_f32s(x, lo), simd.splat_f32s(0.0), x)
}

/// Bits of [`GELU_FLUSH_BELOW`] plus one: `bits(x) − this` (wrapping) is at
/// most [`GELU_FLUSH_SPAN`] exactly for `−inf ≤ x < −10`, i.e. the negative
/// floats of larger magnitude, not the negative-signed NaNs above `−inf`.
const GELU_FLUSH_BITS: u32 = GELU_FLUSH_BELOW.to_bits() + 1;
/// `bits(−inf) − GELU_FLUSH_BITS`.
const GELU_FLUSH_SPAN: u32 = f32::NEG_INFINITY.to_bits() - GELU_FLUSH_BITS;
/// Replaces lanes with `x < −10` (−inf included) by 0, with integer ops on
/// the bit patterns; NaN lanes (of either sign) stay NaN.
#[inline(always)]
fn flush_below_minus_ten<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let bits = simd.transmute_u32s_f32s(x);
    let below = simd.less_than_or_equal_u32s(
        simd.sub_u32s(bits, simd.splat_u32s(GELU_FLUSH_BITS)),
        simd.splat_u32s(GELU_FLUSH_SPAN),
    );
    simd.select_f32s(below, simd.splat_f32s(0.0), x)
}

/// Upper clamp of the logistic exponent's argument in GELU-tanh: from here on
/// `e^{−2u} < 2^−110` and the result is `x` in f32 anyway; keeps the
/// exponent `−2u·log2 e` above −125, as the exp requires.
const GELU_TANH_ARG_HI: f32 = 9.5;

/// GELU, tanh form, in logistic form `x / (1 + e^{−2u})`. The flush below −10
/// and the clamp of the exponent's argument to ≤ 9.5 act on the bit patterns
/// with integer ops (cheaper than float compares and min/max): for floats of
/// one sign, integer order is magnitude order.
#[inline(always)]
pub(crate) fn gelu_tanh_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x = flush_below_minus_ten(simd, x);
    // min over i32 bit patterns: positive floats compare by magnitude (+inf
    // and +NaN read as 9.5; NaN still reaches the numerator), negative floats
    // are negative integers and stay as they are.
    let arg = simd.transmute_f32s_i32s(simd.min_i32s(
        simd.transmute_i32s_f32s(x),
        simd.splat_i32s(GELU_TANH_ARG_HI.to_bits() as i32),
    ));
    let arg2 = simd.mul_f32s(arg, arg);
    // −2u·log2 e = arg·(−2√(2/π)·log2 e − 2√(2/π)·0.044715·log2 e·arg²)
    let inner = simd.mul_add_f32s(
        arg2,
        simd.splat_f32s(-2.0 * SQRT_2_OVER_PI * GELU_CUBIC * LOG2_E),
        simd.splat_f32s(-2.0 * SQRT_2_OVER_PI * LOG2_E),
    );
    let den = one_plus_exp2_for_logistic_f32s(simd, simd.mul_f32s(arg, inner));
    simd.div_f32s(x, den)
}

/// GELU, erf form: `0.5·x + 0.5·x·erf(x/√2)`.
#[inline(always)]
pub(crate) fn gelu_erf_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x = flush_below_minus_ten(simd, x);
    let half_x = simd.mul_f32s(x, simd.splat_f32s(0.5));
    let erf = erf_frac_1_sqrt2_rational_f32s(simd, x);
    simd.mul_add_f32s(half_x, erf, half_x)
}

/// SiLU: `x / (1 + e^{−x})`.
#[inline(always)]
pub(crate) fn silu_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x = flush_below(simd, x, SILU_FLUSH_BELOW);
    let den = one_plus_exp_neg_for_logistic_f32s(simd, x);
    simd.div_f32s(x, den)
}

#[derive(Clone, Copy)]
struct GeluTanh;
impl LaneMap for GeluTanh {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
        gelu_tanh_f32s(simd, x)
    }
}

#[derive(Clone, Copy)]
struct GeluErf;
impl LaneMap for GeluErf {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
        gelu_erf_f32s(simd, x)
    }
}

#[derive(Clone, Copy)]
struct Silu;
impl LaneMap for Silu {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
        silu_f32s(simd, x)
    }
}

/// `out[i] = gelu_tanh(x[i])` (GPT-2 "gelu_new").
///
/// Errors with [`KernelError::LengthMismatch`] unless `out.len() == x.len()`.
pub fn gelu_tanh(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_into("gelu_tanh", GeluTanh, x, out)
}

/// In-place [`gelu_tanh`].
pub fn gelu_tanh_inplace(x: &mut [f32]) {
    map_inplace(GeluTanh, x);
}

/// Scalar oracle for [`gelu_tanh`]: the formula in f64, in the logistic form
/// `x / (1 + e^{−2u})` (identical to `0.5·x·(1 + tanh u)`, without f64's own
/// cancellation in `1 + tanh u` for very negative `x`).
pub fn gelu_tanh_ref(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_ref("gelu_tanh_ref", x, out, gelu_tanh_f64)
}

/// Scalar oracle for [`gelu_tanh_inplace`].
pub fn gelu_tanh_inplace_ref(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = gelu_tanh_f64(*v));
}

/// `out[i] = gelu(x[i]) = x·Φ(x)` (exact GELU, erf form).
///
/// Errors with [`KernelError::LengthMismatch`] unless `out.len() == x.len()`.
pub fn gelu_erf(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_into("gelu_erf", GeluErf, x, out)
}

/// In-place [`gelu_erf`].
pub fn gelu_erf_inplace(x: &mut [f32]) {
    map_inplace(GeluErf, x);
}

/// Scalar oracle for [`gelu_erf`]: `0.5·x·(1 + erf(x/√2))` in f64.
pub fn gelu_erf_ref(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_ref("gelu_erf_ref", x, out, gelu_erf_f64)
}

/// Scalar oracle for [`gelu_erf_inplace`].
pub fn gelu_erf_inplace_ref(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = gelu_erf_f64(*v));
}

/// `out[i] = silu(x[i]) = x·sigmoid(x)`.
///
/// Errors with [`KernelError::LengthMismatch`] unless `out.len() == x.len()`.
pub fn silu(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_into("silu", Silu, x, out)
}

/// In-place [`silu`].
pub fn silu_inplace(x: &mut [f32]) {
    map_inplace(Silu, x);
}

/// Scalar oracle for [`silu`]: `x / (1 + e^{−x})` in f64.
pub fn silu_ref(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_ref("silu_ref", x, out, silu_f64)
}

/// Scalar oracle for [`silu_inplace`].
pub fn silu_inplace_ref(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = silu_f64(*v));
}

fn gelu_tanh_f64(x: f32) -> f32 {
    let x = f64::from(x);
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044_715 * x * x * x);
    (x / (1.0 + (-2.0 * u).exp())) as f32
}

fn gelu_erf_f64(x: f32) -> f32 {
    let x = f64::from(x);
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    (0.5 * x * (1.0 + erf_f64(x / std::f64::consts::SQRT_2))) as f32
}

fn silu_f64(x: f32) -> f32 {
    let x = f64::from(x);
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    (x / (1.0 + (-x).exp())) as f32
}
