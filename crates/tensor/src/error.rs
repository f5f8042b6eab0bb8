//! The crate's single error type, [`TensorError`].
//!
//! Every fallible function in this crate returns `Result<_, TensorError>`; none
//! panics on bad input. Each variant names the operation that failed (`op`, the
//! public function's name such as `"narrow"` or `"from_mapped"`) and carries the
//! shapes, strides, dtypes or byte counts involved, so a message read in a log is
//! enough to locate the mistake.
//!
//! Shapes and strides are stored inline ([`Shape`] and [`Strides`] are fixed
//! capacity, `Copy`), so building an error never allocates.

use crate::dtype::DType;
use crate::shape::{Shape, Strides};

/// Everything that can go wrong in `smallmind-tensor`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    /// Two shapes that had to agree do not (for example a reshape that changes
    /// the element count, or a destination tensor of the wrong shape).
    #[error("{op}: shape mismatch: expected {expected:?}, got {actual:?}")]
    ShapeMismatch {
        /// The failing operation.
        op: &'static str,
        /// The shape the operation required.
        expected: Shape,
        /// The shape it was given.
        actual: Shape,
    },

    /// An index or a `start..start + len` range exceeds the size of a dimension.
    #[error(
        "{op}: range {start}..{start}+{len} out of bounds for dim {dim} of size {size} in shape {shape:?}"
    )]
    OutOfBounds {
        /// The failing operation.
        op: &'static str,
        /// The dimension indexed.
        dim: usize,
        /// First index of the requested range.
        start: usize,
        /// Length of the requested range (1 for a single index).
        len: usize,
        /// Size of the dimension.
        size: usize,
        /// The full shape being indexed.
        shape: Shape,
    },

    /// A dimension number is not below the tensor's rank.
    #[error("{op}: dim {dim} does not exist in a rank-{rank} tensor of shape {shape:?}")]
    DimOutOfRange {
        /// The failing operation.
        op: &'static str,
        /// The requested dimension.
        dim: usize,
        /// The tensor's rank.
        rank: usize,
        /// The tensor's shape.
        shape: Shape,
    },

    /// A dimension appears twice where each must appear once (a permutation).
    #[error("{op}: dim {dim} repeated for a tensor of shape {shape:?}")]
    RepeatedDim {
        /// The failing operation.
        op: &'static str,
        /// The repeated dimension.
        dim: usize,
        /// The tensor's shape.
        shape: Shape,
    },

    /// The operation needs a contiguous row-major layout and the tensor has
    /// another one (for example after a transpose).
    #[error("{op}: tensor of shape {shape:?} with strides {strides:?} is not contiguous")]
    NotContiguous {
        /// The failing operation.
        op: &'static str,
        /// The tensor's shape.
        shape: Shape,
        /// The tensor's strides, in elements.
        strides: Strides,
    },

    /// The tensor's dtype is not the one requested.
    #[error("{op}: dtype mismatch: expected {expected}, got {actual}")]
    DTypeMismatch {
        /// The failing operation.
        op: &'static str,
        /// The dtype the caller asked for.
        expected: DType,
        /// The tensor's dtype.
        actual: DType,
    },

    /// Bytes cannot be viewed as `dtype` elements because their address is not
    /// a multiple of the element alignment.
    #[error("{op}: {dtype} data at address {address:#x} is not {align}-byte aligned")]
    Misaligned {
        /// The failing operation.
        op: &'static str,
        /// The element type requested.
        dtype: DType,
        /// The alignment that type requires, in bytes.
        align: usize,
        /// The offending address.
        address: usize,
    },

    /// An element count or byte size does not fit in `usize` (or exceeds
    /// `isize::MAX` bytes, the most any allocation can hold).
    #[error(
        "{op}: {} of shape {shape:?} overflows",
        dtype.map_or("element count".to_string(), |d| format!("{d} byte size"))
    )]
    SizeOverflow {
        /// The failing operation.
        op: &'static str,
        /// The shape whose size overflowed.
        shape: Shape,
        /// The dtype whose byte size was computed, `None` when the element
        /// count (or a stride) itself overflowed.
        dtype: Option<DType>,
    },

    /// A slice or byte range has the wrong length.
    #[error("{op}: length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// The failing operation.
        op: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },

    /// A byte range does not lie inside the storage it refers to.
    #[error("{op}: byte range {start}..{end} exceeds storage of {available} bytes")]
    RangeOutOfStorage {
        /// The failing operation.
        op: &'static str,
        /// Start of the byte range.
        start: usize,
        /// End (exclusive) of the byte range.
        end: usize,
        /// Bytes available in the storage.
        available: usize,
    },

    /// A shape has more dimensions than [`crate::shape::MAX_RANK`].
    #[error("{op}: rank {rank} exceeds the maximum of {max}")]
    RankTooLarge {
        /// The failing operation.
        op: &'static str,
        /// The rank requested.
        rank: usize,
        /// The supported maximum.
        max: usize,
    },

    /// An element count is not a whole number of blocks of a block-quantized
    /// dtype.
    #[error("{op}: {numel} elements is not a multiple of the {dtype} block size {block_size}")]
    PartialBlock {
        /// The failing operation.
        op: &'static str,
        /// The dtype.
        dtype: DType,
        /// The element count.
        numel: usize,
        /// Elements per block of `dtype`.
        block_size: usize,
    },

    /// Mutable access was requested to storage that is read-only (a memory map).
    #[error("{op}: {storage} storage is read-only")]
    ReadOnly {
        /// The failing operation.
        op: &'static str,
        /// The storage kind (`"mapped"`).
        storage: &'static str,
    },

    /// Mutable access was requested while other tensors share the storage.
    #[error("{op}: storage is shared with other tensors; mutable access needs a unique owner")]
    Shared {
        /// The failing operation.
        op: &'static str,
    },

    /// The allocator could not provide a buffer.
    #[error("{op}: failed to allocate {bytes} bytes")]
    AllocationFailed {
        /// The failing operation.
        op: &'static str,
        /// The size requested, in bytes.
        bytes: usize,
    },

    /// A kernel refused the data (for example quantized blocks that do not tile the bytes).
    #[error("{op}: {source}")]
    Kernel {
        /// The failing operation.
        op: &'static str,
        /// The kernel's error.
        source: smallmind_kernels::KernelError,
    },
}

/// Shorthand for `Result<T, TensorError>`.
pub type Result<T> = std::result::Result<T, TensorError>;

#[cfg(test)]
mod tests {
    #[test]
    fn errors_stay_small() {
        // Clippy's `result_large_err` limit; shapes and strides are inline.
        assert!(size_of::<super::TensorError>() <= 128);
    }
}
