//! Conformance suite for `smallmind_kernels::activation` (GELU tanh/erf, SiLU)
//! on every SIMD path: PyTorch fixture, `_ref` twins, edge lengths, in-place
//! forms, special values and argument errors.

mod common;

use common::{Rng, edge_lengths, fixture, for_each_path, max_strict_rel_err};
use proptest::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::activation as act;
use smallmind_testkit::{max_abs_diff, max_rel_diff};

/// GELU tanh form vs the PyTorch f64 fixture on [-8, 8]: absolute (issue #2).
/// Measured 4.8e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test activation -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const GELU_TANH_FIXTURE_ABS_TOL: f64 = 1e-6;
/// GELU erf form vs the fixture: `|a − b| / max(1, |b|)` (issue #2).
/// Measured 7.1e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test activation -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const GELU_ERF_FIXTURE_REL_TOL: f64 = 1.5e-6;
/// Kernel vs `_ref` twin, `|a − b| / max(1, |b|)`: a few f32 ulp of headroom
/// over the measured error (exp ≤ 1 ulp, division and sum roundings, and for
/// GELU-erf the cancellation in `1 + erf` for negative x).
/// Measured 4.8e-7 (GELU-tanh; SiLU 3.9e-7) (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test activation -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const ACT_VS_REF_TOL: f64 = 1e-6;
/// GELU-erf vs its f64 twin, `|a − b| / max(1, |b|)`: its fast rational erf is
/// good to 5 ulp of 1, scaled by `|x|/2 ≤ 2.8` where erf has not saturated.
/// Measured 7.8e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test activation -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const GELU_ERF_VS_REF_TOL: f64 = 1.6e-6;

fn vs_ref_tol(name: &str) -> f64 {
    if name == "gelu_erf" {
        GELU_ERF_VS_REF_TOL
    } else {
        ACT_VS_REF_TOL
    }
}
/// SiLU keeps relative accuracy everywhere (no cancellation in the logistic
/// form): max relative error vs `_ref`, for results ≥ 1e-30.
/// Measured 2.9e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test activation -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const SILU_REL_TOL: f64 = 6e-7;
/// GELU-tanh in the negative tail: no cancellation either, but `e^{−2u}` has
/// condition number `|2u|` (up to ~88 before it overflows), so the f32
/// rounding of `u` shows up as `|2u|·2^−24`-ish relative error.
/// Measured 1.1e-5 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test activation -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const GELU_TANH_TAIL_REL_TOL: f64 = 2.5e-5;

type Kernel = fn(&[f32], &mut [f32]) -> Result<(), KernelError>;
type InPlace = fn(&mut [f32]);

const FAMILY: [(&str, Kernel, InPlace, Kernel); 3] = [
    (
        "gelu_tanh",
        act::gelu_tanh,
        act::gelu_tanh_inplace,
        act::gelu_tanh_ref,
    ),
    (
        "gelu_erf",
        act::gelu_erf,
        act::gelu_erf_inplace,
        act::gelu_erf_ref,
    ),
    ("silu", act::silu, act::silu_inplace, act::silu_ref),
];

#[test]
fn gelu_tanh_matches_pytorch_fixture() {
    let (x, _) = fixture("gelu_x");
    let (want, _) = fixture("gelu_tanh_out");
    for_each_path(|path| {
        let mut got = vec![0.0; x.len()];
        act::gelu_tanh(&x, &mut got).unwrap();
        max_abs_diff(&got, &want).assert_within(GELU_TANH_FIXTURE_ABS_TOL, &format!("{path}"));
        let mut inplace = x.clone();
        act::gelu_tanh_inplace(&mut inplace);
        assert_eq!(inplace, got, "{path}: in-place differs");
    });
}

#[test]
fn gelu_erf_matches_pytorch_fixture() {
    let (x, _) = fixture("gelu_x");
    let (want, _) = fixture("gelu_erf_out");
    for_each_path(|path| {
        let mut got = vec![0.0; x.len()];
        act::gelu_erf(&x, &mut got).unwrap();
        max_rel_diff(&got, &want, 1.0).assert_within(GELU_ERF_FIXTURE_REL_TOL, &format!("{path}"));
        let mut inplace = x.clone();
        act::gelu_erf_inplace(&mut inplace);
        assert_eq!(inplace, got, "{path}: in-place differs");
    });
}

#[test]
fn refs_match_pytorch_fixture() {
    let (x, _) = fixture("gelu_x");
    for (name, reference, tol) in [
        (
            "gelu_tanh_out",
            act::gelu_tanh_ref as Kernel,
            GELU_TANH_FIXTURE_ABS_TOL,
        ),
        ("gelu_erf_out", act::gelu_erf_ref, GELU_ERF_FIXTURE_REL_TOL),
    ] {
        let (want, _) = fixture(name);
        let mut got = vec![0.0; x.len()];
        reference(&x, &mut got).unwrap();
        max_abs_diff(&got, &want).assert_within(tol, name);
    }
}

#[test]
fn kernels_match_ref_on_edge_lengths_out_of_place_and_in_place() {
    for_each_path(|path| {
        for (name, kernel, inplace, reference) in FAMILY {
            for len in edge_lengths() {
                let x = Rng::new(len as u64 + 7).vec(len, 10.0);
                let mut want = vec![0.0; len];
                reference(&x, &mut want).unwrap();
                let mut got = vec![f32::NAN; len];
                kernel(&x, &mut got).unwrap();
                max_rel_diff(&got, &want, 1.0)
                    .assert_within(vs_ref_tol(name), &format!("{path} {name} len {len}"));
                let mut data = x.clone();
                inplace(&mut data);
                assert_eq!(data, got, "{path} {name} len {len}: in-place differs");
            }
        }
    });
}

#[test]
fn inputs_above_the_parallel_threshold_match_ref() {
    let len = 2 * smallmind_kernels::math::PAR_MIN_LEN + 17;
    let x = Rng::new(5).vec(len, 9.0);
    for (name, kernel, inplace, reference) in FAMILY {
        let mut want = vec![0.0; len];
        reference(&x, &mut want).unwrap();
        for_each_path(|path| {
            let mut got = vec![f32::NAN; len];
            kernel(&x, &mut got).unwrap();
            max_rel_diff(&got, &want, 1.0)
                .assert_within(vs_ref_tol(name), &format!("{path} {name}"));
            let mut data = x.clone();
            inplace(&mut data);
            assert_eq!(data, got, "{path} {name}: in-place differs");
        });
    }
}

#[test]
fn logistic_forms_keep_relative_accuracy_in_the_negative_tail() {
    // x in [-30, 5]: results down to ~1e-12 (SiLU) and ~1e-38 (GELU tanh).
    let x: Vec<f32> = (0..20_000)
        .map(|i| -30.0 + 35.0 * i as f32 / 20_000.0)
        .collect();
    for_each_path(|path| {
        for (name, kernel, reference, tol) in [
            (
                "silu",
                act::silu as Kernel,
                act::silu_ref as Kernel,
                SILU_REL_TOL,
            ),
            (
                "gelu_tanh",
                act::gelu_tanh,
                act::gelu_tanh_ref,
                GELU_TANH_TAIL_REL_TOL,
            ),
        ] {
            let mut want = vec![0.0; x.len()];
            reference(&x, &mut want).unwrap();
            let mut got = vec![0.0; x.len()];
            kernel(&x, &mut got).unwrap();
            // The logistic form's `e^{−2u}` overflows f32 below ~1e-30 and flushes to zero.
            max_strict_rel_err(&got, &want).assert_within(tol, &format!("{path} {name}"));
        }
    });
}

/// `f(x)` through the out-of-place kernel at several positions (body and tail).
fn at(kernel: Kernel, x: f32) -> Vec<f32> {
    let mut results = Vec::new();
    for pos in [0, 16, 33] {
        let mut v = vec![1.0f32; 34];
        v[pos] = x;
        let mut out = vec![0.0; v.len()];
        kernel(&v, &mut out).unwrap();
        results.push(out[pos]);
    }
    results
}

#[test]
fn special_values() {
    for_each_path(|path| {
        for (name, kernel, _, _) in FAMILY {
            for got in at(kernel, f32::NAN) {
                assert!(got.is_nan(), "{path} {name}(NaN) = {got}");
            }
            for got in at(kernel, f32::INFINITY) {
                assert_eq!(got, f32::INFINITY, "{path} {name}(+inf)");
            }
            for x in [f32::NEG_INFINITY, -1e30, -1000.0] {
                for got in at(kernel, x) {
                    assert_eq!(got, 0.0, "{path} {name}({x}) = {got}");
                }
            }
            for got in at(kernel, 1e30) {
                assert_eq!(got, 1e30, "{path} {name}(1e30)");
            }
            for x in [0.0f32, -0.0] {
                for got in at(kernel, x) {
                    assert_eq!(got, 0.0, "{path} {name}({x})");
                }
            }
            // Denormal input: f(d) = d/2 rounds to a subnormal close to d/2.
            let d = f32::from_bits(0x0040_0000);
            for got in at(kernel, d) {
                assert!(
                    (got - d / 2.0).abs() <= f32::from_bits(2),
                    "{path} {name}(denormal) = {got:e}"
                );
            }
        }
    });
}

#[test]
fn length_mismatch_is_an_error() {
    for_each_path(|_| {
        for (name, kernel, _, reference) in FAMILY {
            let x = [0.5f32; 9];
            let mut out = [0.0f32; 8];
            assert_eq!(
                kernel(&x, &mut out),
                Err(KernelError::LengthMismatch {
                    op: name,
                    operand: "out",
                    expected: 9,
                    actual: 8
                })
            );
            assert!(matches!(
                reference(&x, &mut out),
                Err(KernelError::LengthMismatch { .. })
            ));
        }
    });
}

#[test]
fn inplace_refs_agree_with_out_of_place_refs() {
    let x = Rng::new(3).vec(77, 6.0);
    for (inplace_ref, reference) in [
        (
            act::gelu_tanh_inplace_ref as InPlace,
            act::gelu_tanh_ref as Kernel,
        ),
        (act::gelu_erf_inplace_ref, act::gelu_erf_ref),
        (act::silu_inplace_ref, act::silu_ref),
    ] {
        let mut data = x.clone();
        inplace_ref(&mut data);
        let mut out = vec![0.0; x.len()];
        reference(&x, &mut out).unwrap();
        assert_eq!(data, out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn activations_match_ref(x in prop::collection::vec(-40.0f32..40.0, 0..200)) {
        for_each_path(|path| {
            for (name, kernel, inplace, reference) in FAMILY {
                let mut want = vec![0.0; x.len()];
                reference(&x, &mut want).unwrap();
                let mut got = vec![0.0; x.len()];
                kernel(&x, &mut got).unwrap();
                max_rel_diff(&got, &want, 1.0).assert_within(vs_ref_tol(name), &format!("{path} {name}"));
                let mut data = x.clone();
                inplace(&mut data);
                assert_eq!(data, got);
            }
        });
    }
}
