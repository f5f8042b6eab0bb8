//! Quantizers from f32 and dequantizers back, row-wise over whole blocks.
//!
//! The rounding rules are ggml's reference ones (`quantize_row_*_ref`), which
//! gguf-py's `gguf.quants.quantize` reproduces; `tests/quant.rs` checks the
//! bytes against a fixture that gguf-py wrote. Per block of 32 values `x`:
//! - Q8_0 (and Q8_1): `d = max|x| / 127`, `q = round(x / d)` computed as
//!   `round(x·(1/d))`, halves away from zero; Q8_1 adds `s = d·Σq`.
//! - Q4_0: `d = v / −8` where `v` is the first value of largest magnitude,
//!   `q = min(15, trunc(x·(1/d) + 8.5))`.
//! - Q4_1: `d = (max − min) / 15`, `m = min`,
//!   `q = min(15, trunc((x − min)·(1/d) + 0.5))`.
//!
//! A zero scale gives `1/d = 0` (all `q` at the offset). Scales are stored as
//! f16 (round to nearest even), except Q8_1's. NaN inputs give unspecified
//! but finite-index results (never a panic).

use half::f16;
use pulp::{Simd, WithSimd};

use super::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use crate::KernelError;
use crate::error::check_len;

/// `x.len()` must be a multiple of [`QK`] and `blocks` exactly `x.len() / QK`.
pub(super) fn check_blocks(
    op: &'static str,
    values: &'static str,
    n_values: usize,
    blocks: &'static str,
    n_blocks: usize,
) -> Result<(), KernelError> {
    if !n_values.is_multiple_of(QK) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: values,
            value: n_values,
            reason: "length must be a multiple of the block size 32",
        });
    }
    check_len(op, blocks, n_values / QK, n_blocks)
}

#[inline(always)]
fn inv(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

#[inline(always)]
fn abs_max(x: &[f32; QK]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// `max |x|` with SIMD max (exact, so the same value as [`abs_max`] for
/// non-NaN input).
#[inline(always)]
fn abs_max_simd<S: Simd>(simd: S, x: &[f32; QK]) -> f32 {
    let (head, tail) = S::as_simd_f32s(x);
    let mut m = simd.splat_f32s(0.0);
    for &v in head {
        m = simd.max_f32s(m, simd.abs_f32s(v));
    }
    tail.iter()
        .fold(simd.reduce_max_f32s(m), |m, v| m.max(v.abs()))
}

#[inline(always)]
fn q8_block(x: &[f32; QK]) -> (f32, [i8; QK]) {
    q8_block_with(x, abs_max(x))
}

#[inline(always)]
fn q8_block_with(x: &[f32; QK], amax: f32) -> (f32, [i8; QK]) {
    let d = amax / 127.0;
    let id = inv(d);
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round() as i8;
    }
    (d, qs)
}

#[inline(always)]
fn q8_0_block(x: &[f32; QK]) -> BlockQ8_0 {
    q8_0_from(q8_block(x))
}

#[inline(always)]
fn q8_0_from((d, qs): (f32, [i8; QK])) -> BlockQ8_0 {
    BlockQ8_0 {
        d: f16::from_f32(d),
        qs,
    }
}

#[inline(always)]
fn q8_1_block(x: &[f32; QK]) -> BlockQ8_1 {
    q8_1_from(q8_block(x))
}

#[inline(always)]
fn q8_1_from((d, qs): (f32, [i8; QK])) -> BlockQ8_1 {
    let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
    BlockQ8_1 {
        d,
        s: d * sum as f32,
        qs,
    }
}

#[inline(always)]
fn pack_nibbles(q: &[u8; QK]) -> [u8; QK / 2] {
    let mut qs = [0u8; QK / 2];
    for (j, b) in qs.iter_mut().enumerate() {
        *b = q[j] | (q[j + QK / 2] << 4);
    }
    qs
}

#[inline(always)]
fn q4_0_block(x: &[f32; QK]) -> BlockQ4_0 {
    // The first value of largest magnitude, with its sign.
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = inv(d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = ((v * id + 8.5) as i32).clamp(0, 15) as u8;
    }
    BlockQ4_0 {
        d: f16::from_f32(d),
        qs: pack_nibbles(&q),
    }
}

#[inline(always)]
fn q4_1_block(x: &[f32; QK]) -> BlockQ4_1 {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 15.0;
    let id = inv(d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = (((v - min) * id + 0.5) as i32).clamp(0, 15) as u8;
    }
    BlockQ4_1 {
        d: f16::from_f32(d),
        m: f16::from_f32(min),
        qs: pack_nibbles(&q),
    }
}

/// Applies `block` to every 32-value chunk of `x`.
#[inline(always)]
fn quantize_with<B>(x: &[f32], out: &mut [B], block: impl Fn(&[f32; QK]) -> B) {
    for (o, chunk) in out.iter_mut().zip(x.chunks_exact(QK)) {
        *o = block(chunk.try_into().expect("chunks_exact(QK)"));
    }
}

/// Runs a block quantizer inside the dispatched SIMD context, so the plain
/// loops above are compiled (and auto-vectorised) for the active path.
struct QuantizeOp<'a, B, F> {
    x: &'a [f32],
    out: &'a mut [B],
    block: F,
}

impl<B, F: Fn(&[f32; QK]) -> B> WithSimd for QuantizeOp<'_, B, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        quantize_with(self.x, self.out, self.block);
    }
}

/// The activation quantizers (hot: once per row per projection): the block
/// maximum with explicit SIMD (a float max reduction does not
/// auto-vectorise), then `finish` on `(d, q)`.
struct QuantizeQ8Op<'a, B, F> {
    x: &'a [f32],
    out: &'a mut [B],
    finish: F,
}

impl<B, F: Fn((f32, [i8; QK])) -> B> WithSimd for QuantizeQ8Op<'_, B, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        for (o, chunk) in self.out.iter_mut().zip(self.x.chunks_exact(QK)) {
            let chunk: &[f32; QK] = chunk.try_into().expect("chunks_exact(QK)");
            *o = (self.finish)(q8_block_with(chunk, abs_max_simd(simd, chunk)));
        }
    }
}

macro_rules! quantizer {
    ($(#[$doc:meta])* $name:ident, $name_ref:ident, $block_ty:ty, $block_fn:ident) => {
        quantizer!($(#[$doc])* $name, $name_ref, $block_ty, $block_fn, |x, out| {
            crate::dispatch::dispatch(QuantizeOp {
                x,
                out,
                block: $block_fn,
            })
        });
    };
    ($(#[$doc:meta])* $name:ident, $name_ref:ident, $block_ty:ty, $block_fn:ident, $fast:expr) => {
        $(#[$doc])*
        ///
        /// # Errors
        /// [`KernelError::InvalidDimension`] if `x.len()` is not a multiple of
        /// 32, [`KernelError::LengthMismatch`] if `out.len() != x.len() / 32`.
        pub fn $name(x: &[f32], out: &mut [$block_ty]) -> Result<(), KernelError> {
            check_blocks(stringify!($name), "x", x.len(), "out", out.len())?;
            let fast: fn(&[f32], &mut [$block_ty]) = $fast;
            fast(x, out);
            Ok(())
        }

        #[doc = concat!("Scalar twin of [`", stringify!($name), "`] (same rounding, no dispatch).")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($name), "`].")]
        pub fn $name_ref(x: &[f32], out: &mut [$block_ty]) -> Result<(), KernelError> {
            check_blocks(stringify!($name_ref), "x", x.len(), "out", out.len())?;
            quantize_with(x, out, $block_fn);
            Ok(())
        }
    };
}

quantizer!(
    /// Quantizes `x` (a multiple of 32 values) to Q8_0 blocks, bit-exact with
    /// ggml's `quantize_row_q8_0_ref`. Also the activation quantizer for Q8_0
    /// and Q4_0 weights.
    quantize_q8_0,
    quantize_q8_0_ref,
    BlockQ8_0,
    q8_0_block,
    |x, out| crate::dispatch::dispatch(QuantizeQ8Op {
        x,
        out,
        finish: q8_0_from
    })
);
quantizer!(
    /// Quantizes `x` to [`BlockQ8_1`] (Q8_0's values with an f32 scale and
    /// the scaled sum): the activation quantizer for Q4_1 weights.
    quantize_q8_1,
    quantize_q8_1_ref,
    BlockQ8_1,
    q8_1_block,
    |x, out| crate::dispatch::dispatch(QuantizeQ8Op {
        x,
        out,
        finish: q8_1_from
    })
);
quantizer!(
    /// Quantizes `x` to Q4_0 blocks, bit-exact with ggml's
    /// `quantize_row_q4_0_ref`.
    quantize_q4_0,
    quantize_q4_0_ref,
    BlockQ4_0,
    q4_0_block
);
quantizer!(
    /// Quantizes `x` to Q4_1 blocks, bit-exact with ggml's
    /// `quantize_row_q4_1_ref`.
    quantize_q4_1,
    quantize_q4_1_ref,
    BlockQ4_1,
    q4_1_block
);

/// Writes every block's 32 values (`QuantWeight::dequantize_block`) to `out`.
fn dequantize_with<W: super::QuantWeight>(
    op: &'static str,
    blocks: &[W],
    out: &mut [f32],
) -> Result<(), KernelError> {
    check_blocks(op, "out", out.len(), "blocks", blocks.len())?;
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
        b.dequantize_block(o.try_into().expect("chunks_exact_mut(QK)"));
    }
    Ok(())
}

/// `out[32·i + j] = d·q` of block `i`, value `j`.
///
/// # Errors
/// [`KernelError::InvalidDimension`] / [`KernelError::LengthMismatch`] unless
/// `out.len() == 32·blocks.len()`.
pub fn dequantize_q8_0(blocks: &[BlockQ8_0], out: &mut [f32]) -> Result<(), KernelError> {
    dequantize_with("dequantize_q8_0", blocks, out)
}

/// `out[32·i + j] = d·(q − 8)` of block `i`, value `j`.
///
/// # Errors
/// As [`dequantize_q8_0`].
pub fn dequantize_q4_0(blocks: &[BlockQ4_0], out: &mut [f32]) -> Result<(), KernelError> {
    dequantize_with("dequantize_q4_0", blocks, out)
}

/// `out[32·i + j] = d·q + m` of block `i`, value `j`.
///
/// # Errors
/// As [`dequantize_q8_0`].
pub fn dequantize_q4_1(blocks: &[BlockQ4_1], out: &mut [f32]) -> Result<(), KernelError> {
    dequantize_with("dequantize_q4_1", blocks, out)
}

/// `out[32·i + j] = d·q` of block `i`, value `j` (f32 scale).
///
/// # Errors
/// As [`dequantize_q8_0`].
pub fn dequantize_q8_1(blocks: &[BlockQ8_1], out: &mut [f32]) -> Result<(), KernelError> {
    check_blocks("dequantize_q8_1", "out", out.len(), "blocks", blocks.len())?;
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK)) {
        for (v, &q) in o.iter_mut().zip(&b.qs) {
            *v = b.d * f32::from(q);
        }
    }
    Ok(())
}
