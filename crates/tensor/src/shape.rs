//! Shapes, strides and layouts: the index arithmetic of tensors, with no data.
//!
//! - [`Shape`]: the dimensions, outermost first (`[rows, cols]` for a matrix,
//!   `(B, T, C)` for activations). Its element count is checked for overflow
//!   once, at construction, so [`Shape::numel`] cannot fail afterwards.
//! - [`Strides`]: for each dimension, how many *elements* (not bytes) apart two
//!   neighbours along it are in storage. Row-major contiguous strides of
//!   `[d0, d1, d2]` are `[d1*d2, d2, 1]`.
//! - [`Layout`]: a shape, its strides and an element offset into storage. The
//!   element at index `i` lives at `offset + Σ i[k] * strides[k]`. Views
//!   ([`Layout::narrow`], [`Layout::select`], [`Layout::transpose`],
//!   [`Layout::permute`], [`Layout::reshape`]) only compute a new layout.
//!
//! Shapes and strides are stored inline with a fixed capacity of [`MAX_RANK`]
//! dimensions, so they are `Copy` and taking a view never allocates (views are
//! made in the decode loop, where allocation is not allowed). Strides are
//! unsigned: there are no negative (flipped) views.

use crate::error::{Result, TensorError};

/// Most dimensions a [`Shape`] can have. Transformer tensors need at most 5
/// (`(B, T, 3, H, D)` for a fused QKV projection split into heads). Kept small
/// because shapes are stored inline, in views and in errors: at 5, every
/// [`TensorError`] variant stays within 128 bytes, so results stay cheap to
/// return.
pub const MAX_RANK: usize = 5;

/// The dimensions of a tensor, outermost first, with a checked element count.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// `dims[..rank]` are the dimensions; the rest are zero.
    dims: [usize; MAX_RANK],
    rank: u8,
}

impl Shape {
    /// A shape with dimensions `dims` (outermost first; `&[]` is a scalar).
    ///
    /// Fails with [`TensorError::RankTooLarge`] for more than [`MAX_RANK`]
    /// dimensions and [`TensorError::SizeOverflow`] if the element count, or
    /// any row-major stride, does not fit in `usize`.
    pub fn new(dims: &[usize]) -> Result<Shape> {
        Shape::new_for("Shape::new", dims)
    }

    /// [`Shape::new`] with errors naming `op`.
    pub(crate) fn new_for(op: &'static str, dims: &[usize]) -> Result<Shape> {
        if dims.len() > MAX_RANK {
            return Err(TensorError::RankTooLarge {
                op,
                rank: dims.len(),
                max: MAX_RANK,
            });
        }
        let mut shape = Shape {
            dims: [0; MAX_RANK],
            rank: dims.len() as u8,
        };
        shape.dims[..dims.len()].copy_from_slice(dims);
        // Every suffix product must fit: the longest is the element count,
        // the others are the contiguous strides (which can overflow on their
        // own when an outer dimension is zero, as in `[0, usize::MAX, 2]`).
        let mut product: usize = 1;
        for &d in dims.iter().rev() {
            product = product.checked_mul(d).ok_or(TensorError::SizeOverflow {
                op,
                shape,
                dtype: None,
            })?;
        }
        Ok(shape)
    }

    /// The shape of a scalar (rank 0, one element).
    pub const fn scalar() -> Shape {
        Shape {
            dims: [0; MAX_RANK],
            rank: 0,
        }
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }

    /// Number of dimensions.
    pub const fn rank(&self) -> usize {
        self.rank as usize
    }

    /// Number of elements: the product of the dimensions (1 for a scalar).
    pub fn numel(&self) -> usize {
        // Innermost first: the partial products are the suffix products
        // checked at construction, so none overflows (outermost first could:
        // `[usize::MAX, 2, 0]` has 0 elements but `usize::MAX * 2` overflows).
        self.dims().iter().rev().product()
    }

    /// Row-major contiguous strides, in elements: `[d1*d2, d2, 1]` for
    /// `[d0, d1, d2]`. Checked at construction, so they cannot overflow.
    pub fn contiguous_strides(&self) -> Strides {
        let mut strides = Strides {
            values: [0; MAX_RANK],
            rank: self.rank,
        };
        let mut stride = 1usize;
        for (s, &d) in strides.values[..self.rank()]
            .iter_mut()
            .zip(self.dims())
            .rev()
        {
            *s = stride;
            stride = stride.wrapping_mul(d);
        }
        strides
    }
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.dims()).finish()
    }
}

impl AsRef<[usize]> for Shape {
    fn as_ref(&self) -> &[usize] {
        self.dims()
    }
}

impl TryFrom<&[usize]> for Shape {
    type Error = TensorError;

    fn try_from(dims: &[usize]) -> Result<Shape> {
        Shape::new(dims)
    }
}

/// Per-dimension distances between neighbouring elements, in elements.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Strides {
    /// `values[..rank]` are the strides; the rest are zero.
    values: [usize; MAX_RANK],
    rank: u8,
}

impl Strides {
    /// Strides from a slice. Fails with [`TensorError::RankTooLarge`] for more
    /// than [`MAX_RANK`] entries.
    pub fn new(values: &[usize]) -> Result<Strides> {
        if values.len() > MAX_RANK {
            return Err(TensorError::RankTooLarge {
                op: "Strides::new",
                rank: values.len(),
                max: MAX_RANK,
            });
        }
        let mut strides = Strides {
            values: [0; MAX_RANK],
            rank: values.len() as u8,
        };
        strides.values[..values.len()].copy_from_slice(values);
        Ok(strides)
    }

    /// The strides, outermost dimension first.
    pub fn values(&self) -> &[usize] {
        &self.values[..self.rank as usize]
    }
}

impl std::fmt::Debug for Strides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

impl AsRef<[usize]> for Strides {
    fn as_ref(&self) -> &[usize] {
        self.values()
    }
}

/// Where the elements of a tensor are in its storage: shape, strides and an
/// element offset.
///
/// Invariant: the storage extent ([`Layout::extent`], one past the last
/// element reached) fits in `usize`. Every constructor checks it and every view
/// stays inside the layout it came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: Shape,
    strides: Strides,
    offset: usize,
}

impl Layout {
    /// The row-major contiguous layout of `shape`, starting at element 0.
    pub fn contiguous(shape: Shape) -> Layout {
        Layout {
            shape,
            strides: shape.contiguous_strides(),
            offset: 0,
        }
    }

    /// An arbitrary strided layout. Fails if `strides` has a different rank
    /// from `shape`, or the extent overflows `usize`.
    pub fn strided(shape: Shape, strides: Strides, offset: usize) -> Result<Layout> {
        const OP: &str = "Layout::strided";
        if strides.values().len() != shape.rank() {
            return Err(TensorError::LengthMismatch {
                op: OP,
                expected: shape.rank(),
                actual: strides.values().len(),
            });
        }
        let layout = Layout {
            shape,
            strides,
            offset,
        };
        layout.checked_extent().ok_or(TensorError::SizeOverflow {
            op: OP,
            shape,
            dtype: None,
        })?;
        Ok(layout)
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The dimensions (same as `shape().dims()`).
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        self.strides.values()
    }

    /// The strides as a value.
    pub fn strides_value(&self) -> Strides {
        self.strides
    }

    /// Element offset of index `[0, 0, …]` in storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// `true` if the elements are exactly `storage[offset..offset + numel]` in
    /// row-major order. Strides of size-1 dimensions are ignored (they are
    /// never stepped over) and an empty tensor is always contiguous.
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected = 1usize;
        for (&d, &s) in self.dims().iter().zip(self.strides()).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// One past the last storage element this layout reaches (`offset` for an
    /// empty tensor). Storage must hold at least this many elements.
    pub fn extent(&self) -> usize {
        // The invariant guarantees this is `Some`.
        self.checked_extent().unwrap_or(usize::MAX)
    }

    fn checked_extent(&self) -> Option<usize> {
        if self.numel() == 0 {
            return Some(self.offset);
        }
        let mut last = self.offset;
        for (&d, &s) in self.dims().iter().zip(self.strides()) {
            last = last.checked_add((d - 1).checked_mul(s)?)?;
        }
        last.checked_add(1)
    }

    /// Storage offset of the element at `index` (one entry per dimension).
    pub fn offset_of(&self, index: &[usize]) -> Result<usize> {
        const OP: &str = "offset_of";
        if index.len() != self.rank() {
            return Err(TensorError::LengthMismatch {
                op: OP,
                expected: self.rank(),
                actual: index.len(),
            });
        }
        let mut pos = self.offset;
        for (dim, ((&i, &d), &s)) in index
            .iter()
            .zip(self.dims())
            .zip(self.strides())
            .enumerate()
        {
            if i >= d {
                return Err(self.out_of_bounds(OP, dim, i, 1));
            }
            // In bounds, so `pos` stays below the extent: no overflow.
            pos += i * s;
        }
        Ok(pos)
    }

    /// The sub-layout `start..start + len` along `dim`; other dimensions and
    /// the rank are unchanged. `len` may be 0.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Layout> {
        const OP: &str = "narrow";
        let size = self.dim_size(OP, dim)?;
        match start.checked_add(len) {
            Some(end) if end <= size => {}
            _ => return Err(self.out_of_bounds(OP, dim, start, len)),
        }
        let mut out = *self;
        out.shape.dims[dim] = len;
        if out.numel() > 0 {
            // `start < size` and no dimension is empty, so this element exists
            // and the sum is below the extent. An empty view keeps the offset,
            // so it never points past the storage.
            out.offset += start * self.strides()[dim];
        }
        Ok(out)
    }

    /// The layout of index `index` along `dim`, with that dimension removed
    /// (rank − 1). `select(0, i)` of a `(rows, cols)` matrix is row `i`, `(cols,)`.
    pub fn select(&self, dim: usize, index: usize) -> Result<Layout> {
        const OP: &str = "select";
        let size = self.dim_size(OP, dim)?;
        if index >= size {
            return Err(self.out_of_bounds(OP, dim, index, 1));
        }
        let rank = self.rank();
        let mut out = *self;
        if self.numel() > 0 {
            // As in `narrow`: only a non-empty view moves the offset.
            out.offset += index * self.strides()[dim];
        }
        out.shape.dims.copy_within(dim + 1..rank, dim);
        out.strides.values.copy_within(dim + 1..rank, dim);
        out.shape.dims[rank - 1] = 0;
        out.strides.values[rank - 1] = 0;
        out.shape.rank -= 1;
        out.strides.rank -= 1;
        Ok(out)
    }

    /// Swaps dimensions `d0` and `d1` (and their strides). The result is
    /// usually not contiguous.
    pub fn transpose(&self, d0: usize, d1: usize) -> Result<Layout> {
        const OP: &str = "transpose";
        self.dim_size(OP, d0)?;
        self.dim_size(OP, d1)?;
        let mut out = *self;
        out.shape.dims.swap(d0, d1);
        out.strides.values.swap(d0, d1);
        Ok(out)
    }

    /// Reorders the dimensions: dimension `k` of the result is dimension
    /// `perm[k]` of `self`. `perm` must be a permutation of `0..rank`.
    /// Example: `(B, T, H, D)` permuted by `[0, 2, 1, 3]` is `(B, H, T, D)`.
    pub fn permute(&self, perm: &[usize]) -> Result<Layout> {
        const OP: &str = "permute";
        let rank = self.rank();
        if perm.len() != rank {
            return Err(TensorError::LengthMismatch {
                op: OP,
                expected: rank,
                actual: perm.len(),
            });
        }
        let mut seen = [false; MAX_RANK];
        let mut out = *self;
        for (k, &p) in perm.iter().enumerate() {
            self.dim_size(OP, p)?;
            if seen[p] {
                return Err(TensorError::RepeatedDim {
                    op: OP,
                    dim: p,
                    shape: self.shape,
                });
            }
            seen[p] = true;
            out.shape.dims[k] = self.shape.dims[p];
            out.strides.values[k] = self.strides.values[p];
        }
        Ok(out)
    }

    /// The same elements seen with shape `dims`. Needs a contiguous layout
    /// ([`TensorError::NotContiguous`] otherwise) and the same element count
    /// ([`TensorError::ShapeMismatch`] otherwise).
    pub fn reshape(&self, dims: &[usize]) -> Result<Layout> {
        const OP: &str = "reshape";
        let shape = Shape::new_for(OP, dims)?;
        if shape.numel() != self.numel() {
            return Err(TensorError::ShapeMismatch {
                op: OP,
                expected: self.shape,
                actual: shape,
            });
        }
        if !self.is_contiguous() {
            return Err(self.not_contiguous(OP));
        }
        Ok(Layout {
            shape,
            strides: shape.contiguous_strides(),
            offset: self.offset,
        })
    }

    /// Calls `f(start)` with the storage offset of the first element of every
    /// innermost row, in row-major order. Each row has [`Layout::row_len`]
    /// elements, [`Layout::row_stride`] apart. Nothing is called for an empty
    /// layout; a scalar is one row of one element.
    pub fn for_each_row(&self, mut f: impl FnMut(usize)) {
        if self.numel() == 0 {
            return;
        }
        let rank = self.rank();
        if rank <= 1 {
            f(self.offset);
            return;
        }
        // Odometer over the outer `rank - 1` dimensions. Wrapping arithmetic:
        // stepping past the end of a size-1 dimension with a huge stride may
        // leave the valid range for an instant, and comes straight back.
        let outer = rank - 1;
        let dims = &self.dims()[..outer];
        let strides = &self.strides()[..outer];
        let mut index = [0usize; MAX_RANK];
        let mut pos = self.offset;
        loop {
            f(pos);
            let mut d = outer;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                index[d] += 1;
                pos = pos.wrapping_add(strides[d]);
                if index[d] < dims[d] {
                    break;
                }
                pos = pos.wrapping_sub(strides[d].wrapping_mul(dims[d]));
                index[d] = 0;
            }
        }
    }

    /// Elements per innermost row: the last dimension (1 for a scalar).
    pub fn row_len(&self) -> usize {
        self.dims().last().copied().unwrap_or(1)
    }

    /// Distance between neighbours in an innermost row: the last stride (1
    /// for a scalar).
    pub fn row_stride(&self) -> usize {
        self.strides().last().copied().unwrap_or(1)
    }

    /// Size of `dim`, or [`TensorError::DimOutOfRange`].
    fn dim_size(&self, op: &'static str, dim: usize) -> Result<usize> {
        self.dims()
            .get(dim)
            .copied()
            .ok_or(TensorError::DimOutOfRange {
                op,
                dim,
                rank: self.rank(),
                shape: self.shape,
            })
    }

    fn out_of_bounds(&self, op: &'static str, dim: usize, start: usize, len: usize) -> TensorError {
        TensorError::OutOfBounds {
            op,
            dim,
            start,
            len,
            size: self.dims().get(dim).copied().unwrap_or(0),
            shape: self.shape,
        }
    }

    /// A [`TensorError::NotContiguous`] for this layout.
    pub(crate) fn not_contiguous(&self, op: &'static str) -> TensorError {
        TensorError::NotContiguous {
            op,
            shape: self.shape,
            strides: self.strides,
        }
    }
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("offset", &self.offset)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_strides_are_row_major() {
        let s = Shape::new(&[2, 3, 4]).unwrap();
        assert_eq!(s.contiguous_strides().values(), &[12, 4, 1]);
        assert_eq!(s.numel(), 24);
        assert_eq!(Shape::scalar().numel(), 1);
        assert_eq!(Shape::new(&[]).unwrap(), Shape::scalar());
    }

    #[test]
    fn overflow_and_rank_are_rejected() {
        assert!(matches!(
            Shape::new(&[usize::MAX, 2]),
            Err(TensorError::SizeOverflow { .. })
        ));
        // Zero elements, but the stride of dim 0 overflows.
        assert!(matches!(
            Shape::new(&[0, usize::MAX, 2]),
            Err(TensorError::SizeOverflow { .. })
        ));
        assert!(matches!(
            Shape::new(&[1; MAX_RANK + 1]),
            Err(TensorError::RankTooLarge { .. })
        ));
    }

    #[test]
    fn select_removes_the_dimension() {
        let l = Layout::contiguous(Shape::new(&[2, 3, 4]).unwrap());
        let s = l.select(1, 2).unwrap();
        assert_eq!(s.dims(), &[2, 4]);
        assert_eq!(s.strides(), &[12, 1]);
        assert_eq!(s.offset(), 8);
    }

    #[test]
    fn size_one_dims_do_not_break_contiguity() {
        let shape = Shape::new(&[1, 3]).unwrap();
        let l = Layout::strided(shape, Strides::new(&[1000, 1]).unwrap(), 5).unwrap();
        assert!(l.is_contiguous());
        assert_eq!(l.extent(), 8);
    }

    #[test]
    fn rows_of_a_scalar_and_of_an_empty_layout() {
        let mut rows = Vec::new();
        Layout::contiguous(Shape::scalar()).for_each_row(|r| rows.push(r));
        assert_eq!(rows, [0]);
        rows.clear();
        Layout::contiguous(Shape::new(&[3, 0]).unwrap()).for_each_row(|r| rows.push(r));
        assert!(rows.is_empty());
    }
}
