//! Vectorized `exp`, `tanh` and `erf` over f32 slices, and the generic SIMD
//! building blocks (`exp_f32s`, `tanh_f32s`, `erf_f32s` and two cheaper exp
//! variants) that the activation and softmax kernels inline into their own
//! loops.
//!
//! Every approximation is branch-free (both sides of a piecewise formula are
//! computed and blended with a lane mask), so the same generic body runs on
//! every [`pulp::Simd`] path, including `pulp::Scalar`. Polynomial
//! coefficients are our own minimax (Remez exchange) fits, computed in f64 and
//! rounded to f32.
//!
//! # exp
//! `e^x = 2^n · e^r` with `n = round(x·log2 e)` (rounded by adding the
//! `1.5·2^23` shifter, so the integer `n` also sits in the low mantissa bits) and
//! `r = x − n·ln 2` evaluated with a two-constant Cody–Waite split of `ln 2`
//! (`|r| ≤ ln2/2`). `e^r` is a degree-6 minimax polynomial (truncation error
//! 3.9e-9 relative). The scale `2^(n−1)` is built by shifting `n + 126` into the
//! exponent field and applied by a float multiply, followed by a multiply by 2;
//! splitting the scale that way keeps every factor a normal number, so results
//! round correctly to +inf above `ln(f32::MAX) ≈ 88.72`. Below `x = −64` the split
//! is `2^(n+63) · 2^−63` instead, so results in the subnormal range
//! (`−103.97 < x < −87.34`) are rounded by the hardware multiply (gradual
//! underflow, not flushed) and `x ≤ −103.98` gives +0. NaN propagates,
//! `exp(−inf) = 0`, `exp(+inf) = +inf`.
//!
//! Measured error: 0.906 ulp over all f32 inputs with normal results
//! ([`EXP_MAX_ULP`] = 1); subnormal results carry one extra rounding (error ≤ one
//! subnormal step, 1.4e-45).
//!
//! Two crate-internal variants drop what their callers do not need (22 vector
//! ops for the full `exp_f32s`):
//! - `one_plus_exp_neg_for_logistic_f32s(x)` = `1 + e^{−x}` for SiLU
//!   (`x ≥ −87`): degree-5 polynomial (1.4e-7) after a one-constant reduction
//!   (`+|x|·2.8e-9` relative), one clamp (`x > 86.5` reads 86.5), no
//!   subnormal split, the `1 +` fused into the last multiply, 12 ops;
//! - `one_plus_exp2_for_logistic_f32s(s)` = `1 + 2^s` for GELU-tanh
//!   (`−125 < s = −2u·log2 e ≤ 126`, bounded by the caller, `log2 e` folded
//!   into the caller's constants, so no Cody–Waite reduction: `f = s −
//!   round(s)` is exact): a degree-4 polynomial in `f` (2.9e-6 relative), no
//!   clamp, 10 ops;
//! - `exp_nonpositive_f32s(d)`, for softmax's `d = x − max ≤ 0`: the degree-5
//!   polynomial (≤ 1.4e-7 + rounding) after a one-constant reduction
//!   (`r = d − n·ln2_f32`, adding `|d|·2.8e-9` relative error), results that
//!   would be subnormal flush to +0, `e^−inf = 0`, NaN propagates; 13 ops.
//!
//! # tanh
//! For `|x| < 0.625`: `x + x³·P(x²)`, `P` of degree 4 (odd minimax fit,
//! 2.5e-8 relative), so small arguments lose nothing to cancellation and
//! `tanh(x) = x` exactly for tiny `x` (denormals included). Otherwise
//! `sign(x)·(1 − 2/(1 + e^{2|x|}))` with `exp_f32s`; `e^{2|x|}` overflows to
//! +inf for large `|x|`, which saturates the result to exactly ±1. NaN propagates.
//! Measured error: 1.36 ulp over all f32 inputs ([`TANH_MAX_ULP`] = 1.5).
//!
//! # erf
//! For `|x| < 1`: `x + x·(P(x²) − 1)`, `P` of degree 6 (minimax, 1.2e-9 relative).
//! For `1 ≤ |x| < 3.93`: `erf = 1 − e^{−x²}·G(|x|)` where `G(t) = e^{t²}·erfc(t)`
//! is smooth and approximated by a degree-10 minimax polynomial in the centred
//! variable `t − 2.465` (1.2e-7 relative, i.e. ≤ 2e-8 absolute on erf). From
//! `|x| ≈ 3.92` on, `erf` rounds to ±1 in f32; the argument is clamped there.
//! Measured error: 1.33 ulp over all f32 inputs ([`ERF_MAX_ULP`] = 1.5).
//!
//! GELU-erf uses a faster crate-internal form instead,
//! `erf_frac_1_sqrt2_rational_f32s(x)` = `erf(x/√2)`: our own rational fit
//! `erf(t) ≈ t·P(t²)/Q(t²)` on `|t| ≤ 4`, `P` and `Q` of degree 5 (linearised
//! least squares with Lawson reweighting towards minimax; 2.5e-8 relative in
//! exact arithmetic, every coefficient positive so `Q ≥ 1` has no poles), with
//! `t = x/√2` folded into the coefficients (`P_k/(√2·2^k)`, `Q_k/2^k`; 15
//! vector ops) and the result clamped to [−1, 1]. Measured 5.32 ulp of
//! `erf(x/√2)` on a dense grid of `x` (bound [`ERF_HALF_RATIONAL_MAX_ULP`]).
//!
//! The public kernels validate lengths (`out.len() == x.len()`) and run above
//! [`PAR_MIN_LEN`] elements among the workers, in chunks that each re-enter the
//! SIMD context with the token chosen by the single dispatch of the call.

use crate::parallel::{Split, for_each_part_mut, plan_chunks};
use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::error::check_len;

/// Error bound of [`exp`] in ulp of the exact result, over every f32 input
/// with a normal result: measured 0.906 ulp over all 2^32 inputs
/// (`exhaustive_exp` in `tests/math.rs`; the dense-grid test checks it on
/// every path).
pub const EXP_MAX_ULP: f32 = 1.0;
/// Error bound of [`tanh`] in ulp of the exact result: measured 1.36 ulp over
/// all 2^32 inputs (`exhaustive_tanh` in `tests/math.rs`).
pub const TANH_MAX_ULP: f32 = 1.5;
/// Error bound of [`erf`] in ulp of the exact result: measured 1.33 ulp over
/// all 2^32 inputs (`exhaustive_erf` in `tests/math.rs`).
pub const ERF_MAX_ULP: f32 = 1.5;
/// Error bound, in ulp of `erf(x/√2)`, of the fast rational erf GELU-erf uses
/// (the `x/√2` scale folded into its coefficients): measured 5.32 ulp on a
/// dense grid of `x` (unit test below).
pub const ERF_HALF_RATIONAL_MAX_ULP: f32 = 5.5;

/// Inputs at least this long are split among the workers (when it has more
/// than one thread). Below it, one fused pass on the calling thread wins: the
/// kernels run at ~0.13–0.17 ns per element on one Zen 4 core, so 2^17
/// elements are ~20 µs of work against a few µs of fork/join on this VM.
/// (Provisional: the 2-core machine was saturated by other jobs while this was
/// measured, so 2-thread timings could not confirm the crossover.)
pub const PAR_MIN_LEN: usize = 1 << 17;

/// Elements per part for the elementwise kernels (a multiple of every
/// path's lane count; 64 KiB of f32 in, 64 KiB out: fits L2 with room).
const PAR_CHUNK: usize = 1 << 14;

// ---------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `1.5·2^23`: adding it rounds a float of magnitude < 2^22 to an integer and
/// leaves that integer in the low mantissa bits.
const ROUND_SHIFTER: f32 = 12_582_912.0;
/// High part of ln 2 (8 trailing zero bits, so `n·LN2_HI` is exact for |n| ≤ 2^8).
const LN2_HI: f32 = 0.693_145_75;
/// `ln 2 − LN2_HI`.
const LN2_LO: f32 = 1.428_606_8e-6;
/// Inputs above this give +inf (the polynomial path overflows correctly up to
/// here; clamping keeps `n` in range for the exponent arithmetic).
const EXP_CLAMP_HI: f32 = 89.0;
/// Inputs below this give +0 (`e^−104` is below half the smallest subnormal).
const EXP_CLAMP_LO: f32 = -104.0;
/// Below this the scale is split as `2^(n+63)·2^−63` to reach subnormals.
const EXP_SUBNORMAL_SPLIT: f32 = -64.0;
/// `e^r ≈ 1 + r + Σ_{k=2..6} C_k r^k` on `|r| ≤ ln2/2`, minimax (3.9e-9 rel).
const EXP_C: [f32; 5] = [
    0.5,
    0.166_665_03,
    0.041_666_374,
    0.008_370_562,
    0.001_394_141_3,
];

/// `e^x` on every lane. See the module docs for the method and error bound.
#[inline(always)]
pub(crate) fn exp_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    // Clamp with compare+select (not min/max) so NaN survives on every path.
    let x = simd.select_f32s(
        simd.less_than_f32s(x, simd.splat_f32s(EXP_CLAMP_LO)),
        simd.splat_f32s(EXP_CLAMP_LO),
        x,
    );
    let x = simd.select_f32s(
        simd.greater_than_f32s(x, simd.splat_f32s(EXP_CLAMP_HI)),
        simd.splat_f32s(EXP_CLAMP_HI),
        x,
    );
    let shifted = simd.mul_add_f32s(x, simd.splat_f32s(LOG2_E), simd.splat_f32s(ROUND_SHIFTER));
    let n = simd.sub_f32s(shifted, simd.splat_f32s(ROUND_SHIFTER));
    let r = simd.mul_add_f32s(n, simd.splat_f32s(-LN2_HI), x);
    let r = simd.mul_add_f32s(n, simd.splat_f32s(-LN2_LO), r);

    let p = exp_poly(simd, r);
    let subnormal = simd.less_than_f32s(x, simd.splat_f32s(EXP_SUBNORMAL_SPLIT));
    let bias = simd.select_u32s(subnormal, simd.splat_u32s(126 + 64), simd.splat_u32s(126));
    let scale = exp2_from_shifted(simd, shifted, bias);
    let scaled = simd.mul_f32s(p, scale);
    // 2^−63 and 2 are both exact.
    let fix = simd.select_f32s(
        subnormal,
        simd.splat_f32s(f32::from_bits(0x2000_0000)),
        simd.splat_f32s(2.0),
    );
    simd.mul_f32s(scaled, fix)
}

/// `e^r` on `|r| ≲ ln2/2` (the minimax polynomial, Horner).
#[inline(always)]
fn exp_poly<S: Simd>(simd: S, r: S::f32s) -> S::f32s {
    let mut p = simd.splat_f32s(EXP_C[4]);
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(EXP_C[3]));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(EXP_C[2]));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(EXP_C[1]));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(EXP_C[0]));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(1.0));
    simd.mul_add_f32s(p, r, simd.splat_f32s(1.0))
}

/// `2^(n + bias − 127)` from the shifter sum holding `n` in its low bits.
#[inline(always)]
fn exp2_from_shifted<S: Simd>(simd: S, shifted: S::f32s, bias: S::u32s) -> S::f32s {
    // bits(shifted) = 0x4B40_0000 + n; shifting left by 23 drops the constant
    // part entirely, so (bits + bias) << 23 = bits(2^(n + bias − 127)).
    let bits = simd.add_u32s(simd.transmute_u32s_f32s(shifted), bias);
    simd.transmute_f32s_u32s(simd.wrapping_dyn_shl_u32s(bits, simd.splat_u32s(23)))
}

/// `2·e^r ≈ 2 + 2r + Σ_{k=2..5} D_k r^k` on `|r| ≤ ln2/2`: a degree-5 minimax
/// fit (1.4e-7 relative), stored doubled so the result is `2·e^r` directly.
const LOGISTIC_EXP_C: [f32; 4] = [0.999_982_7, 0.333_329_1, 0.083_799_23, 0.016_749_759];

/// `2·2^f ≈ 2 + Σ_{k=1..4} B_k f^k` on `|f| ≤ 1/2`: our degree-4 fit of the
/// relative error (Lawson-reweighted least squares towards minimax, constant
/// term pinned to 2): 2.9e-6 relative, including the f32 rounding of the
/// coefficients (dense grid). Enough for GELU-tanh, whose absolute error it
/// scales by at most `max_x |x|·e/(1 + e)² ≈ 0.14` (≤ 4e-7).
const LOGISTIC_EXP2_C: [f32; 4] = [1.386_248_4, 0.480_482, 0.111_812_9, 0.019_165_691];
/// `2^(n + bias − 127)` from `shifted = y + (ROUND_SHIFTER + bias)`, which
/// holds `n + bias` (`n = round(y)`, `0 ≤ n + bias < 2^8`) in its low bits:
/// shifting left by 23 drops the constant part, so one shift builds the scale
/// (the bias is baked into the shifter instead of added as an integer).
#[inline(always)]
fn exp2_from_biased_shifted<S: Simd>(simd: S, shifted: S::f32s) -> S::f32s {
    simd.transmute_f32s_u32s(
        simd.wrapping_dyn_shl_u32s(simd.transmute_u32s_f32s(shifted), simd.splat_u32s(23)),
    )
}

/// `1 + 2^s` for the logistic forms `x / (1 + e^t)` with `s = t·log2 e`
/// (callers fold `log2 e` into their own constants, which saves the
/// Cody–Waite reduction: `f = s − round(s)` is exact). Relative error of
/// `2^s` ≤ 2.9e-6 (degree-4 polynomial) + rounding, plus the rounding of `s`
/// itself (`|s|·2^−24`, amplified like any error in the exponent). Requires
/// `−125 < s ≤ 126` (the caller bounds its argument; a NaN lane gives an
/// unspecified finite or NaN value: the numerator carries NaN). No clamp, no
/// subnormal split, and the `1 +` fused into the final multiply: 10 vector ops
/// (one of them an integer shift).
#[inline(always)]
pub(crate) fn one_plus_exp2_for_logistic_f32s<S: Simd>(simd: S, s: S::f32s) -> S::f32s {
    let shifted = simd.add_f32s(s, simd.splat_f32s(ROUND_SHIFTER + 126.0));
    let n = simd.sub_f32s(shifted, simd.splat_f32s(ROUND_SHIFTER + 126.0));
    let f = simd.sub_f32s(s, n);
    let mut p = simd.splat_f32s(LOGISTIC_EXP2_C[3]);
    p = simd.mul_add_f32s(p, f, simd.splat_f32s(LOGISTIC_EXP2_C[2]));
    p = simd.mul_add_f32s(p, f, simd.splat_f32s(LOGISTIC_EXP2_C[1]));
    p = simd.mul_add_f32s(p, f, simd.splat_f32s(LOGISTIC_EXP2_C[0]));
    let two_exp2_f = simd.mul_add_f32s(p, f, simd.splat_f32s(2.0));
    // 1 + 2·2^f · 2^(n−1), with n ≤ 126 so every factor is finite and normal.
    simd.mul_add_f32s(
        two_exp2_f,
        exp2_from_biased_shifted(simd, shifted),
        simd.splat_f32s(1.0),
    )
}

/// Upper clamp of [`one_plus_exp_neg_for_logistic_f32s`]'s argument: keeps
/// `2^(n−1)` normal (`e^−86.5` vanishes next to 1).
const LOGISTIC_NEG_HI: f32 = 86.5;

/// `1 + e^{−x}` for SiLU's `x / (1 + e^{−x})`, for `x ≥ −87` (or NaN, which
/// gives an unspecified value: the numerator carries NaN). Degree-5
/// polynomial (1.4e-7 relative + rounding) after a one-constant argument
/// reduction (adds `|x|·2.8e-9` relative, ≤ 2.4e-7 at the clamp), with the
/// negation folded into the constants (the polynomial is evaluated at
/// `−r`), one clamp (`x > 86.5` reads as 86.5) and the `1 +` fused into the
/// final multiply: 12 vector ops.
#[inline(always)]
pub(crate) fn one_plus_exp_neg_for_logistic_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x = simd.min_f32s(x, simd.splat_f32s(LOGISTIC_NEG_HI));
    let shifted = simd.mul_add_f32s(
        x,
        simd.splat_f32s(-LOG2_E),
        simd.splat_f32s(ROUND_SHIFTER + 126.0),
    );
    let n = simd.sub_f32s(shifted, simd.splat_f32s(ROUND_SHIFTER + 126.0));
    // m = −r = x + n·ln 2 (n ≈ −x·log2 e), one-constant reduction: off by
    // |n|·1.9e-9 ≤ |x|·2.8e-9 (relative error of e^{−x}; ≤ 2.4e-7 at |x| = 87).
    let m = simd.mul_add_f32s(n, simd.splat_f32s(std::f32::consts::LN_2), x);
    // 2·e^{−m}: the coefficients of odd powers change sign.
    let mut p = simd.splat_f32s(-LOGISTIC_EXP_C[3]);
    p = simd.mul_add_f32s(p, m, simd.splat_f32s(LOGISTIC_EXP_C[2]));
    p = simd.mul_add_f32s(p, m, simd.splat_f32s(-LOGISTIC_EXP_C[1]));
    p = simd.mul_add_f32s(p, m, simd.splat_f32s(LOGISTIC_EXP_C[0]));
    p = simd.mul_add_f32s(p, m, simd.splat_f32s(-2.0));
    let two_exp_r = simd.mul_add_f32s(p, m, simd.splat_f32s(2.0));
    simd.mul_add_f32s(
        two_exp_r,
        exp2_from_biased_shifted(simd, shifted),
        simd.splat_f32s(1.0),
    )
}

/// Below this, [`exp_nonpositive_f32s`] returns exactly 0.
const NONPOSITIVE_EXP_LO: f32 = -88.0;

/// `e^d` for `d ≤ 0` or NaN (softmax's `x − max`): degree-5 polynomial
/// (1.4e-7 relative + rounding) while the result is normal, `+0` once it would
/// be subnormal (`d < −87.34`: flushed, since it is then < 1.2e-38 of the
/// row's largest term), `e^−inf = 0` exactly, NaN propagates. 13 vector ops.
#[inline(always)]
pub(crate) fn exp_nonpositive_f32s<S: Simd>(simd: S, d: S::f32s) -> S::f32s {
    let lo = simd.splat_f32s(NONPOSITIVE_EXP_LO);
    let d = simd.select_f32s(simd.less_than_f32s(d, lo), lo, d);
    let shifted = simd.mul_add_f32s(
        d,
        simd.splat_f32s(LOG2_E),
        simd.splat_f32s(ROUND_SHIFTER + 127.0),
    );
    let n = simd.sub_f32s(shifted, simd.splat_f32s(ROUND_SHIFTER + 127.0));
    // One-constant reduction: `LN_2` is 1.9e-9 off ln 2, so `r` is off by
    // `|n|·1.9e-9 ≤ |d|·2.8e-9` (≤ 2.4e-7 at n = −127): 20× below the error
    // softmax already inherits from rounding `d = x − max` (`|d|·2^−24`).
    let r = simd.mul_add_f32s(n, simd.splat_f32s(-std::f32::consts::LN_2), d);
    // Degree 5 (the logistic variant's coefficients, halved back): 1.4e-7.
    let mut p = simd.splat_f32s(LOGISTIC_EXP_C[3] * 0.5);
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(LOGISTIC_EXP_C[2] * 0.5));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(LOGISTIC_EXP_C[1] * 0.5));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(LOGISTIC_EXP_C[0] * 0.5));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(1.0));
    p = simd.mul_add_f32s(p, r, simd.splat_f32s(1.0));
    // n ∈ [−127, 0]: n = −127 gives the bit pattern of +0, so the scale (and
    // the result) is exactly 0 there; otherwise 2^n is normal.
    simd.mul_f32s(p, exp2_from_biased_shifted(simd, shifted))
}

/// `e^−y` for `0 ≤ y ≤ 16` (no clamping or special values needed there):
/// the erf tail's Gaussian factor.
#[inline(always)]
fn exp_neg_bounded_f32s<S: Simd>(simd: S, y: S::f32s) -> S::f32s {
    let shifted = simd.mul_add_f32s(
        y,
        simd.splat_f32s(-LOG2_E),
        simd.splat_f32s(ROUND_SHIFTER + 127.0),
    );
    let n = simd.sub_f32s(shifted, simd.splat_f32s(ROUND_SHIFTER + 127.0));
    // r = −y − n·ln2, computed as −(y + n·ln2) folded into the constants.
    let minus_r = simd.mul_add_f32s(n, simd.splat_f32s(LN2_HI), y);
    let minus_r = simd.mul_add_f32s(n, simd.splat_f32s(LN2_LO), minus_r);
    let p = exp_poly(simd, simd.neg_f32s(minus_r));
    simd.mul_f32s(p, exp2_from_biased_shifted(simd, shifted))
}

// ---------------------------------------------------------------------------
// tanh
// ---------------------------------------------------------------------------

/// Below this `|x|` tanh uses the odd polynomial.
const TANH_POLY_CUT: f32 = 0.625;
/// `tanh(x) ≈ x + x³·Σ T_k x^(2k)` on `|x| ≤ 0.625`, minimax (2.5e-8 rel).
const TANH_C: [f32; 5] = [
    -0.333_333_3,
    0.133_330_55,
    -0.053_882_934,
    0.021_108_098,
    -0.006_215_633,
];

/// `tanh(x)` on every lane. See the module docs for the method and error bound.
#[inline(always)]
pub(crate) fn tanh_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    // Work on |x| and put the sign back at the end (tanh is odd), so ±0 and
    // tiny arguments keep their sign.
    let abs = simd.abs_f32s(x);
    let x2 = simd.mul_f32s(x, x);
    let mut p = simd.splat_f32s(TANH_C[4]);
    p = simd.mul_add_f32s(p, x2, simd.splat_f32s(TANH_C[3]));
    p = simd.mul_add_f32s(p, x2, simd.splat_f32s(TANH_C[2]));
    p = simd.mul_add_f32s(p, x2, simd.splat_f32s(TANH_C[1]));
    p = simd.mul_add_f32s(p, x2, simd.splat_f32s(TANH_C[0]));
    let small = simd.mul_add_f32s(simd.mul_f32s(p, x2), abs, abs);

    let e = exp_f32s(simd, simd.add_f32s(abs, abs));
    let two_over = simd.div_f32s(simd.splat_f32s(2.0), simd.add_f32s(e, simd.splat_f32s(1.0)));
    let large = simd.sub_f32s(simd.splat_f32s(1.0), two_over);

    // NaN compares false and takes the `large` side, which is NaN too.
    let magnitude = simd.select_f32s(
        simd.less_than_f32s(abs, simd.splat_f32s(TANH_POLY_CUT)),
        small,
        large,
    );
    simd.or_f32s(magnitude, simd.and_f32s(x, simd.splat_f32s(-0.0)))
}

// ---------------------------------------------------------------------------
// erf
// ---------------------------------------------------------------------------

/// `erf(x) ≈ x + x·Σ E_k x^(2k)` on `|x| ≤ 1`, minimax (1.2e-9 rel). The
/// leading coefficient is stored minus one so the dominant term `x` is exact.
const ERF_SMALL_C: [f32; 7] = [
    0.128_379_17,
    -0.376_126_26,
    0.112_835_854,
    -0.026_853_811,
    0.005_188_327_7,
    -0.000_801_019_25,
    7.853_858e-5,
];
/// Where erf switches from the odd polynomial to the erfc form.
const ERF_SMALL_CUT: f32 = 1.0;
/// From here on erf(x) rounds to 1 in f32 (erfc(3.93) ≈ 2.7e-8 < 2^-25).
const ERF_CLAMP: f32 = 3.93;
/// Centre of the erfc fit interval [1, 3.93].
const ERF_LARGE_MID: f32 = 2.465;
/// `e^{t²}·erfc(t) ≈ Σ G_k (t − 2.465)^k` on `1 ≤ t ≤ 3.93`, minimax (1.2e-7 rel).
const ERF_LARGE_C: [f32; 11] = [
    0.213_439_42,
    -0.076_123_04,
    0.025_796_551,
    -0.008_354_241,
    0.002_599_345_8,
    -0.000_784_373_9,
    0.000_226_647_23,
    -5.839_996_8e-5,
    1.639_758e-5,
    -6.860_894_7e-6,
    1.690_426_2e-6,
];

/// `erf(x)` on every lane. See the module docs for the method and error bound.
#[inline(always)]
pub(crate) fn erf_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x2 = simd.mul_f32s(x, x);
    let mut p = simd.splat_f32s(ERF_SMALL_C[6]);
    for &c in ERF_SMALL_C[..6].iter().rev() {
        p = simd.mul_add_f32s(p, x2, simd.splat_f32s(c));
    }
    let small = simd.mul_add_f32s(p, x, x);

    let abs = simd.abs_f32s(x);
    // min is fine here: a NaN lane takes the `small` side below.
    let t = simd.min_f32s(abs, simd.splat_f32s(ERF_CLAMP));
    let u = simd.sub_f32s(t, simd.splat_f32s(ERF_LARGE_MID));
    let mut g = simd.splat_f32s(ERF_LARGE_C[10]);
    for &c in ERF_LARGE_C[..10].iter().rev() {
        g = simd.mul_add_f32s(g, u, simd.splat_f32s(c));
    }
    let gauss = exp_neg_bounded_f32s(simd, simd.mul_f32s(t, t));
    let large_abs = simd.negate_mul_add_f32s(gauss, g, simd.splat_f32s(1.0));
    let large = simd.or_f32s(large_abs, simd.and_f32s(x, simd.splat_f32s(-0.0)));

    simd.select_f32s(
        simd.greater_than_or_equal_f32s(abs, simd.splat_f32s(ERF_SMALL_CUT)),
        large,
        small,
    )
}

/// End of the rational fit's interval (`x²` is clamped to its square: beyond
/// it `x·P/Q` grows past 1 and the final clamp returns ±1).
const ERF_RATIONAL_CLAMP: f32 = 4.0;
/// Numerator of `erf(x/√2) = x·P'(x²)/Q'(x²)`: the fit's `P_k / (√2·2^k)`
/// (fit `P` = 1.1283791, 0.1935463, 0.053101745, 0.0038833397, 0.0002845566,
/// 1.9866623e-6, rounded to f32 once more), so GELU-erf skips the `x/√2`
/// multiply.
const ERF_HALF_P: [f32; 6] = [
    0.797_884_5,
    0.068_428_95,
    0.009_387_151,
    0.000_343_242,
    1.257_574_3e-5,
    4.389_944_8e-8,
];
/// Denominator for `erf(x/√2)`: the fit's `Q_k / 2^k`, exact (fit `Q` = 1,
/// 0.5048585, 0.11535036, 0.0152072655, 0.0011855519, 3.7418416e-5).
const ERF_HALF_Q: [f32; 5] = [
    0.252_429_25,
    0.028_837_59,
    0.001_900_908_2,
    7.409_699e-5,
    1.169_325_5e-6,
];

/// `erf(x/√2)` on every lane (GELU-erf's `Φ(x) = (1 + erf(x/√2))/2`): the
/// rational fit of the module docs with `1/√2` folded into the coefficients,
/// 15 vector ops, at most [`ERF_HALF_RATIONAL_MAX_ULP`] ulp, never above 1 in
/// magnitude. A NaN lane gives an unspecified value: only for callers that
/// carry NaN through another operand (GELU-erf multiplies by `x`).
#[inline(always)]
pub(crate) fn erf_frac_1_sqrt2_rational_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    rational_erf_form(
        simd,
        x,
        &ERF_HALF_P,
        &ERF_HALF_Q,
        ERF_RATIONAL_CLAMP * std::f32::consts::SQRT_2,
    )
}

/// `clamp(x·P(s)/Q(s), −1, 1)` with `s = min(x², clamp²)`, `Q(0) = 1`.
#[inline(always)]
fn rational_erf_form<S: Simd>(
    simd: S,
    x: S::f32s,
    p_coef: &[f32; 6],
    q_coef: &[f32; 5],
    clamp: f32,
) -> S::f32s {
    let s = simd.mul_f32s(x, x);
    // min over i32 bit patterns = float min for s ≥ 0 (+inf and NaN read as
    // the clamp): an integer op, cheaper than the float one.
    let s = simd.transmute_f32s_i32s(simd.min_i32s(
        simd.transmute_i32s_f32s(s),
        simd.splat_i32s((clamp * clamp).to_bits() as i32),
    ));
    let mut p = simd.splat_f32s(p_coef[5]);
    for &c in p_coef[..5].iter().rev() {
        p = simd.mul_add_f32s(p, s, simd.splat_f32s(c));
    }
    let mut q = simd.splat_f32s(q_coef[4]);
    for &c in q_coef[..4].iter().rev() {
        q = simd.mul_add_f32s(q, s, simd.splat_f32s(c));
    }
    q = simd.mul_add_f32s(q, s, simd.splat_f32s(1.0));
    let rational = simd.div_f32s(simd.mul_f32s(x, p), q);
    // Clamp to [−1, 1]: saturates large |x| (and ±inf) and removes the ulp of
    // overshoot rounding can produce near saturation. Done on the bit
    // patterns with two integer mins (cheaper than float min/max): as i32,
    // positive floats order by magnitude and negative ones are below 1.0's
    // bits; as u32, negative floats order by magnitude above every positive
    // one. A NaN lane becomes ±1, which GELU does not mind: its NaN comes
    // through x.
    let bits = simd.min_i32s(
        simd.transmute_i32s_f32s(rational),
        simd.splat_i32s(1.0f32.to_bits() as i32),
    );
    let bits = simd.min_u32s(
        simd.transmute_u32s_i32s(bits),
        simd.splat_u32s((-1.0f32).to_bits()),
    );
    simd.transmute_f32s_u32s(bits)
}

// ---------------------------------------------------------------------------
// Elementwise drivers shared with `activation`
// ---------------------------------------------------------------------------

/// A lane-wise f32 → f32 function that the elementwise drivers map over slices.
pub(crate) trait LaneMap: Copy + Send + Sync {
    /// Applies the function to every lane of `x`.
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s;
}

/// Vectors per step of the elementwise loops.
const UNROLL: usize = 8;

/// `out[i] = op(x[i])` on the calling thread, `S` already chosen.
#[inline(always)]
fn map_seq<S: Simd, Op: LaneMap>(simd: S, op: Op, x: &[f32], out: &mut [f32]) {
    let (x_head, x_tail) = S::as_simd_f32s(x);
    let (out_head, out_tail) = S::as_mut_simd_f32s(out);
    // Eight independent vectors per step: each evaluation is one long dependency
    // chain, and interleaving chains keeps the FP pipes busy.
    let mut out_quads = out_head.chunks_exact_mut(UNROLL);
    let mut x_quads = x_head.chunks_exact(UNROLL);
    for (o, v) in (&mut out_quads).zip(&mut x_quads) {
        let y = apply_unrolled(simd, op, v);
        o.copy_from_slice(&y);
    }
    for (o, &v) in out_quads
        .into_remainder()
        .iter_mut()
        .zip(x_quads.remainder())
    {
        *o = op.apply(simd, v);
    }
    if !x_tail.is_empty() {
        simd.partial_store_f32s(out_tail, op.apply(simd, simd.partial_load_f32s(x_tail)));
    }
}

/// `op` on `UNROLL` vectors as independent chains (written out: a closure
/// would be compiled outside the SIMD target-feature context).
#[inline(always)]
fn apply_unrolled<S: Simd, Op: LaneMap>(simd: S, op: Op, v: &[S::f32s]) -> [S::f32s; UNROLL] {
    [
        op.apply(simd, v[0]),
        op.apply(simd, v[1]),
        op.apply(simd, v[2]),
        op.apply(simd, v[3]),
        op.apply(simd, v[4]),
        op.apply(simd, v[5]),
        op.apply(simd, v[6]),
        op.apply(simd, v[7]),
    ]
}

/// `data[i] = op(data[i])` on the calling thread, `S` already chosen.
#[inline(always)]
fn map_seq_inplace<S: Simd, Op: LaneMap>(simd: S, op: Op, data: &mut [f32]) {
    let (head, tail) = S::as_mut_simd_f32s(data);
    let mut quads = head.chunks_exact_mut(UNROLL);
    for v in &mut quads {
        let y = apply_unrolled(simd, op, v);
        v.copy_from_slice(&y);
    }
    for v in quads.into_remainder() {
        *v = op.apply(simd, *v);
    }
    if !tail.is_empty() {
        let v = simd.partial_load_f32s(tail);
        simd.partial_store_f32s(tail, op.apply(simd, v));
    }
}

/// How an elementwise pass over `len` elements is split among workers.
#[inline]
fn split(len: usize) -> Split {
    plan_chunks(len, PAR_CHUNK, PAR_MIN_LEN)
}

/// Out-of-place map: dispatches once, then runs on this thread or the workers.
struct MapInto<'a, Op> {
    op: Op,
    x: &'a [f32],
    out: &'a mut [f32],
}

impl<Op: LaneMap> WithSimd for MapInto<'_, Op> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self { op, x, out } = self;
        let split = split(x.len());
        if split.is_parallel() {
            for_each_part_mut(split, out, |r, out| {
                // Re-enter the target-feature context with the same token.
                simd.vectorize(MapInto { op, x: &x[r], out });
            });
        } else {
            map_seq(simd, op, x, out);
        }
    }
}

/// In-place map: dispatches once, then runs on this thread or the workers.
struct MapInPlace<'a, Op> {
    op: Op,
    data: &'a mut [f32],
}

impl<Op: LaneMap> WithSimd for MapInPlace<'_, Op> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self { op, data } = self;
        let split = split(data.len());
        if split.is_parallel() {
            for_each_part_mut(split, data, |_, data| {
                simd.vectorize(MapInPlace { op, data });
            });
        } else {
            map_seq_inplace(simd, op, data);
        }
    }
}

/// Checks lengths and computes `out[i] = op(x[i])` (one dispatch).
pub(crate) fn map_into<Op: LaneMap>(
    op_name: &'static str,
    op: Op,
    x: &[f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_len(op_name, "out", x.len(), out.len())?;
    dispatch(MapInto { op, x, out });
    Ok(())
}

/// Computes `data[i] = op(data[i])` (one dispatch).
pub(crate) fn map_inplace<Op: LaneMap>(op: Op, data: &mut [f32]) {
    dispatch(MapInPlace { op, data });
}

/// Scalar oracle driver: checks lengths, then `out[i] = f(x[i])`.
pub(crate) fn map_ref(
    op_name: &'static str,
    x: &[f32],
    out: &mut [f32],
    f: impl Fn(f32) -> f32,
) -> Result<(), KernelError> {
    check_len(op_name, "out", x.len(), out.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Exp;
impl LaneMap for Exp {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
        exp_f32s(simd, x)
    }
}

#[derive(Clone, Copy)]
struct Tanh;
impl LaneMap for Tanh {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
        tanh_f32s(simd, x)
    }
}

#[derive(Clone, Copy)]
struct Erf;
impl LaneMap for Erf {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
        erf_f32s(simd, x)
    }
}

// ---------------------------------------------------------------------------
// Public kernels and their scalar oracles
// ---------------------------------------------------------------------------

/// `out[i] = e^x[i]`, within [`EXP_MAX_ULP`] ulp (see the module docs).
///
/// Errors with [`KernelError::LengthMismatch`] unless `out.len() == x.len()`.
pub fn exp(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_into("exp", Exp, x, out)
}

/// Scalar oracle for [`exp`]: f64 `exp` rounded to f32.
pub fn exp_ref(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_ref("exp_ref", x, out, |v| f64::from(v).exp() as f32)
}

/// `out[i] = tanh(x[i])`, within [`TANH_MAX_ULP`] ulp (see the module docs).
///
/// Errors with [`KernelError::LengthMismatch`] unless `out.len() == x.len()`.
pub fn tanh(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_into("tanh", Tanh, x, out)
}

/// Scalar oracle for [`tanh`]: f64 `tanh` rounded to f32.
pub fn tanh_ref(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_ref("tanh_ref", x, out, |v| f64::from(v).tanh() as f32)
}

/// `out[i] = erf(x[i])`, within [`ERF_MAX_ULP`] ulp (see the module docs).
///
/// Errors with [`KernelError::LengthMismatch`] unless `out.len() == x.len()`.
pub fn erf(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_into("erf", Erf, x, out)
}

/// Scalar oracle for [`erf`]: [`erf_f64`] rounded to f32.
pub fn erf_ref(x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    map_ref("erf_ref", x, out, |v| erf_f64(f64::from(v)) as f32)
}

/// `erf(x)` in f64, accurate to a few f64 ulp: the all-positive series
/// `erf(x) = 2/√π · e^{−x²} · Σ_{n≥0} 2^n x^{2n+1} / (1·3·…·(2n+1))`
/// (Abramowitz & Stegun 7.1.6), summed until the terms stop mattering, for
/// `|x| < 6`; `±1` beyond (`erfc(6) ≈ 2e-17`). NaN propagates.
pub fn erf_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 6.0 {
        return 1.0f64.copysign(x);
    }
    let a2 = a * a;
    let mut term = a;
    let mut sum = a;
    let mut n = 0.0;
    while term > sum * 1e-18 {
        n += 1.0;
        term *= 2.0 * a2 / (2.0 * n + 1.0);
        sum += term;
    }
    let value = 2.0 / std::f64::consts::PI.sqrt() * (-a2).exp() * sum;
    value.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{available_paths, with_path};

    /// Runs `erf_frac_1_sqrt2_rational_f32s` over a slice.
    #[derive(Clone, Copy)]
    struct ErfHalfRational;
    impl LaneMap for ErfHalfRational {
        #[inline(always)]
        fn apply<S: Simd>(self, simd: S, x: S::f32s) -> S::f32s {
            erf_frac_1_sqrt2_rational_f32s(simd, x)
        }
    }

    #[test]
    fn half_rational_erf_error_bound_on_dense_grid() {
        let mut x = Vec::new();
        let mut bits = 1e-30f32.to_bits();
        while bits <= 9.0f32.to_bits() {
            x.push(f32::from_bits(bits));
            x.push(-f32::from_bits(bits));
            bits += 61;
        }
        x.extend([f32::INFINITY, f32::NEG_INFINITY, 1e30]);
        let mut out = vec![0.0; x.len()];
        for path in available_paths() {
            with_path(path, || {
                map_into("erf_half_rational", ErfHalfRational, &x, &mut out).unwrap()
            })
            .unwrap();
            let mut worst = (0.0, 0.0);
            for (&xi, &yi) in x.iter().zip(&out) {
                let want = erf_f64(f64::from(xi) / std::f64::consts::SQRT_2);
                let err = (f64::from(yi) - want).abs() / ulp_of(want);
                assert!(yi.abs() <= 1.0, "{path}: |erf({xi}/√2)| = {yi} > 1");
                if err > worst.0 {
                    worst = (err, xi);
                }
            }
            println!(
                "erf_half_rational {path}: max {:.3} ulp at {}",
                worst.0, worst.1
            );
            assert!(
                worst.0 <= f64::from(ERF_HALF_RATIONAL_MAX_ULP),
                "{path}: {worst:?}"
            );
        }
    }

    fn ulp_of(v: f64) -> f64 {
        let a = v.abs().max(f64::from(f32::MIN_POSITIVE));
        2f64.powi(a.log2().floor() as i32 - 23)
    }
}
