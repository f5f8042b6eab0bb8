//! Where tensor bytes live: 64-byte aligned heap buffers ([`AlignedBuf`]) and
//! the [`Storage`] a tensor shares with its views (owned, pooled or mapped).
//!
//! # Alignment without `unsafe`
//!
//! An [`AlignedBuf`] is a `Vec` of [`AlignedBlock`]s, each a `#[repr(C,
//! align(64))]` array of 64 bytes. The allocator must honour the element
//! alignment, so the first byte is 64-byte aligned (one cache line, and one
//! AVX-512 register), and every element type of every dtype (alignment ≤ 4)
//! is aligned too. Views as `&[u8]` are compile-time-checked `bytemuck` casts;
//! views as `&[f32]`/`&[f16]`/`&[bf16]` are `bytemuck::try_cast_slice`, which
//! checks length and alignment and reports failure as an error. The crate
//! contains no `unsafe` (`#![forbid(unsafe_code)]`).
//!
//! # Sharing
//!
//! A [`Storage`] is cheap to clone (an `Arc` bump); tensors and their views
//! share one. Bytes can be borrowed mutably only through the sole handle
//! (`Arc::get_mut`), and never for a memory map, which is read-only.

use crate::dtype::Element;
use crate::error::{Result, TensorError};
use crate::pool::PooledBuffer;
use std::ops::Range;
use std::sync::Arc;

/// Alignment, in bytes, of every buffer this crate allocates.
pub const ALIGN: usize = 64;

/// 64 bytes aligned to 64: the unit an [`AlignedBuf`] is made of.
#[repr(C, align(64))]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AlignedBlock(pub [u8; ALIGN]);

const _: () = assert!(size_of::<AlignedBlock>() == ALIGN && align_of::<AlignedBlock>() == ALIGN);

/// A heap buffer of `len` bytes starting on a 64-byte boundary. Its capacity
/// is `len` rounded up to whole 64-byte blocks; the tail padding is zero.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    blocks: Vec<AlignedBlock>,
    len: usize,
}

impl AlignedBuf {
    /// A zero-filled buffer of `len` bytes. Fresh memory comes zeroed from the
    /// allocator (`calloc`-style), so large buffers cost no memset. Fails with
    /// [`TensorError::AllocationFailed`] when the allocator refuses.
    pub fn zeroed(len: usize) -> Result<AlignedBuf> {
        AlignedBuf::zeroed_for("AlignedBuf::zeroed", len)
    }

    pub(crate) fn zeroed_for(op: &'static str, len: usize) -> Result<AlignedBuf> {
        AlignedBuf::zeroed_blocks(op, len.div_ceil(ALIGN), len)
    }

    /// A zeroed buffer of `blocks` blocks holding `len ≤ blocks * 64` bytes.
    pub(crate) fn zeroed_blocks(op: &'static str, blocks: usize, len: usize) -> Result<AlignedBuf> {
        let failed = TensorError::AllocationFailed { op, bytes: len };
        if blocks
            .checked_mul(ALIGN)
            .is_none_or(|b| b > isize::MAX as usize || b < len)
        {
            return Err(failed);
        }
        let blocks = bytemuck::try_zeroed_vec::<AlignedBlock>(blocks).map_err(|()| failed)?;
        Ok(AlignedBuf { blocks, len })
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<AlignedBuf> {
        let mut buf = AlignedBuf::zeroed_for("AlignedBuf::from_bytes", bytes.len())?;
        buf.as_bytes_mut().copy_from_slice(bytes);
        Ok(buf)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if the length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated: `len` rounded up to a multiple of 64.
    pub fn capacity(&self) -> usize {
        self.blocks.len() * ALIGN
    }

    /// The `len` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let all: &[u8] = bytemuck::must_cast_slice(&self.blocks);
        &all[..self.len]
    }

    /// The `len` bytes, mutably.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        let all: &mut [u8] = bytemuck::must_cast_slice_mut(&mut self.blocks);
        &mut all[..self.len]
    }

    /// The bytes as elements of `T`; fails if `len` is not a multiple of the
    /// element size.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        cast_bytes("AlignedBuf::as_slice", self.as_bytes())
    }

    /// The bytes as mutable elements of `T`; fails if `len` is not a multiple
    /// of the element size.
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        cast_bytes_mut("AlignedBuf::as_mut_slice", self.as_bytes_mut())
    }

    /// Sets the length to `len ≤ capacity()` (the pool reuses a buffer for any
    /// request of its size class). Bytes keep their previous contents.
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }

    /// Zeroes every byte, tail padding included.
    pub(crate) fn fill_zero(&mut self) {
        bytemuck::must_cast_slice_mut::<AlignedBlock, u8>(&mut self.blocks).fill(0);
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// `bytes` as `&[T]`: checks alignment and length, never panics.
pub(crate) fn cast_bytes<'a, T: Element>(op: &'static str, bytes: &'a [u8]) -> Result<&'a [T]> {
    bytemuck::try_cast_slice(bytes)
        .map_err(|e| cast_error::<T>(op, e, bytes.as_ptr() as usize, bytes.len()))
}

/// `bytes` as `&mut [T]`: checks alignment and length, never panics.
pub(crate) fn cast_bytes_mut<'a, T: Element>(
    op: &'static str,
    bytes: &'a mut [u8],
) -> Result<&'a mut [T]> {
    let (address, len) = (bytes.as_ptr() as usize, bytes.len());
    bytemuck::try_cast_slice_mut(bytes).map_err(|e| cast_error::<T>(op, e, address, len))
}

fn cast_error<T: Element>(
    op: &'static str,
    error: bytemuck::PodCastError,
    address: usize,
    len: usize,
) -> TensorError {
    match error {
        bytemuck::PodCastError::TargetAlignmentGreaterAndInputNotAligned => {
            TensorError::Misaligned {
                op,
                dtype: T::DTYPE,
                align: align_of::<T>(),
                address,
            }
        }
        _ => TensorError::LengthMismatch {
            op,
            expected: len.next_multiple_of(size_of::<T>()),
            actual: len,
        },
    }
}

/// Bytes owned elsewhere (typically an `Arc<memmap2::Mmap>`) that tensors may
/// borrow. The tensor keeps the `Arc`, so the map lives as long as any tensor
/// viewing it.
pub type MapSource = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Which kind of [`Storage`] a tensor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageKind {
    /// A heap buffer owned by the tensor and its views.
    Owned,
    /// A buffer rented from a [`crate::TensorPool`], returned when the last
    /// tensor using it drops.
    Pooled,
    /// Read-only bytes borrowed from a memory map (or any [`MapSource`]).
    Mapped,
}

impl StorageKind {
    /// Lowercase name: `"owned"`, `"pooled"`, `"mapped"`.
    pub const fn name(self) -> &'static str {
        match self {
            StorageKind::Owned => "owned",
            StorageKind::Pooled => "pooled",
            StorageKind::Mapped => "mapped",
        }
    }
}

/// The bytes behind a tensor, shared by the tensor and all its views.
/// Cloning is an `Arc` bump.
#[derive(Clone)]
pub struct Storage(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Arc<AlignedBuf>),
    Pooled(Arc<PooledBuffer>),
    Mapped {
        source: MapSource,
        range: Range<usize>,
    },
}

impl Storage {
    /// Storage owning `buf`.
    pub fn owned(buf: AlignedBuf) -> Storage {
        Storage(Repr::Owned(Arc::new(buf)))
    }

    /// Storage holding a rented buffer; it goes back to its pool when the
    /// last clone of this storage drops.
    pub fn pooled(buf: PooledBuffer) -> Storage {
        Storage(Repr::Pooled(Arc::new(buf)))
    }

    /// Storage borrowing `source[range]`. Fails with
    /// [`TensorError::RangeOutOfStorage`] unless the range lies inside the
    /// source. Alignment is checked later, against the dtype viewing it.
    pub fn mapped(source: MapSource, range: Range<usize>) -> Result<Storage> {
        let available = (*source).as_ref().len();
        if range.start > range.end || range.end > available {
            return Err(TensorError::RangeOutOfStorage {
                op: "Storage::mapped",
                start: range.start,
                end: range.end,
                available,
            });
        }
        Ok(Storage(Repr::Mapped { source, range }))
    }

    /// The kind of storage.
    pub fn kind(&self) -> StorageKind {
        match &self.0 {
            Repr::Owned(_) => StorageKind::Owned,
            Repr::Pooled(_) => StorageKind::Pooled,
            Repr::Mapped { .. } => StorageKind::Mapped,
        }
    }

    /// All the bytes of the storage. (For a map source whose `as_ref` shrank
    /// after construction — not possible for a memory map — this is empty and
    /// every later access fails with an error.)
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(buf) => buf.as_bytes(),
            Repr::Pooled(buf) => buf.as_bytes(),
            Repr::Mapped { source, range } => (**source).as_ref().get(range.clone()).unwrap_or(&[]),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// `true` if the storage holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if this handle is the only one (no tensor or view shares it), so
    /// that mutable access would succeed for owned and pooled storage. A
    /// snapshot: another thread holding `&Storage` may clone it right after.
    pub fn is_unique(&self) -> bool {
        match &self.0 {
            Repr::Owned(buf) => Arc::strong_count(buf) == 1,
            Repr::Pooled(buf) => Arc::strong_count(buf) == 1,
            Repr::Mapped { .. } => false,
        }
    }

    /// All the bytes, mutably: only for owned or pooled storage with no other
    /// handle ([`TensorError::Shared`] otherwise); never for mapped storage
    /// ([`TensorError::ReadOnly`]).
    pub(crate) fn bytes_mut(&mut self, op: &'static str) -> Result<&mut [u8]> {
        match &mut self.0 {
            Repr::Owned(buf) => Arc::get_mut(buf)
                .map(AlignedBuf::as_bytes_mut)
                .ok_or(TensorError::Shared { op }),
            Repr::Pooled(buf) => Arc::get_mut(buf)
                .map(PooledBuffer::as_bytes_mut)
                .ok_or(TensorError::Shared { op }),
            Repr::Mapped { .. } => Err(TensorError::ReadOnly {
                op,
                storage: StorageKind::Mapped.name(),
            }),
        }
    }

    /// `self.as_bytes()[range]`, or [`TensorError::RangeOutOfStorage`].
    pub(crate) fn byte_range(&self, op: &'static str, range: Range<usize>) -> Result<&[u8]> {
        let bytes = self.as_bytes();
        let available = bytes.len();
        bytes
            .get(range.clone())
            .ok_or(TensorError::RangeOutOfStorage {
                op,
                start: range.start,
                end: range.end,
                available,
            })
    }

    /// `self.bytes_mut()[range]`, or an error.
    pub(crate) fn byte_range_mut(
        &mut self,
        op: &'static str,
        range: Range<usize>,
    ) -> Result<&mut [u8]> {
        let bytes = self.bytes_mut(op)?;
        let available = bytes.len();
        bytes
            .get_mut(range.clone())
            .ok_or(TensorError::RangeOutOfStorage {
                op,
                start: range.start,
                end: range.end,
                available,
            })
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("kind", &self.kind())
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buf_is_aligned_and_zeroed() {
        for len in [0, 1, 63, 64, 65, 1000] {
            let buf = AlignedBuf::zeroed(len).unwrap();
            assert_eq!(buf.len(), len);
            assert_eq!(buf.capacity(), len.div_ceil(64) * 64);
            assert!(buf.as_bytes().iter().all(|&b| b == 0));
            if len > 0 {
                assert_eq!(buf.as_bytes().as_ptr() as usize % ALIGN, 0);
            }
        }
    }

    #[test]
    fn typed_views_check_length() {
        let mut buf = AlignedBuf::zeroed(10).unwrap();
        assert_eq!(buf.as_slice::<half::f16>().unwrap().len(), 5);
        assert!(matches!(
            buf.as_slice::<f32>(),
            Err(TensorError::LengthMismatch { .. })
        ));
        buf.as_mut_slice::<half::bf16>().unwrap()[4] = half::bf16::ONE;
        assert_eq!(&buf.as_bytes()[8..], &half::bf16::ONE.to_le_bytes());
    }

    #[test]
    fn impossible_allocation_is_an_error() {
        assert!(matches!(
            AlignedBuf::zeroed(usize::MAX),
            Err(TensorError::AllocationFailed { .. })
        ));
    }
}
