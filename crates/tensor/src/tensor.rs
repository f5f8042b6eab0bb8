//! [`Tensor`]: a [`Layout`] (shape, strides, offset) and a [`DType`] over a
//! shared [`Storage`] (owned, pooled or mapped).
//!
//! # Views
//!
//! Cloning a tensor, and every view ([`Tensor::narrow`], [`Tensor::select`],
//! [`Tensor::row`], [`Tensor::transpose`], [`Tensor::permute`],
//! [`Tensor::reshape`]), copies the small inline layout and bumps the storage's
//! `Arc`: no data is copied and nothing is allocated.
//!
//! # Mutability
//!
//! There is one tensor type. Reading is always allowed; writing
//! ([`Tensor::as_mut_slice`]) needs `&mut self` *and* a storage that no other
//! tensor or view shares (checked with `Arc::get_mut`, one atomic load), and
//! is refused for memory maps. So the usual pattern — allocate or rent an
//! output, fill it, then hand out read-only clones — needs no `unsafe` and no
//! second type, and aliasing mistakes are reported as [`TensorError::Shared`]
//! instead of compiling into data races. A separate `TensorMut` type would have
//! given the same guarantee at compile time, but every op would then need two
//! versions of its inputs and outputs; the run-time check costs one atomic
//! load per call, not per element. Writing two disjoint parts of one buffer at
//! once is done by taking the whole slice mutably and splitting it
//! (`split_at_mut`, `chunks_mut`).
//!
//! # Element access
//!
//! Typed slices ([`Tensor::as_slice`]) need a contiguous tensor of the matching
//! dtype. Any layout can be read element-wise as f32 ([`Tensor::copy_to_f32`],
//! [`Tensor::to_f32_vec`], [`Tensor::get_f32`]); f16 and bf16 are widened
//! exactly. [`Tensor::to_contiguous`] copies a strided view into a fresh
//! owned buffer.

use crate::dtype::{ByteSize, DType, Element};
use crate::error::{Result, TensorError};
use crate::pool::{PooledBuffer, TensorPool};
use crate::shape::{Layout, Shape};
use crate::storage::{AlignedBuf, MapSource, Storage, StorageKind, cast_bytes, cast_bytes_mut};
use half::{bf16, f16};
use std::ops::Range;

/// An n-dimensional array of one [`DType`]: a layout over shared storage.
#[derive(Clone)]
pub struct Tensor {
    storage: Storage,
    layout: Layout,
    dtype: DType,
}

impl Tensor {
    /// A tensor of `layout` and `dtype` over `storage`.
    ///
    /// Fails if the storage is too short for the layout's extent
    /// ([`TensorError::RangeOutOfStorage`]), or if its first byte is not
    /// aligned for `dtype` ([`TensorError::Misaligned`]; owned and pooled
    /// storage always is, a memory map at an odd offset may not be).
    pub fn from_storage(storage: Storage, layout: Layout, dtype: DType) -> Result<Tensor> {
        Tensor::from_storage_for("from_storage", storage, layout, dtype)
    }

    fn from_storage_for(
        op: &'static str,
        storage: Storage,
        layout: Layout,
        dtype: DType,
    ) -> Result<Tensor> {
        let tensor = Tensor {
            storage,
            layout,
            dtype,
        };
        let needed = tensor.bytes_of(op, layout.extent())?;
        if needed > tensor.storage.len() {
            return Err(TensorError::RangeOutOfStorage {
                op,
                start: 0,
                end: needed,
                available: tensor.storage.len(),
            });
        }
        let address = tensor.storage.as_bytes().as_ptr() as usize;
        if !address.is_multiple_of(dtype.align()) {
            return Err(TensorError::Misaligned {
                op,
                dtype,
                align: dtype.align(),
                address,
            });
        }
        Ok(tensor)
    }

    /// A contiguous tensor of shape `dims` and `dtype`, all zeros, in a fresh
    /// owned 64-byte aligned buffer.
    pub fn zeros(dims: &[usize], dtype: DType) -> Result<Tensor> {
        const OP: &str = "zeros";
        let shape = Shape::new_for(OP, dims)?;
        let buf = AlignedBuf::zeroed_for(OP, dtype.byte_size_of(OP, &shape)?)?;
        Tensor::from_storage_for(OP, Storage::owned(buf), Layout::contiguous(shape), dtype)
    }

    /// A contiguous tensor of shape `dims` holding a copy of `data` (row-major),
    /// with `T`'s dtype. `data.len()` must equal the element count.
    pub fn from_slice<T: Element>(dims: &[usize], data: &[T]) -> Result<Tensor> {
        const OP: &str = "from_slice";
        let shape = Shape::new_for(OP, dims)?;
        if data.len() != shape.numel() {
            return Err(TensorError::LengthMismatch {
                op: OP,
                expected: shape.numel(),
                actual: data.len(),
            });
        }
        let buf = AlignedBuf::from_bytes(bytemuck::cast_slice(data))?;
        Tensor::from_storage_for(OP, Storage::owned(buf), Layout::contiguous(shape), T::DTYPE)
    }

    /// A contiguous f32 tensor of shape `dims` holding a copy of `data`
    /// (a `&Vec<f32>` works too). Same as `from_slice::<f32>`.
    pub fn from_f32(dims: &[usize], data: &[f32]) -> Result<Tensor> {
        Tensor::from_slice(dims, data)
    }

    /// A contiguous read-only tensor over `source[byte_range]`, typically a
    /// region of an `Arc<memmap2::Mmap>` made by a loader. Nothing is copied;
    /// the tensor keeps `source` alive.
    ///
    /// Checks that the range lies inside the source
    /// ([`TensorError::RangeOutOfStorage`]), that its length is exactly the
    /// byte size of `dims` in `dtype` ([`TensorError::LengthMismatch`]), and
    /// that its start is aligned for `dtype` ([`TensorError::Misaligned`]).
    pub fn from_mapped(
        source: MapSource,
        byte_range: Range<usize>,
        dims: &[usize],
        dtype: DType,
    ) -> Result<Tensor> {
        const OP: &str = "from_mapped";
        let shape = Shape::new_for(OP, dims)?;
        let expected = dtype.byte_size_of(OP, &shape)?;
        let actual = byte_range.end.saturating_sub(byte_range.start);
        if actual != expected {
            return Err(TensorError::LengthMismatch {
                op: OP,
                expected,
                actual,
            });
        }
        let storage = Storage::mapped(source, byte_range).map_err(|e| match e {
            TensorError::RangeOutOfStorage {
                start,
                end,
                available,
                ..
            } => TensorError::RangeOutOfStorage {
                op: OP,
                start,
                end,
                available,
            },
            other => other,
        })?;
        Tensor::from_storage_for(OP, storage, Layout::contiguous(shape), dtype)
    }

    /// A contiguous tensor of shape `dims` over a rented buffer, which returns
    /// to its pool when the last tensor using it drops. The buffer must hold
    /// at least the tensor's bytes.
    pub fn from_pooled(buf: PooledBuffer, dims: &[usize], dtype: DType) -> Result<Tensor> {
        const OP: &str = "from_pooled";
        let shape = Shape::new_for(OP, dims)?;
        Tensor::from_storage_for(OP, Storage::pooled(buf), Layout::contiguous(shape), dtype)
    }

    /// A contiguous tensor of shape `dims` in a buffer rented from `pool`;
    /// contents unspecified (see [`TensorPool::rent`]).
    pub fn rent(pool: &TensorPool, dims: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::rent_for("rent", pool, dims, dtype, false)
    }

    /// A contiguous tensor of shape `dims`, all zeros, in a buffer rented from
    /// `pool`.
    pub fn rent_zeroed(pool: &TensorPool, dims: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::rent_for("rent_zeroed", pool, dims, dtype, true)
    }

    fn rent_for(
        op: &'static str,
        pool: &TensorPool,
        dims: &[usize],
        dtype: DType,
        zero: bool,
    ) -> Result<Tensor> {
        let shape = Shape::new_for(op, dims)?;
        let buf = pool.rent_for(op, dtype.byte_size_of(op, &shape)?, zero)?;
        Tensor::from_storage_for(op, Storage::pooled(buf), Layout::contiguous(shape), dtype)
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        self.layout.shape()
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }

    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        self.layout.strides()
    }

    /// Element offset of the first element in storage.
    pub fn offset(&self) -> usize {
        self.layout.offset()
    }

    /// Shape, strides and offset together.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// `true` if the elements are consecutive in storage in row-major order.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// The storage shared with clones and views.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The kind of storage (owned, pooled, mapped).
    pub fn storage_kind(&self) -> StorageKind {
        self.storage.kind()
    }

    fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor {
            storage: self.storage.clone(),
            layout,
            dtype: self.dtype,
        }
    }

    /// View of `start..start + len` along `dim` (same rank).
    /// `(rows, cols).narrow(1, c, n)` is the `(rows, n)` column block at `c`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.narrow(dim, start, len)?))
    }

    /// View of index `index` along `dim`, with that dimension removed.
    pub fn select(&self, dim: usize, index: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.select(dim, index)?))
    }

    /// Row `i`: `select(0, i)`. Row `i` of a `(rows, cols)` matrix is `(cols,)`.
    pub fn row(&self, i: usize) -> Result<Tensor> {
        self.select(0, i)
    }

    /// View with dimensions `d0` and `d1` swapped (strides swapped; no copy).
    pub fn transpose(&self, d0: usize, d1: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.transpose(d0, d1)?))
    }

    /// View with dimensions reordered: dimension `k` of the result is
    /// dimension `perm[k]` of `self`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.permute(perm)?))
    }

    /// View with shape `dims` (same element count). Only for contiguous
    /// tensors: [`TensorError::NotContiguous`] otherwise (call
    /// [`Tensor::to_contiguous`] first).
    pub fn reshape(&self, dims: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.reshape(dims)?))
    }

    /// Bytes taken by `numel` elements of this tensor's dtype.
    fn bytes_of(&self, op: &'static str, numel: usize) -> Result<usize> {
        self.dtype.byte_size_in(op, numel, self.shape())
    }

    /// Byte range of a contiguous tensor's elements in its storage.
    fn contiguous_byte_range(&self, op: &'static str) -> Result<Range<usize>> {
        if !self.is_contiguous() {
            return Err(self.layout.not_contiguous(op));
        }
        let start = self.bytes_of(op, self.offset())?;
        let end = self.bytes_of(op, self.offset() + self.numel())?;
        Ok(start..end)
    }

    fn check_dtype(&self, op: &'static str, expected: DType) -> Result<()> {
        if self.dtype == expected {
            Ok(())
        } else {
            Err(TensorError::DTypeMismatch {
                op,
                expected,
                actual: self.dtype,
            })
        }
    }

    /// Where a contiguous tensor's bytes lie in its [`Tensor::storage`]: for
    /// resolving a tensor once and reading `storage().as_bytes()[range]` later.
    pub fn byte_range(&self) -> Result<Range<usize>> {
        self.contiguous_byte_range("byte_range")
    }

    /// The raw bytes of a contiguous tensor (any dtype).
    pub fn as_bytes(&self) -> Result<&[u8]> {
        const OP: &str = "as_bytes";
        self.storage.byte_range(OP, self.contiguous_byte_range(OP)?)
    }

    /// The elements of a contiguous tensor of dtype `T::DTYPE`, row-major.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        const OP: &str = "as_slice";
        self.check_dtype(OP, T::DTYPE)?;
        cast_bytes(
            OP,
            self.storage
                .byte_range(OP, self.contiguous_byte_range(OP)?)?,
        )
    }

    /// The elements of a contiguous tensor of dtype `T::DTYPE`, mutably.
    /// Needs owned or pooled storage not shared with any other tensor or view
    /// ([`TensorError::Shared`] / [`TensorError::ReadOnly`] otherwise); see the
    /// module docs.
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<&mut [T]> {
        const OP: &str = "as_mut_slice";
        self.check_dtype(OP, T::DTYPE)?;
        let range = self.contiguous_byte_range(OP)?;
        cast_bytes_mut(OP, self.storage.byte_range_mut(OP, range)?)
    }

    /// The element at `index` (one entry per dimension), widened to f32
    /// (block-quantized dtypes: its block is dequantized).
    pub fn get_f32(&self, index: &[usize]) -> Result<f32> {
        const OP: &str = "get_f32";
        let pos = self.layout.offset_of(index)?;
        let element = |op| {
            let start = self.bytes_of(op, pos)?;
            let end = self.bytes_of(op, pos + 1)?;
            self.storage.byte_range(op, start..end)
        };
        let mut value = [0.0f32];
        match self.dtype {
            DType::F32 => f32::widen_into(cast_bytes::<f32>(OP, element(OP)?)?, &mut value),
            DType::F16 => f16::widen_into(cast_bytes::<f16>(OP, element(OP)?)?, &mut value),
            DType::BF16 => bf16::widen_into(cast_bytes::<bf16>(OP, element(OP)?)?, &mut value),
            // Block-quantized: the element's block, dequantized.
            _ => return self.get_quantized(OP, pos),
        }
        Ok(value[0])
    }

    /// Element `pos` (in storage order) of a block-quantized tensor.
    fn get_quantized(&self, op: &'static str, pos: usize) -> Result<f32> {
        let block = self.dtype.block_size();
        let start = self.bytes_of(op, pos - pos % block)?;
        let bytes = self
            .storage
            .byte_range(op, start..start + self.dtype.block_bytes())?;
        let mut values = vec![0.0; block];
        dequantize_bytes(op, self.dtype, bytes, &mut values)?;
        Ok(values[pos % block])
    }

    /// Writes every element, in row-major order, widened to f32, into `out`,
    /// whose length must equal [`Tensor::numel`]. Works for any layout
    /// (contiguous tensors are converted in one pass).
    pub fn copy_to_f32(&self, out: &mut [f32]) -> Result<()> {
        const OP: &str = "copy_to_f32";
        match self.dtype {
            DType::F32 => self.gather::<f32, f32>(OP, out, f32::widen_into, f32::to_f32),
            DType::F16 => self.gather::<f16, f32>(OP, out, f16::widen_into, f16::to_f32),
            DType::BF16 => self.gather::<bf16, f32>(OP, out, bf16::widen_into, bf16::to_f32),
            // Block-quantized: whole rows of blocks, dequantized in one pass.
            _ => {
                if out.len() != self.numel() {
                    return Err(TensorError::LengthMismatch {
                        op: OP,
                        expected: self.numel(),
                        actual: out.len(),
                    });
                }
                dequantize_bytes(OP, self.dtype, self.as_bytes()?, out)
            }
        }
    }

    /// Every element, in row-major order, widened to f32.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.numel()];
        self.copy_to_f32(&mut out)?;
        Ok(out)
    }

    /// A contiguous copy in a fresh owned buffer (same shape and dtype), or a
    /// clone (an `Arc` bump) if `self` is already contiguous.
    pub fn to_contiguous(&self) -> Result<Tensor> {
        const OP: &str = "to_contiguous";
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let mut out = Tensor::zeros(self.dims(), self.dtype)?;
        match self.dtype {
            DType::F32 => self.gather_same::<f32>(OP, &mut out),
            DType::F16 => self.gather_same::<f16>(OP, &mut out),
            DType::BF16 => self.gather_same::<bf16>(OP, &mut out),
            // Block-quantized views are whole rows of blocks: always contiguous.
            _ => Err(self.layout.not_contiguous(OP)),
        }?;
        Ok(out)
    }

    fn gather_same<T: Element>(&self, op: &'static str, out: &mut Tensor) -> Result<()> {
        let dst = out.as_mut_slice::<T>()?;
        self.gather::<T, T>(op, dst, |src, dst| dst.copy_from_slice(src), |v| v)
    }

    /// Copies the elements (as `T`) in row-major order into `out` (as `U`):
    /// `run` converts a contiguous run, `one` a single element.
    fn gather<T: Element, U>(
        &self,
        op: &'static str,
        out: &mut [U],
        run: impl Fn(&[T], &mut [U]),
        one: impl Fn(T) -> U,
    ) -> Result<()> {
        if out.len() != self.numel() {
            return Err(TensorError::LengthMismatch {
                op,
                expected: self.numel(),
                actual: out.len(),
            });
        }
        if self.numel() == 0 {
            return Ok(());
        }
        if self.is_contiguous() {
            let bytes = self
                .storage
                .byte_range(op, self.contiguous_byte_range(op)?)?;
            run(cast_bytes::<T>(op, bytes)?, out);
            return Ok(());
        }
        // All elements of the storage up to the layout's extent: every
        // position the layout reaches is inside.
        let extent = self.layout.extent();
        let bytes = self.storage.byte_range(op, 0..self.bytes_of(op, extent)?)?;
        let elements = cast_bytes::<T>(op, bytes)?;
        let (row_len, row_stride) = (self.layout.row_len(), self.layout.row_stride());
        let out_of_storage = TensorError::RangeOutOfStorage {
            op,
            start: 0,
            end: extent,
            available: elements.len(),
        };
        let mut rows = out.chunks_exact_mut(row_len);
        let mut result = Ok(());
        self.layout.for_each_row(|start| {
            let Some(dst) = rows.next() else { return };
            if result.is_err() {
                return;
            }
            if row_stride == 1 {
                match start
                    .checked_add(row_len)
                    .and_then(|end| elements.get(start..end))
                {
                    Some(src) => run(src, dst),
                    None => result = Err(out_of_storage.clone()),
                }
                return;
            }
            for (j, d) in dst.iter_mut().enumerate() {
                let position = j.checked_mul(row_stride).and_then(|o| o.checked_add(start));
                match position.and_then(|p| elements.get(p)) {
                    Some(&v) => *d = one(v),
                    None => {
                        result = Err(out_of_storage.clone());
                        return;
                    }
                }
            }
        });
        result
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("dtype", &self.dtype)
            .field("shape", self.shape())
            .field("strides", &self.layout.strides_value())
            .field("offset", &self.offset())
            .field("storage", &self.storage.kind())
            .finish()
    }
}

/// Dequantizes whole blocks of `dtype` from `bytes` into `out` (`out.len()` values).
fn dequantize_bytes(op: &'static str, dtype: DType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    use smallmind_kernels::KernelError;
    use smallmind_kernels::dtype::QuantVisitor;
    use smallmind_kernels::quant::{WeightFormat, blocks_from_bytes, dequantize};

    struct Dequantize<'a> {
        bytes: &'a [u8],
        out: &'a mut [f32],
    }
    impl QuantVisitor for Dequantize<'_> {
        type Output = std::result::Result<(), KernelError>;
        fn visit<W: WeightFormat>(self) -> Self::Output {
            dequantize::<W>(blocks_from_bytes(self.bytes)?, self.out)
        }
    }

    dtype
        .visit_quantized(Dequantize { bytes, out })
        .ok_or(TensorError::DTypeMismatch {
            op,
            expected: DType::Q8_0,
            actual: dtype,
        })?
        .map_err(|source| TensorError::Kernel { op, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn tensor_and_pool_types_are_send_and_sync() {
        assert_send_sync::<Tensor>();
        assert_send_sync::<Storage>();
        assert_send_sync::<TensorPool>();
        assert_send_sync::<PooledBuffer>();
    }

    #[test]
    fn clones_share_storage_and_block_mutation() {
        let mut t = Tensor::from_f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        t.as_mut_slice::<f32>().unwrap()[0] = 10.0;
        let view = t.row(1).unwrap();
        assert!(matches!(
            t.as_mut_slice::<f32>(),
            Err(TensorError::Shared { .. })
        ));
        drop(view);
        t.as_mut_slice::<f32>().unwrap()[3] = 40.0;
        assert_eq!(t.to_f32_vec().unwrap(), [10.0, 2.0, 3.0, 40.0]);
    }

    #[test]
    fn dtype_is_checked_for_typed_access() {
        let t = Tensor::zeros(&[3], DType::F16).unwrap();
        assert!(matches!(
            t.as_slice::<f32>(),
            Err(TensorError::DTypeMismatch {
                expected: DType::F32,
                actual: DType::F16,
                ..
            })
        ));
        assert_eq!(t.as_slice::<f16>().unwrap().len(), 3);
    }
}
