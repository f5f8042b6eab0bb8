//! Error measures for comparing an output with its reference.
//!
//! Every measure here treats NaN on either side as an infinite error: a NaN output, or an
//! output element that was never written (tests fill outputs with NaN first), fails any
//! tolerance. Infinities must match exactly (same sign) to count as no error. Each measure
//! returns the [`Worst`] element, so a failure names where it happened.

use std::fmt;

/// A number a measure can read: `f32` or `f64`.
pub trait Value: Copy {
    /// The value widened to `f64`.
    fn to_f64(self) -> f64;
}

impl Value for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Value for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

/// The worst element of a comparison: its error, index and the two values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Worst {
    /// The largest error found (0 for empty slices; `+inf` for NaN or mismatched infinities).
    pub error: f64,
    /// Where it was (`None` for empty slices).
    pub index: Option<usize>,
    /// The output's value there.
    pub got: f64,
    /// The reference's value there.
    pub want: f64,
}

impl Worst {
    const NONE: Worst = Worst {
        error: 0.0,
        index: None,
        got: 0.0,
        want: 0.0,
    };

    /// An error the test measured itself (an RMSE, a loss difference, a bound ratio), to check
    /// and report like the others; NaN becomes `+inf`, so it fails.
    pub fn scalar(error: f64) -> Worst {
        let error = if error.is_nan() {
            f64::INFINITY
        } else {
            error.abs()
        };
        Worst {
            error,
            index: Some(0),
            got: error,
            want: 0.0,
        }
    }

    /// Whether the error is at most `tolerance` (never true for NaN or infinite errors, nor
    /// for a NaN tolerance).
    pub fn within(&self, tolerance: f64) -> bool {
        self.error <= tolerance && self.error.is_finite()
    }

    /// Panics, naming `what`, the worst index and both values, unless the error is within
    /// `tolerance`.
    ///
    /// Every call also prints `measured <file>:<line> <error> (tolerance <tol>) <what>` to the
    /// test's captured output, so `cargo test ... -- --nocapture` shows the measured errors that
    /// the tolerance constants are set from (the largest per call site is the one to quote).
    #[track_caller]
    pub fn assert_within(&self, tolerance: f64, what: &str) {
        let at = std::panic::Location::caller();
        println!(
            "measured {}:{} {:e} (tolerance {tolerance:e}) {what}",
            at.file(),
            at.line(),
            self.error
        );
        assert!(
            self.within(tolerance),
            "{what}: {self} > tolerance {tolerance:e}"
        );
    }
}

impl fmt::Display for Worst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            None => write!(f, "no elements"),
            Some(i) => write!(
                f,
                "error {:e} at index {i} (got {:e}, want {:e})",
                self.error, self.got, self.want
            ),
        }
    }
}

/// The error of one pair: `scaled(|got − want|, want)` (given the pair's index first), or `+inf` for NaN on either side or
/// infinities that differ; 0 when both are the same infinity.
fn pair_error(i: usize, got: f64, want: f64, scaled: impl Fn(usize, f64, f64) -> f64) -> f64 {
    if got.is_nan() || want.is_nan() {
        f64::INFINITY
    } else if got == want {
        0.0
    } else if got.is_infinite() || want.is_infinite() {
        f64::INFINITY
    } else {
        scaled(i, (got - want).abs(), want)
    }
}

fn worst_of<T: Value>(got: &[T], want: &[T], scaled: impl Fn(usize, f64, f64) -> f64) -> Worst {
    assert_eq!(
        got.len(),
        want.len(),
        "compared slices differ in length: got {} values, want {}",
        got.len(),
        want.len()
    );
    let mut worst = Worst::NONE;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        let error = pair_error(i, g, w, &scaled);
        // `>` alone would skip the first element when its error is 0; `index.is_none()` keeps
        // it, so a non-empty comparison always names an index.
        if error > worst.error || worst.index.is_none() {
            worst = Worst {
                error,
                index: Some(i),
                got: g,
                want: w,
            };
        }
    }
    worst
}

/// `max |got − want|`.
///
/// # Panics
/// When the lengths differ.
pub fn max_abs_diff<T: Value>(got: &[T], want: &[T]) -> Worst {
    worst_of(got, want, |_, diff, _| diff)
}

/// `max |got − want| / max(floor, |want|)`: relative error, absolute below `floor`.
///
/// # Panics
/// When the lengths differ.
pub fn max_rel_diff<T: Value>(got: &[T], want: &[T], floor: f64) -> Worst {
    worst_of(got, want, |_, diff, w| diff / w.abs().max(floor))
}

/// `max |got − want| / scale`, with one `scale` per element: for bounds that differ per
/// element, such as `Σₚ |aᵢₚ|·|bₚⱼ|` for a matrix product. A zero scale allows no difference
/// (its error is `+inf` unless the two values are equal); a NaN scale fails.
///
/// # Panics
/// When the lengths differ.
pub fn max_scaled_diff<T: Value>(got: &[T], want: &[T], scale: &[T]) -> Worst {
    assert_eq!(
        got.len(),
        scale.len(),
        "compared slices and their scales differ in length: {} values, {} scales",
        got.len(),
        scale.len()
    );
    worst_of(got, want, |i, diff, _| {
        let error = diff / scale[i].to_f64().abs();
        if error.is_nan() { f64::INFINITY } else { error }
    })
}

/// `max |got − want| / max |want|`: the error relative to the reference's scale (for logits,
/// whose size depends on the model). A NaN or infinite reference makes every error infinite.
///
/// # Panics
/// When the lengths differ.
pub fn max_rel_to_scale<T: Value>(got: &[T], want: &[T]) -> Worst {
    let scale = want
        .iter()
        .map(|w| w.to_f64().abs())
        .fold(
            f64::MIN_POSITIVE,
            |m, w| if w.is_nan() || w > m { w } else { m },
        );
    let worst = worst_of(got, want, |_, diff, _| diff / scale);
    if scale.is_finite() {
        worst
    } else {
        Worst {
            error: f64::INFINITY,
            ..worst
        }
    }
}
