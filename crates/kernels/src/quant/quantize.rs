//! Quantizers from f32 and dequantizers back, row-wise over whole blocks, for
//! every [`BlockFormat`]; and [`blocks_from_bytes`], which views a GGUF
//! tensor's bytes as blocks in place.
//!
//! Each format's rounding rule is in its module docs (ggml's reference
//! quantizers for Q8_0, Q4_0, Q4_1 and Q8_K, which gguf-py reproduces;
//! `tests/quant.rs` checks the bytes against a fixture that gguf-py wrote).
//! NaN inputs give unspecified but valid blocks (never a panic).

use bytemuck::Pod;
use pulp::{Simd, WithSimd};

use super::format::BlockFormat;
use crate::KernelError;
use crate::error::check_len;

/// `n_values` must be whole blocks of `B` and `n_blocks` exactly that many.
fn check_blocks<B: BlockFormat>(
    op: &'static str,
    values: &'static str,
    n_values: usize,
    blocks: &'static str,
    n_blocks: usize,
) -> Result<(), KernelError> {
    if !n_values.is_multiple_of(B::VALUES) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: values,
            value: n_values,
            reason: if B::VALUES == 32 {
                "length must be a multiple of the block size 32"
            } else {
                "length must be a multiple of the superblock size 256"
            },
        });
    }
    check_len(op, blocks, n_values / B::VALUES, n_blocks)
}

/// Runs a format's block quantizer inside the dispatched SIMD context, so its
/// loops are compiled (and auto-vectorised) for the active path.
struct QuantizeOp<'a, B> {
    x: &'a [f32],
    out: &'a mut [B],
}

impl<B: BlockFormat> WithSimd for QuantizeOp<'_, B> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        B::quantize_blocks(simd, self.x, self.out);
    }
}

/// Quantizes `x` (whole blocks) to blocks of `B`: `out[i]` holds
/// `x[VALUES·i .. VALUES·(i + 1)]`, with the format's rounding (bit-exact with
/// ggml's reference quantizer where the format's docs say so). Also the
/// activation quantizer of the integer dots.
///
/// # Errors
/// [`KernelError::InvalidDimension`] if `x.len()` is not a multiple of the
/// block size, [`KernelError::LengthMismatch`] if `out.len() != x.len() / VALUES`.
pub fn quantize<B: BlockFormat>(x: &[f32], out: &mut [B]) -> Result<(), KernelError> {
    check_blocks::<B>("quantize", "x", x.len(), "out", out.len())?;
    crate::dispatch::dispatch(QuantizeOp { x, out });
    Ok(())
}

/// Scalar twin of [`quantize`]: the format's block quantizer, block by block,
/// without dispatch (the same bytes).
///
/// # Errors
/// As [`quantize`].
pub fn quantize_ref<B: BlockFormat>(x: &[f32], out: &mut [B]) -> Result<(), KernelError> {
    check_blocks::<B>("quantize_ref", "x", x.len(), "out", out.len())?;
    for (o, chunk) in out.iter_mut().zip(x.chunks_exact(B::VALUES)) {
        *o = B::quantize_block(chunk);
    }
    Ok(())
}

/// `out[VALUES·i + j]` = value `j` of block `i`, as ggml's
/// `dequantize_row_*` computes it.
///
/// # Errors
/// [`KernelError::InvalidDimension`] / [`KernelError::LengthMismatch`] unless
/// `out.len() == VALUES·blocks.len()`.
pub fn dequantize<B: BlockFormat>(blocks: &[B], out: &mut [f32]) -> Result<(), KernelError> {
    check_blocks::<B>("dequantize", "out", out.len(), "blocks", blocks.len())?;
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(B::VALUES)) {
        b.dequantize_block(o);
    }
    Ok(())
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
