//! Conformance suite for `smallmind_kernels::vector`, run on every SIMD path.

mod common;

use common::{Rng, edge_lengths, for_each_path};
use proptest::prelude::*;
use smallmind_kernels::{KernelError, SimdPath, vector};
use smallmind_testkit::{max_rel_diff, max_scaled_diff};

/// `add`, `mul`, `scale` and the in-place forms do one IEEE operation per
/// element, so they must equal their `_ref` bit for bit (NaN matches NaN).
const ELEMENTWISE_ULP_TOL: u32 = 0;
/// `axpy` fuses `alpha·x + y` (one rounding) where `_ref` rounds twice: at most
/// one ulp of `|alpha·x| + |y|` apart (an analytic bound, not a measured one).
const AXPY_REL_TOL: f32 = f32::EPSILON;
/// Blocked f32 `dot`/`sum` vs the f64 reference, relative to `Σ|termᵢ|`; the
/// worst-case bound in the module docs is ≈ 3.1e-5 (scalar path).
/// Measured 5.1e-6 (sum of 1 + 2²⁰ tiny values, scalar) (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test vector -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2.4×.
const REDUCTION_REL_TOL: f64 = 1.2e-5;

/// A length that crosses the rayon threshold of the elementwise kernels.
fn parallel_lengths() -> [usize; 1] {
    [vector::PARALLEL_MIN_LEN + 17]
}

fn ulp_distance(a: f32, b: f32) -> u32 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    if a == b {
        return 0;
    }
    let key = |v: f32| {
        let bits = v.to_bits() as i32;
        if bits < 0 { i32::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

// The tolerance is a named constant that happens to be zero (exact).
#[allow(clippy::absurd_extreme_comparisons)]
fn assert_elementwise(actual: &[f32], expected: &[f32], what: &str, path: SimdPath) {
    assert_eq!(actual.len(), expected.len());
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            ulp_distance(a, e) <= ELEMENTWISE_ULP_TOL,
            "{what} on {path}: element {i} of {}: {a:e} vs {e:e}",
            actual.len()
        );
    }
}

fn assert_reduction(actual: f32, expected: f32, magnitude: f64, what: &str) {
    if expected.is_nan() {
        assert!(actual.is_nan(), "{what}: expected NaN, got {actual}");
        return;
    }
    if expected.is_infinite() {
        assert_eq!(actual, expected, "{what}");
        return;
    }
    // Relative to `Σ|termᵢ|`, absolute below the smallest normal.
    let scale = magnitude.max(f64::from(f32::MIN_POSITIVE) / REDUCTION_REL_TOL);
    max_scaled_diff(&[f64::from(actual)], &[f64::from(expected)], &[scale])
        .assert_within(REDUCTION_REL_TOL, what);
}

/// Runs every elementwise kernel against its twin on `(a, b)`.
fn check_elementwise(a: &[f32], b: &[f32], alpha: f32, path: SimdPath) {
    let n = a.len();
    let mut out = vec![f32::NAN; n];
    let mut expected = vec![f32::NAN; n];

    vector::add(a, b, &mut out).unwrap();
    vector::add_ref(a, b, &mut expected).unwrap();
    assert_elementwise(&out, &expected, "add", path);

    vector::mul(a, b, &mut out).unwrap();
    vector::mul_ref(a, b, &mut expected).unwrap();
    assert_elementwise(&out, &expected, "mul", path);

    vector::scale(alpha, a, &mut out).unwrap();
    vector::scale_ref(alpha, a, &mut expected).unwrap();
    assert_elementwise(&out, &expected, "scale", path);

    out.copy_from_slice(a);
    expected.copy_from_slice(a);
    vector::scale_inplace(alpha, &mut out);
    vector::scale_inplace_ref(alpha, &mut expected);
    assert_elementwise(&out, &expected, "scale_inplace", path);

    out.copy_from_slice(b);
    expected.copy_from_slice(b);
    vector::add_inplace(&mut out, a).unwrap();
    vector::add_inplace_ref(&mut expected, a).unwrap();
    assert_elementwise(&out, &expected, "add_inplace", path);

    out.copy_from_slice(b);
    expected.copy_from_slice(b);
    vector::mul_inplace(&mut out, a).unwrap();
    vector::mul_inplace_ref(&mut expected, a).unwrap();
    assert_elementwise(&out, &expected, "mul_inplace", path);

    out.copy_from_slice(b);
    expected.copy_from_slice(b);
    vector::axpy(alpha, a, &mut out).unwrap();
    vector::axpy_ref(alpha, a, &mut expected).unwrap();
    for i in 0..n {
        let (o, e) = (out[i], expected[i]);
        if !e.is_finite() || !o.is_finite() {
            // The fused product cannot overflow on its own (-2·MAX + inf is inf,
            // not NaN), so a non-finite result must match either the twin or the
            // exactly-rounded f64 value.
            let exact = (f64::from(alpha) * f64::from(a[i]) + f64::from(b[i])) as f32;
            let same = |x: f32, y: f32| x == y || (x.is_nan() && y.is_nan());
            assert!(
                same(o, e) || same(o, exact),
                "axpy on {path}: {i}: {o} vs {e} / {exact}"
            );
            continue;
        }
        let bound = AXPY_REL_TOL * ((alpha * a[i]).abs() + b[i].abs()) + f32::MIN_POSITIVE;
        assert!(
            (o - e).abs() <= bound,
            "axpy on {path}: {i}: {o:e} vs {e:e}"
        );
    }
}

fn check_reductions(a: &[f32], b: &[f32], path: SimdPath) {
    let n = a.len();
    let dot_mag: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs())
        .sum();
    let sum_mag: f64 = a.iter().map(|&x| f64::from(x).abs()).sum();
    assert_reduction(
        vector::dot(a, b).unwrap(),
        vector::dot_ref(a, b).unwrap(),
        dot_mag,
        &format!("dot n={n} on {path}"),
    );
    assert_reduction(
        vector::sum(a),
        vector::sum_ref(a),
        sum_mag,
        &format!("sum n={n} on {path}"),
    );
    let (ours, theirs) = (vector::max(a), vector::max_ref(a));
    assert!(
        ours == theirs || (ours.is_nan() && theirs.is_nan()),
        "max n={n} on {path}: {ours} vs {theirs}"
    );
}

#[test]
fn elementwise_and_reductions_match_ref_on_edge_lengths() {
    for_each_path(|path| {
        let mut rng = Rng::new(1);
        for n in edge_lengths() {
            let a = rng.vec(n, 4.0);
            let b = rng.vec(n, 4.0);
            check_elementwise(&a, &b, -1.7, path);
            check_reductions(&a, &b, path);
        }
    });
}

#[test]
fn elementwise_split_across_threads_matches_ref() {
    for_each_path(|path| {
        let mut rng = Rng::new(2);
        for n in parallel_lengths() {
            let a = rng.vec(n, 2.0);
            let b = rng.vec(n, 2.0);
            check_elementwise(&a, &b, 0.3, path);
        }
    });
}

#[test]
fn streaming_stores_match_ref_at_any_alignment() {
    let n = vector::STREAMING_MIN_LEN + 21;
    let mut rng = Rng::new(12);
    let a = rng.vec(n + 3, 2.0);
    let b = rng.vec(n + 3, 2.0);
    let mut expected = vec![0.0f32; n];
    let mut buffer = vec![f32::NAN; n + 20];
    let mut check = || {
        for_each_path(|path| {
            // Output offsets of 0..3 elements move the aligned body around.
            for shift in [0, 1, 3] {
                let (a, b) = (&a[shift..shift + n], &b[3 - shift..3 - shift + n]);
                let out = &mut buffer[shift..shift + n];
                vector::add(a, b, out).unwrap();
                vector::add_ref(a, b, &mut expected).unwrap();
                assert_elementwise(out, &expected, "streaming add", path);
                vector::mul(a, b, out).unwrap();
                vector::mul_ref(a, b, &mut expected).unwrap();
                assert_elementwise(out, &expected, "streaming mul", path);
                vector::scale(-0.5, a, out).unwrap();
                vector::scale_ref(-0.5, a, &mut expected).unwrap();
                assert_elementwise(out, &expected, "streaming scale", path);
            }
        });
    };
    // Split across the default pool, and serial inside a 1-thread pool.
    check();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(check);
}

#[test]
fn reductions_of_empty_slices() {
    for_each_path(|path| {
        assert_eq!(vector::sum(&[]), 0.0, "{path}");
        assert_eq!(vector::dot(&[], &[]).unwrap(), 0.0, "{path}");
        assert_eq!(vector::max(&[]), f32::NEG_INFINITY, "{path}");
    });
}

#[test]
fn reductions_propagate_nan_and_infinities_at_every_position() {
    for_each_path(|path| {
        for n in [1, 7, 8, 9, 16, 17, 63, 64, 65, 100, 2049, 5000] {
            for at in [0, n / 2, n - 1] {
                let mut x = vec![1.0f32; n];
                x[at] = f32::NAN;
                assert!(vector::sum(&x).is_nan(), "sum {path} n={n} at={at}");
                assert!(vector::dot(&x, &x).unwrap().is_nan(), "dot {path}");
                assert!(vector::max(&x).is_nan(), "max {path} n={n} at={at}");
                // A NaN surrounded by larger values is still reported.
                let mut y = vec![1e30f32; n];
                y[at] = f32::NAN;
                assert!(vector::max(&y).is_nan(), "max {path} n={n} at={at}");

                x[at] = f32::INFINITY;
                assert_eq!(vector::sum(&x), f32::INFINITY, "sum {path}");
                assert_eq!(vector::max(&x), f32::INFINITY, "max {path}");
                assert_eq!(vector::dot(&x, &x).unwrap(), f32::INFINITY, "dot {path}");
                x[at] = f32::NEG_INFINITY;
                assert_eq!(vector::sum(&x), f32::NEG_INFINITY, "sum {path}");
                assert_eq!(
                    vector::max(&x),
                    if n == 1 { f32::NEG_INFINITY } else { 1.0 },
                    "max {path}"
                );
                if n > 1 {
                    x[(at + 1) % n] = f32::INFINITY;
                    assert!(vector::sum(&x).is_nan(), "inf - inf {path} n={n}");
                    assert!(
                        vector::dot(&x, &vec![1.0; n]).unwrap().is_nan(),
                        "dot inf - inf {path}"
                    );
                }
            }
            let all_neg_inf = vec![f32::NEG_INFINITY; n];
            assert_eq!(vector::max(&all_neg_inf), f32::NEG_INFINITY, "{path}");
            let negatives: Vec<f32> = (0..n).map(|i| -1.0 - i as f32).collect();
            assert_eq!(vector::max(&negatives), -1.0, "{path}");
        }
    });
}

#[test]
fn denormal_inputs_are_handled_exactly_enough() {
    for_each_path(|path| {
        let tiny = f32::from_bits(1); // smallest denormal
        for n in [1, 15, 17, 65, 1000] {
            let x: Vec<f32> = (0..n).map(|i| tiny * (i % 7) as f32).collect();
            assert_eq!(vector::sum(&x), vector::sum_ref(&x), "sum {path} n={n}");
            assert_eq!(vector::max(&x), vector::max_ref(&x), "max {path}");
            let ones = vec![1.0f32; n];
            assert_eq!(
                vector::dot(&x, &ones).unwrap(),
                vector::dot_ref(&x, &ones).unwrap(),
                "dot {path}"
            );
            check_elementwise(&x, &ones, 0.5, path);
            check_elementwise(&x, &x, 3.0, path);
        }
    });
}

#[test]
fn elementwise_specials_match_ref() {
    let specials = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
    ];
    let n = specials.len() * specials.len();
    let a: Vec<f32> = (0..n).map(|i| specials[i % specials.len()]).collect();
    let b: Vec<f32> = (0..n).map(|i| specials[i / specials.len()]).collect();
    for_each_path(|path| {
        for alpha in [0.0, -2.0, f32::INFINITY, f32::NAN] {
            check_elementwise(&a, &b, alpha, path);
        }
    });
}

#[test]
fn length_mismatches_are_errors() {
    for_each_path(|_| {
        let a = [1.0f32; 5];
        let mut short = [0.0f32; 4];
        let mismatch = |r: Result<(), KernelError>| {
            assert!(
                matches!(r, Err(KernelError::LengthMismatch { .. })),
                "{r:?}"
            )
        };
        mismatch(vector::add(&a, &a[..4], &mut [0.0; 5]));
        mismatch(vector::add(&a, &a, &mut short));
        mismatch(vector::mul(&a, &a[..4], &mut [0.0; 5]));
        mismatch(vector::mul(&a, &a, &mut short));
        mismatch(vector::scale(1.0, &a, &mut short));
        mismatch(vector::axpy(1.0, &a, &mut short));
        mismatch(vector::add_inplace(&mut short, &a));
        mismatch(vector::mul_inplace(&mut short, &a));
        assert!(matches!(
            vector::dot(&a, &a[..3]),
            Err(KernelError::LengthMismatch { .. })
        ));
        // The twins agree.
        mismatch(vector::add_ref(&a, &a, &mut short));
        mismatch(vector::axpy_ref(1.0, &a, &mut short));
        assert!(vector::dot_ref(&a, &a[..3]).is_err());
    });
}

#[test]
fn sum_is_accurate_where_a_naive_sum_is_not() {
    // 1 + many tiny values: a sequential f32 sum stalls at 1.0.
    let n = 1 << 20;
    let mut x = vec![1e-8f32; n];
    x[0] = 1.0;
    let exact = 1.0 + (n - 1) as f64 * f64::from(1e-8f32);
    let naive_err = (f64::from(x.iter().fold(0.0f32, |acc, &v| acc + v)) - exact).abs();
    for_each_path(|path| {
        let sum = f64::from(vector::sum(&x));
        max_rel_diff(&[sum], &[exact], 0.0).assert_within(REDUCTION_REL_TOL, &format!("{path}"));
        let err = (sum - exact).abs();
        assert!(
            err * 1000.0 < naive_err,
            "{path}: error {err:e} vs naive {naive_err:e}"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proptest_vs_ref(
        a in prop::collection::vec(-1e3f32..1e3, 0..600),
        seed in any::<u64>(),
        alpha in -10f32..10.0,
    ) {
        let mut rng = Rng::new(seed);
        let b = rng.vec(a.len(), 100.0);
        for_each_path(|path| {
            check_elementwise(&a, &b, alpha, path);
            check_reductions(&a, &b, path);
        });
    }
}
