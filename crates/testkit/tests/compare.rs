//! The comparison helpers can fail: NaN on either side, mismatched infinities and an output
//! element that was never written (left NaN) each exceed every tolerance, and the worst index
//! is reported.

use smallmind_testkit::{Worst, max_abs_diff, max_rel_diff, max_rel_to_scale, max_scaled_diff};

#[test]
fn equal_slices_have_no_error() {
    let a = [1.0f32, -2.0, 3.5];
    let worst = max_abs_diff(&a, &a);
    assert_eq!(worst.error, 0.0);
    assert_eq!(worst.index, Some(0));
    worst.assert_within(0.0, "equal");
}

#[test]
fn the_worst_index_is_reported() {
    let worst = max_abs_diff(&[1.0f32, 2.0, 3.0, 4.0], &[1.0, 2.5, 3.0, 3.9]);
    assert_eq!(worst.index, Some(1));
    assert!((worst.error - 0.5).abs() < 1e-12);
    assert_eq!((worst.got, worst.want), (2.0, 2.5));
}

#[test]
fn nan_on_either_side_fails() {
    for (got, want) in [
        ([1.0f32, f32::NAN], [1.0f32, 1.0]),
        ([1.0, 1.0], [1.0, f32::NAN]),
        ([1.0, f32::NAN], [1.0, f32::NAN]),
    ] {
        let worst = max_abs_diff(&got, &want);
        assert_eq!(worst.index, Some(1));
        assert!(!worst.within(f64::MAX), "{worst}");
        assert!(!max_rel_diff(&got, &want, 1.0).within(f64::MAX));
        assert!(!max_rel_to_scale(&got, &want).within(f64::MAX));
        assert!(!max_scaled_diff(&got, &want, &[1.0, 1.0]).within(f64::MAX));
    }
}

#[test]
fn infinities_must_match() {
    let inf = f64::INFINITY;
    assert!(max_abs_diff(&[inf, -inf], &[inf, -inf]).within(0.0));
    assert!(!max_abs_diff(&[inf], &[-inf]).within(f64::MAX));
    assert!(!max_abs_diff(&[inf], &[1.0]).within(f64::MAX));
    assert!(!max_abs_diff(&[1.0], &[-inf]).within(f64::MAX));
}

#[test]
fn a_row_never_written_fails() {
    // The pattern of the op tests: fill the output with NaN, run, compare.
    let want = vec![0.25f32; 12];
    let mut got = vec![f32::NAN; 12];
    got[..8].copy_from_slice(&want[..8]); // the last row of 4 was "never written"
    let worst = max_abs_diff(&got, &want);
    assert_eq!(worst.index, Some(8));
    assert!(!worst.within(1.0));
}

#[test]
#[should_panic(expected = "index 2")]
fn assert_within_names_the_index() {
    max_abs_diff(&[0.0f32, 0.0, 1.0], &[0.0, 0.0, 0.0]).assert_within(0.5, "case");
}

#[test]
#[should_panic(expected = "differ in length")]
fn lengths_must_agree() {
    max_abs_diff(&[0.0f32], &[0.0, 1.0]);
}

#[test]
fn relative_error_has_a_floor() {
    let worst = max_rel_diff(&[100.0f32, 0.001], &[101.0, 0.0], 1.0);
    assert!((worst.error - 1.0 / 101.0).abs() < 1e-6, "{worst}");
    assert_eq!(worst.index, Some(0));
}

#[test]
fn a_nan_tolerance_passes_nothing() {
    assert!(!max_abs_diff(&[1.0f32], &[1.0]).within(f64::NAN));
}

#[test]
fn scale_is_the_largest_reference_magnitude() {
    let worst = max_rel_to_scale(&[10.0f32, 1.0], &[10.0, -2.0]);
    assert!((worst.error - 0.3).abs() < 1e-6, "{worst}");
    assert!(!max_rel_to_scale(&[1.0f32], &[f32::INFINITY]).within(f64::MAX));
}

#[test]
fn scaled_error_uses_each_elements_scale() {
    // Errors 0.5 and 0.25 over scales 10 and 1: the second element is the worst.
    let worst = max_scaled_diff(&[1.5f32, 2.25, 3.0], &[1.0, 2.0, 3.0], &[10.0, 1.0, 0.0]);
    assert_eq!(worst.index, Some(1));
    assert!((worst.error - 0.25).abs() < 1e-12, "{worst}");
    // A zero scale allows no difference at all; a NaN scale fails.
    assert!(!max_scaled_diff(&[1.0f32], &[1.5], &[0.0]).within(f64::MAX));
    assert!(!max_scaled_diff(&[1.0f32], &[1.5], &[f32::NAN]).within(f64::MAX));
    // A never-written (NaN) element fails whatever its scale.
    assert!(!max_scaled_diff(&[f32::NAN], &[1.0], &[f32::INFINITY]).within(f64::MAX));
}

#[test]
#[should_panic(expected = "scales differ in length")]
fn scales_must_match_the_values() {
    max_scaled_diff(&[0.0f32, 1.0], &[0.0, 1.0], &[1.0]);
}

#[test]
fn a_scalar_error_fails_on_nan() {
    assert!(Worst::scalar(1e-3).within(1e-3));
    assert!(!Worst::scalar(2e-3).within(1e-3));
    assert!(!Worst::scalar(f64::NAN).within(f64::MAX));
    assert!(!Worst::scalar(f64::INFINITY).within(f64::MAX));
}
