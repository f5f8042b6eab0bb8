//! Conformance suite for `smallmind_kernels::norm`, run on every SIMD path.

mod common;

use common::{Rng, edge_lengths, fixture, for_each_path, rel_err_with_matching_nans};
use proptest::prelude::*;
use smallmind_kernels::{KernelError, SimdPath, norm};
use smallmind_testkit::max_rel_diff;

/// LayerNorm vs its f64 twin, as `|a − b| / max(1, |b|)` (relative for |out| > 1,
/// absolute below): f32 sums over the row plus a few roundings per output.
/// Measured 5.0e-6 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test norm -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const LAYER_NORM_REL_TOL: f64 = 1e-5;
/// RMSNorm vs its f64 twin, as for LayerNorm.
/// Measured 1.4e-6 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test norm -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const RMS_NORM_REL_TOL: f64 = 3e-6;
/// Both norms vs the PyTorch float64 fixture (the acceptance bound).
/// Measured 3.9e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-kernels --test norm -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const FIXTURE_REL_TOL: f64 = 8e-7;

fn same_or_both_nan(a: &[f32], b: &[f32]) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, &y)| x == y || (x.is_nan() && y.is_nan()))
}

fn layer_norm_both(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let mut out = vec![f32::NAN; x.len()];
    let mut expected = vec![f32::NAN; x.len()];
    norm::layer_norm_rows(x, gamma, beta, eps, &mut out).unwrap();
    norm::layer_norm_rows_ref(x, gamma, beta, eps, &mut expected).unwrap();
    (out, expected)
}

fn rms_norm_both(x: &[f32], gamma: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let mut out = vec![f32::NAN; x.len()];
    let mut expected = vec![f32::NAN; x.len()];
    norm::rms_norm_rows(x, gamma, eps, &mut out).unwrap();
    norm::rms_norm_rows_ref(x, gamma, eps, &mut expected).unwrap();
    (out, expected)
}

fn check_vs_ref(x: &[f32], gamma: &[f32], beta: &[f32], what: &str, path: SimdPath) {
    let (out, expected) = layer_norm_both(x, gamma, beta, 1e-5);
    max_rel_diff(&out, &expected, 1.0)
        .assert_within(LAYER_NORM_REL_TOL, &format!("layer_norm {what} on {path}"));
    let (out, expected) = rms_norm_both(x, gamma, 1e-6);
    max_rel_diff(&out, &expected, 1.0)
        .assert_within(RMS_NORM_REL_TOL, &format!("rms_norm {what} on {path}"));
}

#[test]
fn layer_norm_matches_pytorch_fixture() {
    let (x, shape) = fixture("layernorm_x");
    let (gamma, _) = fixture("layernorm_gamma");
    let (beta, _) = fixture("layernorm_beta");
    let (expected, _) = fixture("layernorm_out");
    assert_eq!(shape, [8, 1000]);
    for_each_path(|path| {
        let mut out = vec![0.0; x.len()];
        norm::layer_norm_rows(&x, &gamma, &beta, 1e-5, &mut out).unwrap();
        for (row, (o, e)) in out.chunks(1000).zip(expected.chunks(1000)).enumerate() {
            max_rel_diff(o, e, 1.0).assert_within(
                FIXTURE_REL_TOL,
                &format!("layernorm fixture row {row} on {path}"),
            );
        }
    });
}

#[test]
fn rms_norm_matches_pytorch_fixture() {
    let (x, shape) = fixture("rmsnorm_x");
    let (gamma, _) = fixture("rmsnorm_gamma");
    let (expected, _) = fixture("rmsnorm_out");
    assert_eq!(shape, [8, 1000]);
    for_each_path(|path| {
        let mut out = vec![0.0; x.len()];
        norm::rms_norm_rows(&x, &gamma, 1e-6, &mut out).unwrap();
        for (row, (o, e)) in out.chunks(1000).zip(expected.chunks(1000)).enumerate() {
            max_rel_diff(o, e, 1.0).assert_within(
                FIXTURE_REL_TOL,
                &format!("rmsnorm fixture row {row} on {path}"),
            );
        }
    });
}

#[test]
fn norms_match_ref_on_edge_row_lengths() {
    for_each_path(|path| {
        let mut rng = Rng::new(4);
        for row_len in edge_lengths().into_iter().filter(|&n| n > 0) {
            let rows = if row_len > 10_000 { 2 } else { 3 };
            let x: Vec<f32> = rng
                .vec(rows * row_len, 3.0)
                .iter()
                .map(|v| v + 0.5)
                .collect();
            let gamma: Vec<f32> = rng.vec(row_len, 0.5).iter().map(|v| v + 1.0).collect();
            let beta = rng.vec(row_len, 0.5);
            check_vs_ref(&x, &gamma, &beta, &format!("rows {rows} × {row_len}"), path);
        }
    });
}

#[test]
fn huge_offsets_keep_layer_norm_accurate() {
    for_each_path(|path| {
        let mut rng = Rng::new(5);
        for offset in [1e3f32, 1e4, -1e5, 1e6] {
            for row_len in [7, 64, 1000, 4099] {
                let x: Vec<f32> = rng
                    .vec(2 * row_len, 1.0)
                    .iter()
                    .map(|v| v + offset)
                    .collect();
                let gamma = vec![1.0; row_len];
                let beta = vec![0.0; row_len];
                let (out, expected) = layer_norm_both(&x, &gamma, &beta, 1e-5);
                max_rel_diff(&out, &expected, 1.0).assert_within(
                    LAYER_NORM_REL_TOL,
                    &format!("offset {offset} × {row_len} on {path}"),
                );
            }
        }
    });
}

#[test]
fn outlier_first_elements_and_thread_splits_match_ref() {
    for_each_path(|path| {
        let mut rng = Rng::new(11);
        // The first element far from the mean takes the second-pass branch.
        for (first, offset) in [
            (1e4f32, 0.0f32),
            (-50.0, 1000.0),
            (1003.0, 1000.0),
            (0.0, 1e5),
        ] {
            let row_len = 257;
            let mut x: Vec<f32> = rng
                .vec(3 * row_len, 1.0)
                .iter()
                .map(|v| v + offset)
                .collect();
            for row in x.chunks_mut(row_len) {
                row[0] = first;
            }
            let gamma = rng.vec(row_len, 1.0);
            let beta = rng.vec(row_len, 1.0);
            check_vs_ref(
                &x,
                &gamma,
                &beta,
                &format!("first {first} offset {offset}"),
                path,
            );
        }
        // Large enough to be split across rayon tasks.
        let row_len = 512;
        let rows = norm::NORM_PARALLEL_MIN_LEN / row_len + 3;
        let x: Vec<f32> = rng
            .vec(rows * row_len, 2.0)
            .iter()
            .map(|v| v + 0.3)
            .collect();
        let gamma = rng.vec(row_len, 1.0);
        let beta = rng.vec(row_len, 1.0);
        check_vs_ref(&x, &gamma, &beta, "split", path);
    });
}

#[test]
fn constant_rows_give_exactly_beta() {
    for_each_path(|path| {
        let mut rng = Rng::new(6);
        for row_len in [1, 2, 15, 16, 17, 100, 1000, 4097] {
            let beta = rng.vec(row_len, 2.0);
            let gamma = rng.vec(row_len, 2.0);
            for value in [
                0.0f32,
                0.1,
                -3.7,
                1000.0,
                123_456.79,
                -3.3e5,
                1e-20,
                f32::from_bits(3),
            ] {
                let x = vec![value; 3 * row_len];
                let mut out = vec![f32::NAN; x.len()];
                norm::layer_norm_rows(&x, &gamma, &beta, 1e-5, &mut out).unwrap();
                for row in out.chunks(row_len) {
                    assert_eq!(row, &beta[..], "constant {value} × {row_len} on {path}");
                }
            }
        }
    });
}

#[test]
fn row_len_one_and_zero_rows() {
    for_each_path(|path| {
        // row_len 1: LayerNorm gives beta; RMSNorm gives x/sqrt(x² + eps)·γ.
        let x = [3.0f32, -2.0, 0.0, 1e-3];
        let (out, _) = layer_norm_both(&x, &[2.0], &[0.25], 1e-5);
        assert_eq!(out, [0.25; 4], "{path}");
        let (out, expected) = rms_norm_both(&x, &[2.0], 1e-6);
        max_rel_diff(&out, &expected, 1.0).assert_within(RMS_NORM_REL_TOL, &format!("{path}"));
        // Zero rows is fine for any row length.
        norm::layer_norm_rows(&[], &[1.0; 5], &[0.0; 5], 1e-5, &mut []).unwrap();
        norm::rms_norm_rows(&[], &[1.0; 5], 1e-6, &mut []).unwrap();
        norm::layer_norm_rows(&[], &[], &[], 1e-5, &mut []).unwrap();
        // All-zero rows: RMSNorm gives zeros (eps keeps it finite).
        let (out, _) = rms_norm_both(&[0.0; 8], &[1.0; 4], 1e-6);
        assert_eq!(out, [0.0; 8], "{path}");
    });
}

#[test]
fn non_finite_and_denormal_inputs() {
    for_each_path(|path| {
        let row_len = 37;
        let mut rng = Rng::new(7);
        let gamma: Vec<f32> = rng.vec(row_len, 0.5).iter().map(|v| v + 1.0).collect();
        let beta = rng.vec(row_len, 0.5);
        for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 17, 36] {
                let mut x = rng.vec(3 * row_len, 2.0);
                x[row_len + at] = special; // middle row only
                let (out, expected) = layer_norm_both(&x, &gamma, &beta, 1e-5);
                assert!(
                    out[row_len..2 * row_len].iter().all(|v| v.is_nan()),
                    "LN {special} on {path}"
                );
                let what = format!("{special} at {at} on {path}");
                max_rel_diff(&out[..row_len], &expected[..row_len], 1.0)
                    .assert_within(LAYER_NORM_REL_TOL, &format!("LN first row, {what}"));
                max_rel_diff(&out[2 * row_len..], &expected[2 * row_len..], 1.0)
                    .assert_within(LAYER_NORM_REL_TOL, &format!("LN last row, {what}"));
                let (out, expected) = rms_norm_both(&x, &gamma, 1e-6);
                assert!(
                    same_or_both_nan(&out[row_len..2 * row_len], &expected[row_len..2 * row_len]),
                    "RMS {special} on {path}: {out:?}"
                );
                // The middle row holds the special value on purpose: NaN must land where
                // the twin puts it, the other rows must agree.
                rel_err_with_matching_nans(&out, &expected, &what)
                    .assert_within(RMS_NORM_REL_TOL, &format!("RMS, {what}"));
            }
        }
        // Denormal rows: tiny spread, eps dominates.
        let tiny = f32::from_bits(1);
        let x: Vec<f32> = (0..2 * row_len).map(|i| tiny * (i % 5) as f32).collect();
        check_vs_ref(&x, &gamma, &beta, "denormal", path);
    });
}

#[test]
fn bad_shapes_are_errors() {
    let x = [1.0f32; 12];
    let mut out = [0.0f32; 12];
    let is_invalid =
        |r: Result<(), KernelError>| matches!(r, Err(KernelError::InvalidDimension { .. }));
    let is_mismatch =
        |r: Result<(), KernelError>| matches!(r, Err(KernelError::LengthMismatch { .. }));
    for_each_path(|_| {
        assert!(is_invalid(norm::layer_norm_rows(
            &x, &[1.0; 5], &[0.0; 5], 1e-5, &mut out
        )));
        assert!(is_invalid(norm::rms_norm_rows(
            &x, &[1.0; 5], 1e-5, &mut out
        )));
        assert!(is_invalid(norm::layer_norm_rows(
            &x,
            &[],
            &[],
            1e-5,
            &mut out
        )));
        assert!(is_invalid(norm::rms_norm_rows(&x, &[], 1e-5, &mut out)));
        assert!(is_mismatch(norm::layer_norm_rows(
            &x, &[1.0; 4], &[0.0; 3], 1e-5, &mut out
        )));
        assert!(is_mismatch(norm::layer_norm_rows(
            &x,
            &[1.0; 4],
            &[0.0; 4],
            1e-5,
            &mut out[..8]
        )));
        assert!(is_mismatch(norm::rms_norm_rows(
            &x,
            &[1.0; 4],
            1e-5,
            &mut out[..8]
        )));
        assert!(is_invalid(norm::layer_norm_rows_ref(
            &x, &[1.0; 5], &[0.0; 5], 1e-5, &mut out
        )));
        assert!(is_mismatch(norm::rms_norm_rows_ref(
            &x,
            &[1.0; 4],
            1e-5,
            &mut out[..8]
        )));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn proptest_vs_ref(
        rows in 0usize..4,
        row_len in 1usize..300,
        offset in -1e4f32..1e4,
        spread in 1e-3f32..1e2,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let x: Vec<f32> = rng.vec(rows * row_len, spread).iter().map(|v| v + offset).collect();
        let gamma: Vec<f32> = rng.vec(row_len, 1.0).iter().map(|v| v + 1.0).collect();
        let beta = rng.vec(row_len, 1.0);
        for_each_path(|path| check_vs_ref(&x, &gamma, &beta, "proptest", path));
    }
}
