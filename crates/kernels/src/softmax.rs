//! Row softmax in place, with an optional causal valid length per row.
//!
//! For one row `x` of length `L` with valid length `v ≤ L`:
//! `y_i = e^{x_i − m} / Σ_{j<v} e^{x_j − m}` for `i < v`, `m = max_{j<v} x_j`
//! (max-subtraction, so a large common offset cannot overflow), and `y_i = 0`
//! exactly for `i ≥ v`. `e^{x−m}` (`x − m ≤ 0`) uses the exp of
//! [`crate::math`] specialised to non-positive arguments (degree-5 polynomial,
//! ≤ 1.4e-7 relative before rounding plus `|x − m|·2.8e-9` from a one-constant
//! argument reduction, 13 vector ops): terms below
//! `e^−87.3 ≈ 1.2e-38` (relative to the row's largest, which is 1) flush to 0
//! instead of going subnormal, and `−inf` gives exactly 0. It is evaluated only
//! on the valid entries.
//!
//! Three passes over the valid part of a row: max; `e^{x−m}` written in place
//! while summing (four vector accumulators per block of 64 vectors, blocks
//! added in f64, so the sum's error does not grow with the row); scale by `1/Σ`. A row of a
//! transformer's score matrix fits L1/L2, so the second and third passes hit
//! cache, and each element costs exactly one `exp` — the two-pass "online"
//! softmax would need two or three `exp` per element to save one cheap pass.
//! Relative error of each output: a few ulp (exp ≤ ~1.5 ulp, the block sums,
//! one multiply by the rounded reciprocal) plus the rounding of `x − m` in
//! f32, which `e^{·}` turns into `|x − m|·2^−24` relative (2e-6 for
//! `x − m ≈ −35`); measured ≤ 2.1e-6 against the PyTorch fixture and ≤ 1e-6
//! absolute against the f64 `_ref` twins.
//!
//! Special rows (documented results, never a spurious NaN):
//! - `valid_len == 0`, or every valid entry `−inf` (a fully masked row): the
//!   whole row becomes `0.0` (the query attends to nothing);
//! - a NaN among the valid entries, or a `+inf` (whose share `inf/inf` is
//!   undefined): the valid part of the row becomes NaN, as in PyTorch;
//!   masked entries are still 0.
//!
//! Matrices `(rows, row_len)` above [`SOFTMAX_PAR_MIN_LEN`] elements are split by
//! whole rows among the workers; the dispatch happens once per call and the
//! token is passed into the tasks.

use crate::parallel::{for_each_part_mut, plan_chunks};
use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::math::exp_nonpositive_f32s;

/// Matrices with at least this many elements are split among the workers
/// (same reasoning as [`crate::math::PAR_MIN_LEN`]: ~0.19 ns per element).
pub const SOFTMAX_PAR_MIN_LEN: usize = 1 << 17;
/// Target elements per part (whole rows are never split).
const PAR_TASK_LEN: usize = 1 << 14;

/// Largest of `values` (non-empty). A NaN may or may not survive the vector
/// max (its semantics differ between paths); the exp pass turns any NaN in the
/// row into a NaN sum, and [`softmax_row`] re-checks the all-`−inf` case.
#[inline(always)]
fn row_max<S: Simd>(simd: S, values: &[f32]) -> f32 {
    let (head, tail) = S::as_simd_f32s(values);
    let neg_inf = simd.splat_f32s(f32::NEG_INFINITY);
    let mut acc = [neg_inf; 4];
    let mut quads = head.chunks_exact(4);
    for quad in &mut quads {
        for (a, &v) in acc.iter_mut().zip(quad) {
            *a = simd.max_f32s(*a, v);
        }
    }
    for &v in quads.remainder() {
        acc[0] = simd.max_f32s(acc[0], v);
    }
    let acc = simd.max_f32s(simd.max_f32s(acc[0], acc[1]), simd.max_f32s(acc[2], acc[3]));
    tail.iter()
        .fold(simd.reduce_max_f32s(acc), |m, &v| m.max(v))
}

/// Vectors per block of the exp pass; each block's four accumulators are
/// reduced into an f64 total, so the row sum's rounding error does not grow
/// with the row length.
const SUM_BLOCK_VECTORS: usize = 64;

/// Overwrites `values` with `e^{v − max}` and returns their sum.
#[inline(always)]
fn exp_shifted_sum<S: Simd>(simd: S, values: &mut [f32], max: f32) -> f32 {
    let (head, tail) = S::as_mut_simd_f32s(values);
    let max_v = simd.splat_f32s(max);
    let zero = simd.splat_f32s(0.0);
    let mut total = 0.0f64;
    for block in head.chunks_mut(SUM_BLOCK_VECTORS) {
        let mut acc = [zero; 4];
        let mut quads = block.chunks_exact_mut(4);
        for quad in &mut quads {
            for (a, v) in acc.iter_mut().zip(quad.iter_mut()) {
                *v = exp_nonpositive_f32s(simd, simd.sub_f32s(*v, max_v));
                *a = simd.add_f32s(*a, *v);
            }
        }
        for v in quads.into_remainder() {
            *v = exp_nonpositive_f32s(simd, simd.sub_f32s(*v, max_v));
            acc[0] = simd.add_f32s(acc[0], *v);
        }
        let acc = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
        total += f64::from(simd.reduce_sum_f32s(acc));
    }
    if !tail.is_empty() {
        let e = exp_nonpositive_f32s(simd, simd.sub_f32s(simd.partial_load_f32s(tail), max_v));
        simd.partial_store_f32s(tail, e);
        total += tail.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    total as f32
}

/// `values[i] *= factor`.
#[inline(always)]
fn scale<S: Simd>(simd: S, values: &mut [f32], factor: f32) {
    let (head, tail) = S::as_mut_simd_f32s(values);
    let f = simd.splat_f32s(factor);
    for v in head.iter_mut() {
        *v = simd.mul_f32s(*v, f);
    }
    for v in tail.iter_mut() {
        *v *= factor;
    }
}

/// Softmax of one row over its first `valid` entries, zeros after (`valid ≤ row.len()`).
#[inline(always)]
pub(crate) fn softmax_row<S: Simd>(simd: S, row: &mut [f32], valid: usize) {
    let (live, masked) = row.split_at_mut(valid);
    masked.fill(0.0);
    if live.is_empty() {
        return;
    }
    let max = row_max(simd, live);
    if max == f32::NEG_INFINITY {
        // Fully masked, unless a NaN hid from the max (rare path, plain scan).
        let fill = if live.iter().any(|v| v.is_nan()) {
            f32::NAN
        } else {
            0.0
        };
        live.fill(fill);
        return;
    }
    let sum = exp_shifted_sum(simd, live, max);
    scale(simd, live, 1.0 / sum);
}

/// Valid length of row `r` of a `(rows, row_len)` matrix.
#[inline(always)]
fn valid_len(row_len: usize, causal_offset: Option<usize>, r: usize) -> usize {
    match causal_offset {
        None => row_len,
        Some(p) => row_len.min(p.saturating_add(r).saturating_add(1)),
    }
}

/// One row with an explicit valid length.
struct Row<'a> {
    row: &'a mut [f32],
    valid: usize,
}

impl WithSimd for Row<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        softmax_row(simd, self.row, self.valid);
    }
}

/// A `(rows, row_len)` matrix; row `r` is query position `causal_offset + r`.
struct Rows<'a> {
    data: &'a mut [f32],
    row_len: usize,
    causal_offset: Option<usize>,
}

impl WithSimd for Rows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            data,
            row_len,
            causal_offset,
        } = self;
        let rows_per_task = (PAR_TASK_LEN / row_len).max(1);
        let split = plan_chunks(data.len(), rows_per_task * row_len, SOFTMAX_PAR_MIN_LEN);
        if split.is_parallel() {
            for_each_part_mut(split, data, |elems, data| {
                let first_row = elems.start / row_len;
                let causal_offset = causal_offset.map(|p| p.saturating_add(first_row));
                // Sequential below the threshold: one part never re-splits.
                for (r, row) in data.chunks_exact_mut(row_len).enumerate() {
                    simd.vectorize(Row {
                        valid: valid_len(row_len, causal_offset, r),
                        row,
                    });
                }
            });
        } else {
            for (r, row) in data.chunks_exact_mut(row_len).enumerate() {
                softmax_row(simd, row, valid_len(row_len, causal_offset, r));
            }
        }
    }
}

fn check_valid_len(op: &'static str, row_len: usize, valid_len: usize) -> Result<(), KernelError> {
    if valid_len > row_len {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "valid_len",
            value: valid_len,
            reason: "exceeds the row length",
        });
    }
    Ok(())
}

fn check_rows(op: &'static str, len: usize, row_len: usize) -> Result<(), KernelError> {
    if row_len == 0 && len != 0 {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "row_len",
            value: 0,
            reason: "is zero but the data is not empty",
        });
    }
    if row_len != 0 && !len.is_multiple_of(row_len) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "row_len",
            value: row_len,
            reason: "does not divide the data length",
        });
    }
    Ok(())
}

/// Softmax of one row in place over its first `valid_len` entries (causal valid
/// length); entries from `valid_len` on become exactly 0. `exp` is evaluated
/// only on valid entries. A row with `valid_len == 0` or whose valid entries are
/// all `−inf` becomes all zeros (see the module docs for NaN/+inf).
///
/// Errors with [`KernelError::InvalidDimension`] if `valid_len > row.len()`.
pub fn softmax_row_inplace(row: &mut [f32], valid_len: usize) -> Result<(), KernelError> {
    check_valid_len("softmax_row_inplace", row.len(), valid_len)?;
    dispatch(Row {
        row,
        valid: valid_len,
    });
    Ok(())
}

/// Softmax of every row of a `(rows, row_len)` matrix in place. With
/// `causal_offset = Some(p)`, row `r` has valid length `min(row_len, p + r + 1)`
/// (query `r` at absolute position `p + r` sees keys `0..=p+r`); with `None`
/// every entry is valid. Each row follows [`softmax_row_inplace`].
///
/// Errors with [`KernelError::InvalidDimension`] if `row_len` does not divide
/// `data.len()` (or is 0 for non-empty data).
pub fn softmax_rows_inplace(
    data: &mut [f32],
    row_len: usize,
    causal_offset: Option<usize>,
) -> Result<(), KernelError> {
    check_rows("softmax_rows_inplace", data.len(), row_len)?;
    if data.is_empty() {
        return Ok(());
    }
    dispatch(Rows {
        data,
        row_len,
        causal_offset,
    });
    Ok(())
}

/// Scalar oracle for [`softmax_row_inplace`], accumulating in f64.
pub fn softmax_row_inplace_ref(row: &mut [f32], valid_len: usize) -> Result<(), KernelError> {
    check_valid_len("softmax_row_inplace_ref", row.len(), valid_len)?;
    let (live, masked) = row.split_at_mut(valid_len);
    masked.fill(0.0);
    let max = live.iter().fold(f64::NEG_INFINITY, |m, &v| {
        let v = f64::from(v);
        if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v)
        }
    });
    if max == f64::NEG_INFINITY {
        live.fill(0.0);
        return Ok(());
    }
    let sum: f64 = live.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    for v in live.iter_mut() {
        *v = ((f64::from(*v) - max).exp() / sum) as f32;
    }
    Ok(())
}

/// Scalar oracle for [`softmax_rows_inplace`].
pub fn softmax_rows_inplace_ref(
    data: &mut [f32],
    row_len: usize,
    causal_offset: Option<usize>,
) -> Result<(), KernelError> {
    check_rows("softmax_rows_inplace_ref", data.len(), row_len)?;
    if data.is_empty() {
        return Ok(());
    }
    for (r, row) in data.chunks_exact_mut(row_len).enumerate() {
        softmax_row_inplace_ref(row, valid_len(row_len, causal_offset, r))?;
    }
    Ok(())
}
