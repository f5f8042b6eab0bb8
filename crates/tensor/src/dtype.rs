//! Element types: the [`DType`] tag and the [`Element`] trait for Rust types
//! that a tensor's bytes can be viewed as.
//!
//! Every dtype is described as *blocks*: `block_size()` elements stored in
//! `block_bytes()` bytes. The float types are blocks of one element (f32: 1
//! element in 4 bytes). Block-quantized types fit the same rule — ggml's Q8_0
//! is 32 elements in 34 bytes, Q4_1 32 in 20, Q4_K 256 in 144 — so every byte-size computation in the crate goes through
//! [`DType::checked_byte_size`] (whole blocks, checked arithmetic) and needs no
//! rework. Only element-wise typed access ([`Element`]) is limited to the
//! float types.

use crate::error::{Result, TensorError};
use crate::shape::Shape;
use half::{bf16, f16};
use smallmind_kernels::quant::{BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ6K, BlockQ8_0, QK, QK_K};

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16 (`half::f16`).
    F16,
    /// bfloat16: the top 16 bits of an f32 (`half::bf16`).
    BF16,
    /// ggml Q8_0: blocks of 32 (`smallmind_kernels::quant::BlockQ8_0`, 34 bytes).
    Q8_0,
    /// ggml Q4_0: blocks of 32 (`BlockQ4_0`, 18 bytes).
    Q4_0,
    /// ggml Q4_1: blocks of 32 (`BlockQ4_1`, 20 bytes).
    Q4_1,
    /// ggml Q4_K: superblocks of 256 (`BlockQ4K`, 144 bytes).
    #[allow(non_camel_case_types)] // ggml's name
    Q4_K,
    /// ggml Q6_K: superblocks of 256 (`BlockQ6K`, 210 bytes).
    #[allow(non_camel_case_types)] // ggml's name
    Q6_K,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 8] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q4_K,
        DType::Q6_K,
    ];

    /// Short lowercase name, as used in file formats: `"f32"`, `"f16"`, `"bf16"`.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::Q8_0 => "q8_0",
            DType::Q4_0 => "q4_0",
            DType::Q4_1 => "q4_1",
            DType::Q4_K => "q4_k",
            DType::Q6_K => "q6_k",
        }
    }

    /// Elements per storage block: 1 for the float types, 32 or 256 for
    /// block-quantized types.
    pub const fn block_size(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 => QK,
            DType::Q4_K | DType::Q6_K => QK_K,
        }
    }

    /// Bytes per storage block.
    pub const fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 => size_of::<BlockQ8_0>(),
            DType::Q4_0 => size_of::<BlockQ4_0>(),
            DType::Q4_1 => size_of::<BlockQ4_1>(),
            DType::Q4_K => size_of::<BlockQ4K>(),
            DType::Q6_K => size_of::<BlockQ6K>(),
        }
    }

    /// Bytes per element, or `None` for block-quantized types, whose elements
    /// have no whole-byte size (use [`DType::checked_byte_size`]).
    pub const fn size_in_bytes(self) -> Option<usize> {
        if self.block_size() == 1 {
            Some(self.block_bytes())
        } else {
            None
        }
    }

    /// Alignment, in bytes, that the start of this dtype's data needs before it
    /// can be viewed as typed elements (or blocks).
    pub const fn align(self) -> usize {
        match self {
            DType::F32 => align_of::<f32>(),
            DType::F16 => align_of::<f16>(),
            DType::BF16 => align_of::<bf16>(),
            DType::Q8_0 => align_of::<BlockQ8_0>(),
            DType::Q4_0 => align_of::<BlockQ4_0>(),
            DType::Q4_1 => align_of::<BlockQ4_1>(),
            DType::Q4_K => align_of::<BlockQ4K>(),
            DType::Q6_K => align_of::<BlockQ6K>(),
        }
    }

    /// `true` for block-quantized types (`block_size() > 1`).
    pub const fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes taken by `numel` elements: `numel / block_size * block_bytes`.
    ///
    /// `None` if `numel` is not a whole number of blocks or the result exceeds
    /// `isize::MAX` (the largest size any allocation or slice can have).
    pub const fn checked_byte_size(self, numel: usize) -> Option<usize> {
        if !numel.is_multiple_of(self.block_size()) {
            return None;
        }
        match (numel / self.block_size()).checked_mul(self.block_bytes()) {
            Some(bytes) if bytes <= isize::MAX as usize => Some(bytes),
            _ => None,
        }
    }

    /// [`DType::checked_byte_size`] of `shape`, with an error naming `op`,
    /// the shape and the dtype.
    pub(crate) fn byte_size_of(self, op: &'static str, shape: &Shape) -> Result<usize> {
        self.byte_size_in(op, shape.numel(), shape)
    }

    /// [`DType::checked_byte_size`] of `numel` elements (of, or inside, a
    /// tensor of shape `shape`), with an error naming `op`, `shape` and the
    /// dtype.
    pub(crate) fn byte_size_in(
        self,
        op: &'static str,
        numel: usize,
        shape: &Shape,
    ) -> Result<usize> {
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

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
        for d in DType::ALL.into_iter().filter(|d| !d.is_quantized()) {
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
