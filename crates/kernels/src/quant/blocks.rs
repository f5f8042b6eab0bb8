//! The quantized block types, byte-compatible with ggml/GGUF (except
//! [`BlockQ8_1`], an in-memory activation format of our own).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::KernelError;

/// Weights per block in every format of this module.
pub const QK: usize = 32;

/// ggml `Q8_0`: 32 signed 8-bit values and one f16 scale; `x[j] = d·qs[j]`.
///
/// 34 bytes, alignment 2 (the layout of `block_q8_0` in GGUF files).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f16,
    /// Quantized values, in order.
    pub qs: [i8; QK],
}

/// ggml `Q4_0`: 32 unsigned 4-bit values and one f16 scale;
/// `x[j] = d·(q[j] − 8)`.
///
/// Weight `j < 16` is the low nibble of `qs[j]`, weight `j + 16` its high
/// nibble. 18 bytes, alignment 2.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// Packed nibbles (see the type docs for the order).
    pub qs: [u8; QK / 2],
}

/// ggml `Q4_1`: 32 unsigned 4-bit values, an f16 scale and an f16 offset;
/// `x[j] = d·q[j] + m`, nibbles ordered as in [`BlockQ4_0`].
///
/// 20 bytes, alignment 2.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f16,
    /// Offset (the block minimum).
    pub m: f16,
    /// Packed nibbles.
    pub qs: [u8; QK / 2],
}

/// Activations for [`BlockQ4_1`] weights: [`BlockQ8_0`]'s values plus their
/// scaled sum, so a block dot's offset term `m·Σx` costs one multiply.
///
/// `x[j] ≈ d·qs[j]` and `s = d·Σⱼ qs[j]`, both scales in f32 (unlike ggml's
/// `block_q8_1`, which stores f16). An in-memory format only: it never appears
/// in a file. 40 bytes, alignment 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_1 {
    /// Scale.
    pub d: f32,
    /// `d·Σ qs`.
    pub s: f32,
    /// Quantized values, in order.
    pub qs: [i8; QK],
}

const _: () = assert!(size_of::<BlockQ8_0>() == 34);
const _: () = assert!(size_of::<BlockQ4_0>() == 18);
const _: () = assert!(size_of::<BlockQ4_1>() == 20);
const _: () = assert!(size_of::<BlockQ8_1>() == 40);
const _: () = assert!(align_of::<BlockQ8_0>() == 2);
const _: () = assert!(align_of::<BlockQ4_0>() == 2);
const _: () = assert!(align_of::<BlockQ4_1>() == 2);

impl BlockQ4_0 {
    /// The 4-bit value of weight `j` (`0..32`), before the `− 8`.
    #[inline(always)]
    pub fn nibble(&self, j: usize) -> u8 {
        unpack_nibble(&self.qs, j)
    }
}

impl BlockQ4_1 {
    /// The 4-bit value of weight `j` (`0..32`).
    #[inline(always)]
    pub fn nibble(&self, j: usize) -> u8 {
        unpack_nibble(&self.qs, j)
    }
}

#[inline(always)]
fn unpack_nibble(qs: &[u8; QK / 2], j: usize) -> u8 {
    let byte = qs[j % (QK / 2)];
    if j < QK / 2 { byte & 0x0F } else { byte >> 4 }
}

/// Views raw bytes (e.g. a GGUF tensor's data) as blocks, without copying.
///
/// # Errors
/// [`KernelError::LengthMismatch`] if the length is not a multiple of the
/// block size (`expected` is the length rounded down), and
/// [`KernelError::InvalidDimension`] if the start is not aligned to the
/// block's alignment (2 for the ggml types; GGUF aligns every tensor to 32).
pub fn blocks_from_bytes<B: Pod>(bytes: &[u8]) -> Result<&[B], KernelError> {
    let size = size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return Err(KernelError::LengthMismatch {
            op: "blocks_from_bytes",
            operand: "bytes",
            expected: bytes.len() / size * size,
            actual: bytes.len(),
        });
    }
    bytemuck::try_cast_slice(bytes).map_err(|_| KernelError::InvalidDimension {
        op: "blocks_from_bytes",
        dim: "address % align",
        value: bytes.as_ptr() as usize % align_of::<B>(),
        reason: "the bytes are not aligned for this block type",
    })
}
