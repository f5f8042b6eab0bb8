//! Row-major matrix views over borrowed slices: the currency of every op.
//!
//! A view is `(rows, cols)` with a row stride `ld ≥ cols`, so a column block
//! of a wider buffer (one head of a `(T, H·D)` projection, the K part of a
//! fused QKV row) is a view too, without copying.

use crate::OpsError;

/// A read-only `(rows, cols)` view with row stride `ld`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements; row `r` starts at `r·ld`.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row stride in elements.
    pub ld: usize,
}

/// A mutable `(rows, cols)` view with row stride `ld`.
#[derive(Debug)]
pub struct MatMut<'a> {
    /// The elements; row `r` starts at `r·ld`.
    pub data: &'a mut [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row stride in elements.
    pub ld: usize,
}

/// Elements a `(rows, cols)` matrix with stride `ld` spans: `(rows−1)·ld + cols`.
pub(crate) fn span(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1).saturating_mul(ld).saturating_add(cols)
    }
}

fn check_view(
    op: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    ld: usize,
) -> Result<(), OpsError> {
    if ld < cols {
        return Err(OpsError::Shape {
            op,
            what: format!("row stride {ld} is smaller than the {cols} columns"),
        });
    }
    let need = span(rows, cols, ld);
    if len < need {
        return Err(OpsError::Length {
            op,
            operand: "matrix",
            expected: need,
            actual: len,
        });
    }
    Ok(())
}

impl<'a> MatRef<'a> {
    /// A contiguous `(rows, cols)` view of `data`, checked.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, OpsError> {
        Self::strided(data, rows, cols, cols)
    }

    /// A `(rows, cols)` view with row stride `ld`, checked.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Result<Self, OpsError> {
        check_view("MatRef", data.len(), rows, cols, ld)?;
        Ok(MatRef {
            data,
            rows,
            cols,
            ld,
        })
    }

    /// Row `r` (`cols` elements).
    pub fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.ld..r * self.ld + self.cols]
    }
}

impl<'a> MatMut<'a> {
    /// A contiguous `(rows, cols)` view of `data`, checked.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, OpsError> {
        Self::strided(data, rows, cols, cols)
    }

    /// A `(rows, cols)` view with row stride `ld`, checked.
    pub fn strided(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        ld: usize,
    ) -> Result<Self, OpsError> {
        check_view("MatMut", data.len(), rows, cols, ld)?;
        Ok(MatMut {
            data,
            rows,
            cols,
            ld,
        })
    }

    /// Row `r` (`cols` elements), mutably.
    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.ld..r * self.ld + self.cols]
    }

    /// The same view, read-only.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            ld: self.ld,
        }
    }
}
