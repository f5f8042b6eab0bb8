//! Element types: the [`DType`] tag (the registry of formats, defined in
//! `smallmind_kernels::dtype` and re-exported here) and the [`Element`] trait
//! for Rust types that a tensor's bytes can be viewed as.
//!
//! Every dtype is described as *blocks*: `block_size()` elements stored in
//! `block_bytes()` bytes, so every byte-size computation in the crate goes
//! through [`DType::checked_byte_size`] (whole blocks, checked arithmetic).
//! Only element-wise typed access ([`Element`]) is limited to the float types.

use crate::error::{Result, TensorError};
use crate::shape::Shape;
use half::{bf16, f16};
pub use smallmind_kernels::DType;

/// Byte sizes with errors that name the tensor operation.
pub(crate) trait ByteSize {
    /// [`DType::checked_byte_size`] of `shape`, with an error naming `op`,
    /// the shape and the dtype.
    fn byte_size_of(self, op: &'static str, shape: &Shape) -> Result<usize>;

    /// [`DType::checked_byte_size`] of `numel` elements (of, or inside, a
    /// tensor of shape `shape`), with an error naming `op`, `shape` and the
    /// dtype.
    fn byte_size_in(self, op: &'static str, numel: usize, shape: &Shape) -> Result<usize>;
}

impl ByteSize for DType {
    fn byte_size_of(self, op: &'static str, shape: &Shape) -> Result<usize> {
        self.byte_size_in(op, shape.numel(), shape)
    }

    fn byte_size_in(self, op: &'static str, numel: usize, shape: &Shape) -> Result<usize> {
        if !numel.is_multiple_of(self.block_size()) {
            return Err(TensorError::PartialBlock {
                op,
                dtype: self,
                numel,
                block_size: self.block_size(),
            });
        }
        self.checked_byte_size(numel)
            .ok_or(TensorError::SizeOverflow {
                op,
                shape: *shape,
                dtype: Some(self),
            })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A Rust type whose values are the elements of one [`DType`]: `f32`,
/// `half::f16` or `half::bf16`. Sealed: the set matches the element-wise dtypes.
pub trait Element: bytemuck::Pod + Send + Sync + sealed::Sealed {
    /// The dtype tag of this type.
    const DTYPE: DType;

    /// Widens one value to f32 (exact for all three types).
    fn to_f32(self) -> f32;

    /// Narrows an f32, rounding to nearest even.
    fn from_f32(value: f32) -> Self;

    /// Widens `src` into `dst` element by element. Both have the same length
    /// (callers check; extra elements of the longer one are left untouched).
    fn widen_into(src: &[Self], dst: &mut [f32]);
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;

    fn to_f32(self) -> f32 {
        self
    }

    fn from_f32(value: f32) -> Self {
        value
    }

    fn widen_into(src: &[Self], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;

    fn to_f32(self) -> f32 {
        self.to_f32()
    }

    fn from_f32(value: f32) -> Self {
        f16::from_f32(value)
    }

    fn widen_into(src: &[Self], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        // Equal lengths by construction, so the kernel cannot refuse them.
        let _ = smallmind_kernels::convert::f16_to_f32(&src[..n], &mut dst[..n]);
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;

    fn to_f32(self) -> f32 {
        self.to_f32()
    }

    fn from_f32(value: f32) -> Self {
        bf16::from_f32(value)
    }

    fn widen_into(src: &[Self], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        // Equal lengths by construction, so the kernel cannot refuse them.
        let _ = smallmind_kernels::convert::bf16_to_f32(&src[..n], &mut dst[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names() {
        assert_eq!(DType::F32.size_in_bytes(), Some(4));
        assert_eq!(DType::F16.size_in_bytes(), Some(2));
        assert_eq!(DType::BF16.size_in_bytes(), Some(2));
        for d in DType::ALL.iter().copied().filter(|d| !d.is_quantized()) {
            assert_eq!(d.block_size(), 1);
            assert!(!d.is_quantized());
            assert_eq!(d.to_string(), d.name());
            assert_eq!(d.align(), d.block_bytes());
        }
        assert_eq!(<f32 as Element>::DTYPE, DType::F32);
        assert_eq!(<f16 as Element>::DTYPE, DType::F16);
        assert_eq!(<bf16 as Element>::DTYPE, DType::BF16);
    }

    #[test]
    fn quantized_dtypes_are_ggml_blocks() {
        for (d, bytes) in [(DType::Q8_0, 34), (DType::Q4_0, 18), (DType::Q4_1, 20)] {
            assert!(d.is_quantized() && d.size_in_bytes().is_none());
            assert_eq!((d.block_size(), d.block_bytes()), (32, bytes));
            assert_eq!(d.checked_byte_size(64), Some(2 * bytes));
            assert_eq!(d.checked_byte_size(33), None, "partial block");
        }
        for (d, bytes) in [(DType::Q4_K, 144), (DType::Q6_K, 210)] {
            assert!(d.is_quantized() && d.size_in_bytes().is_none());
            assert_eq!((d.block_size(), d.block_bytes()), (256, bytes));
            assert_eq!(d.checked_byte_size(512), Some(2 * bytes));
            assert_eq!(d.checked_byte_size(576), None, "2.25 superblocks");
        }
    }

    #[test]
    fn byte_size_is_checked() {
        assert_eq!(DType::F32.checked_byte_size(0), Some(0));
        assert_eq!(DType::F32.checked_byte_size(10), Some(40));
        assert_eq!(DType::BF16.checked_byte_size(10), Some(20));
        assert_eq!(DType::F32.checked_byte_size(usize::MAX / 2), None);
        assert_eq!(DType::F16.checked_byte_size(usize::MAX / 2), None);
        assert_eq!(
            DType::F16.checked_byte_size(isize::MAX as usize / 2),
            Some(isize::MAX as usize - 1)
        );
    }
}
