//! Conformance suite for `smallmind_kernels::math` (exp, tanh, erf) on every SIMD path.
//!
//! The documented error bounds (`EXP_MAX_ULP`, ...) are measured here on a dense
//! grid of f32 bit patterns against f64 references; `exhaustive_*` tests
//! (ignored by default, ~1 min each) sweep every f32.

mod common;

use common::{Rng, edge_lengths, for_each_path};
use proptest::prelude::*;
use smallmind_kernels::math::{self, ERF_MAX_ULP, EXP_MAX_ULP, TANH_MAX_ULP};
use smallmind_kernels::{KernelError, SimdPath};

/// Kernel vs `_ref` (both rounded to f32): the documented bound plus the
/// half ulp the reference's own rounding may add.
const EXP_VS_REF_ULP: f64 = EXP_MAX_ULP as f64 + 0.5;
const TANH_VS_REF_ULP: f64 = TANH_MAX_ULP as f64 + 0.5;
const ERF_VS_REF_ULP: f64 = ERF_MAX_ULP as f64 + 0.5;
/// Absolute floor below which differences are ignored for subnormal results
/// of exp (they carry one extra rounding: at most one subnormal step).
const EXP_SUBNORMAL_ABS_TOL: f64 = 1.5e-45;

type Kernel = fn(&[f32], &mut [f32]) -> Result<(), KernelError>;

/// Spacing of f32 values around `v` (subnormal spacing below the normal range).
fn f32_ulp(v: f64) -> f64 {
    let a = v.abs();
    if a < f64::from(f32::MIN_POSITIVE) {
        return 2f64.powi(-149);
    }
    let e = a.log2().floor() as i32;
    2f64.powi(e - 23)
}

/// Error of `got` against the exact `want`, in ulp of `want` (0 if both agree
/// on NaN/inf, infinite if only one is special).
fn ulp_err(got: f32, want: f64) -> f64 {
    if got.is_nan() || want.is_nan() {
        return if got.is_nan() && want.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let want32 = want as f32;
    if want32.is_infinite() || got.is_infinite() {
        return if got == want32 { 0.0 } else { f64::INFINITY };
    }
    (f64::from(got) - want).abs() / f32_ulp(want)
}

/// Runs `kernel` on a grid of f32 bit patterns from `lo` to `hi` (both signs'
/// magnitudes covered by the caller) and returns the worst ulp error and where.
fn grid_max_ulp(
    kernel: Kernel,
    exact: fn(f64) -> f64,
    inputs: &[f32],
    skip_subnormal_out: bool,
) -> (f64, f32) {
    let mut out = vec![0.0; inputs.len()];
    kernel(inputs, &mut out).unwrap();
    let mut worst = (0.0, 0.0);
    for (&x, &y) in inputs.iter().zip(&out) {
        let want = exact(f64::from(x));
        if skip_subnormal_out && want.abs() < f64::from(f32::MIN_POSITIVE) {
            assert!(
                (f64::from(y) - want).abs() <= EXP_SUBNORMAL_ABS_TOL,
                "x={x}: got {y}, want {want}"
            );
            continue;
        }
        let e = ulp_err(y, want);
        if e > worst.0 {
            worst = (e, x);
        }
    }
    worst
}

/// Every `stride`-th positive f32 bit pattern with magnitude in [lo, hi], and
/// its negation.
fn bit_grid(lo: f32, hi: f32, stride: u32) -> Vec<f32> {
    let mut v = Vec::new();
    let mut bits = lo.to_bits();
    while bits <= hi.to_bits() {
        let x = f32::from_bits(bits);
        v.push(x);
        v.push(-x);
        bits += stride;
    }
    v
}

fn exact_exp(x: f64) -> f64 {
    x.exp()
}
fn exact_tanh(x: f64) -> f64 {
    x.tanh()
}
fn exact_erf(x: f64) -> f64 {
    math::erf_f64(x)
}

#[test]
fn exp_error_bound_on_dense_grid() {
    let inputs = bit_grid(1e-30, 104.0, 211);
    for_each_path(|path| {
        let (err, at) = grid_max_ulp(math::exp, exact_exp, &inputs, true);
        println!("exp {path}: max {err:.3} ulp at x = {at}");
        assert!(
            err <= f64::from(EXP_MAX_ULP),
            "{path}: exp error {err} ulp at {at}"
        );
    });
}

#[test]
fn tanh_error_bound_on_dense_grid() {
    let inputs = bit_grid(1e-40, 12.0, 211);
    for_each_path(|path| {
        let (err, at) = grid_max_ulp(math::tanh, exact_tanh, &inputs, false);
        println!("tanh {path}: max {err:.3} ulp at x = {at}");
        assert!(
            err <= f64::from(TANH_MAX_ULP),
            "{path}: tanh error {err} ulp at {at}"
        );
    });
}

#[test]
fn erf_error_bound_on_dense_grid() {
    let inputs = bit_grid(1e-40, 6.0, 211);
    for_each_path(|path| {
        let (err, at) = grid_max_ulp(math::erf, exact_erf, &inputs, false);
        println!("erf {path}: max {err:.3} ulp at x = {at}");
        assert!(
            err <= f64::from(ERF_MAX_ULP),
            "{path}: erf error {err} ulp at {at}"
        );
    });
}

/// Every f32 (both signs), best path only. `cargo test --release --test math -- --ignored`.
fn exhaustive(kernel: Kernel, exact: fn(f64) -> f64, bound: f32, skip_subnormal_out: bool) {
    let mut worst = (0.0, 0.0);
    let chunk = 1u32 << 22;
    for start in (0..=u32::MAX - (chunk - 1)).step_by(chunk as usize) {
        let inputs: Vec<f32> = (start..=start + (chunk - 1)).map(f32::from_bits).collect();
        let w = grid_max_ulp(kernel, exact, &inputs, skip_subnormal_out);
        if w.0 > worst.0 {
            worst = w;
        }
    }
    println!("max {:.3} ulp at x = {}", worst.0, worst.1);
    assert!(worst.0 <= f64::from(bound));
}

#[test]
#[ignore = "sweeps all 2^32 inputs"]
fn exhaustive_exp() {
    exhaustive(math::exp, exact_exp, EXP_MAX_ULP, true);
}

#[test]
#[ignore = "sweeps all 2^32 inputs"]
fn exhaustive_tanh() {
    exhaustive(math::tanh, exact_tanh, TANH_MAX_ULP, false);
}

#[test]
#[ignore = "sweeps all 2^32 inputs"]
fn exhaustive_erf() {
    exhaustive(math::erf, exact_erf, ERF_MAX_ULP, false);
}

/// Kernel vs `_ref` on edge lengths, random inputs in ±`scale`.
fn check_vs_ref(kernel: Kernel, reference: Kernel, scale: f32, tol_ulp: f64) {
    for_each_path(|path| {
        for len in edge_lengths() {
            let x = Rng::new(len as u64 + 1).vec(len, scale);
            let mut got = vec![f32::NAN; len];
            let mut want = vec![f32::NAN; len];
            kernel(&x, &mut got).unwrap();
            reference(&x, &mut want).unwrap();
            for i in 0..len {
                let e = ulp_err(got[i], f64::from(want[i]));
                let tiny = (f64::from(got[i]) - f64::from(want[i])).abs() <= EXP_SUBNORMAL_ABS_TOL;
                assert!(
                    e <= tol_ulp || tiny,
                    "{path} len {len} i {i}: x={} got {} want {}",
                    x[i],
                    got[i],
                    want[i]
                );
            }
        }
    });
}

#[test]
fn inputs_above_the_parallel_threshold_match_ref() {
    let len = 2 * math::PAR_MIN_LEN + 5;
    let x = Rng::new(17).vec(len, 20.0);
    for (kernel, reference, tol) in [
        (math::exp as Kernel, math::exp_ref as Kernel, EXP_VS_REF_ULP),
        (math::tanh, math::tanh_ref, TANH_VS_REF_ULP),
        (math::erf, math::erf_ref, ERF_VS_REF_ULP),
    ] {
        let mut want = vec![0.0; len];
        reference(&x, &mut want).unwrap();
        for_each_path(|path| {
            let mut got = vec![f32::NAN; len];
            kernel(&x, &mut got).unwrap();
            for i in 0..len {
                assert!(
                    ulp_err(got[i], f64::from(want[i])) <= tol,
                    "{path} i {i}: x={}",
                    x[i]
                );
            }
        });
    }
}

#[test]
fn exp_matches_ref_on_edge_lengths() {
    check_vs_ref(math::exp, math::exp_ref, 100.0, EXP_VS_REF_ULP);
}

#[test]
fn tanh_matches_ref_on_edge_lengths() {
    check_vs_ref(math::tanh, math::tanh_ref, 6.0, TANH_VS_REF_ULP);
}

#[test]
fn erf_matches_ref_on_edge_lengths() {
    check_vs_ref(math::erf, math::erf_ref, 4.5, ERF_VS_REF_ULP);
}

/// Runs `kernel` on single values at every position of a 37-long vector so
/// both the SIMD body and the tail see them.
fn special(kernel: Kernel, x: f32) -> Vec<f32> {
    let mut v = vec![0.5f32; 37];
    let mut results = Vec::new();
    for pos in [0, 15, 16, 36] {
        v[pos] = x;
        let mut out = vec![0.0; v.len()];
        kernel(&v, &mut out).unwrap();
        results.push(out[pos]);
        v[pos] = 0.5;
    }
    results
}

fn assert_special(kernel: Kernel, x: f32, want: f32, path: SimdPath) {
    for got in special(kernel, x) {
        let ok = if want.is_nan() {
            got.is_nan()
        } else {
            got == want && got.is_sign_negative() == want.is_sign_negative()
        };
        assert!(ok, "{path}: f({x:e}) = {got:e}, want {want:e}");
    }
}

#[test]
fn exp_special_values() {
    for_each_path(|path| {
        assert_special(math::exp, f32::NAN, f32::NAN, path);
        assert_special(math::exp, f32::NEG_INFINITY, 0.0, path);
        assert_special(math::exp, f32::INFINITY, f32::INFINITY, path);
        assert_special(math::exp, 88.73, f32::INFINITY, path);
        assert_special(math::exp, 1000.0, f32::INFINITY, path);
        assert_special(math::exp, -1000.0, 0.0, path);
        assert_special(math::exp, -104.0, 0.0, path);
        assert_special(math::exp, 0.0, 1.0, path);
        assert_special(math::exp, -0.0, 1.0, path);
        assert_special(math::exp, f32::from_bits(1), 1.0, path); // denormal input
        assert_special(math::exp, -f32::from_bits(1), 1.0, path);
        // Largest finite result and the smallest subnormal are reached.
        for got in special(math::exp, 88.72283) {
            assert!(got.is_finite() && got > 3.4e38, "{path}: {got}");
        }
        for got in special(math::exp, -103.2) {
            assert!(
                got > 0.0 && got < f32::MIN_POSITIVE,
                "{path}: exp(-103.2) = {got:e} should be subnormal"
            );
        }
    });
}

#[test]
fn tanh_special_values() {
    for_each_path(|path| {
        assert_special(math::tanh, f32::NAN, f32::NAN, path);
        assert_special(math::tanh, f32::INFINITY, 1.0, path);
        assert_special(math::tanh, f32::NEG_INFINITY, -1.0, path);
        assert_special(math::tanh, 20.0, 1.0, path);
        assert_special(math::tanh, -1e30, -1.0, path);
        assert_special(math::tanh, 0.0, 0.0, path);
        assert_special(math::tanh, -0.0, -0.0, path);
        let d = f32::from_bits(3);
        assert_special(math::tanh, d, d, path);
        assert_special(math::tanh, -d, -d, path);
        assert_special(math::tanh, 1e-20, 1e-20, path);
    });
}

#[test]
fn erf_special_values() {
    for_each_path(|path| {
        assert_special(math::erf, f32::NAN, f32::NAN, path);
        assert_special(math::erf, f32::INFINITY, 1.0, path);
        assert_special(math::erf, f32::NEG_INFINITY, -1.0, path);
        assert_special(math::erf, 1e30, 1.0, path);
        assert_special(math::erf, 0.0, 0.0, path);
        assert_special(math::erf, -0.0, -0.0, path);
        let d = f32::from_bits(1000);
        let want = (std::f64::consts::FRAC_2_SQRT_PI * f64::from(d)) as f32;
        assert_special(math::erf, d, want, path);
        assert_special(math::erf, -d, -want, path);
    });
}

#[test]
fn length_mismatch_is_an_error() {
    let kernels: [(Kernel, &str); 6] = [
        (math::exp, "exp"),
        (math::exp_ref, "exp_ref"),
        (math::tanh, "tanh"),
        (math::tanh_ref, "tanh_ref"),
        (math::erf, "erf"),
        (math::erf_ref, "erf_ref"),
    ];
    for_each_path(|_| {
        for (kernel, name) in kernels {
            let x = [1.0f32; 5];
            let mut out = [0.0f32; 4];
            assert_eq!(
                kernel(&x, &mut out),
                Err(KernelError::LengthMismatch {
                    op: name,
                    operand: "out",
                    expected: 5,
                    actual: 4
                })
            );
        }
    });
}

#[test]
fn empty_input_is_fine() {
    for_each_path(|_| {
        for kernel in [math::exp as Kernel, math::tanh, math::erf] {
            kernel(&[], &mut []).unwrap();
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn exp_tanh_erf_match_ref(x in prop::collection::vec(-110.0f32..110.0, 0..300)) {
        for (kernel, reference, tol) in [
            (math::exp as Kernel, math::exp_ref as Kernel, EXP_VS_REF_ULP),
            (math::tanh, math::tanh_ref, TANH_VS_REF_ULP),
            (math::erf, math::erf_ref, ERF_VS_REF_ULP),
        ] {
            let mut want = vec![0.0; x.len()];
            reference(&x, &mut want).unwrap();
            for_each_path(|path| {
                let mut got = vec![0.0; x.len()];
                kernel(&x, &mut got).unwrap();
                for i in 0..x.len() {
                    let e = ulp_err(got[i], f64::from(want[i]));
                    let tiny = (f64::from(got[i]) - f64::from(want[i])).abs() <= EXP_SUBNORMAL_ABS_TOL;
                    assert!(e <= tol || tiny, "{path}: x={} got {} want {}", x[i], got[i], want[i]);
                }
            });
        }
    }
}
