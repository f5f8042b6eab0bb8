//! The block formats as traits, so every driver, GEMV, GEMM, quantizer and
//! oracle is written once for all of them.
//!
//! - [`BlockFormat`]: `VALUES` numbers in `size_of::<Self>()` bytes, with a
//!   dequantizer and a reference quantizer. Every block type is one.
//! - [`ActFormat`]: a block that activation rows are quantized to at run time
//!   (Q8_0, Q8_1, Q8_K), with a fast row quantizer.
//! - [`WeightFormat`]: a block that weights are stored in, with the
//!   activation format its integer dot pairs with and its SIMD tiles.
//!
//! Each format lives in one module of `formats/` and implements these; the
//! generic kernels (`gemv`, `gemm`, `quantize`, ...) take any of them.

use super::isa::{Rect, Tile, gemm_rect, gemv_rows};

/// A ggml-style block: [`BlockFormat::VALUES`] numbers stored in
/// `size_of::<Self>()` bytes, byte-compatible with GGUF where ggml has the
/// format.
pub trait BlockFormat:
    bytemuck::Pod + Send + Sync + std::fmt::Debug + PartialEq + Default + 'static
{
    /// The format's name, lowercase as ggml spells it, e.g. `"q4_k"`.
    const NAME: &'static str;
    /// Numbers per block: 32, or 256 for the K-quants.
    const VALUES: usize;

    /// The block's numbers in f32, as ggml's `dequantize_row_*` computes
    /// them (bit for bit). `out.len()` is [`BlockFormat::VALUES`].
    fn dequantize_block(&self, out: &mut [f32]);

    /// Quantizes [`BlockFormat::VALUES`] numbers into one block with the
    /// format's reference rounding (see each format's docs).
    fn quantize_block(x: &[f32]) -> Self;

    /// Quantizes whole blocks, `out[i]` from `x[VALUES·i ..]`: the same bytes
    /// as [`BlockFormat::quantize_block`] on each, inside the SIMD dispatch
    /// of the calling kernel (formats may use `simd` to go faster).
    #[inline(always)]
    fn quantize_blocks<S: pulp::Simd>(simd: S, x: &[f32], out: &mut [Self]) {
        let _ = simd;
        for (o, chunk) in out.iter_mut().zip(x.chunks_exact(Self::VALUES)) {
            *o = Self::quantize_block(chunk);
        }
    }
}

/// A block format that activation rows are quantized to at run time, once
/// per row and projection, for the integer block dots (Q8_0, Q8_1, Q8_K).
pub trait ActFormat: BlockFormat {}

/// A block format that weights are stored in: the activation format its
/// integer block dot takes, the dot itself, and its SIMD tiles.
///
/// A block dot is exact in integers and scaled in f32 (see the
/// [`quant`](super) module docs); [`WeightFormat::dot_block`] is the scalar
/// path's order and [`WeightFormat::dot_block_f64`] the oracles'.
pub trait WeightFormat: BlockFormat {
    /// The activation blocks this format's dots take; as many numbers per
    /// block as `Self`.
    type Act: ActFormat;

    /// Weight rows per GEMV tile: 4 shares each activation load over four
    /// rows; 1 streams a single row, which sustains more bandwidth when the
    /// dot is cheap (Q8_0).
    const GEMV_ROWS: usize = super::isa::ROWS;

    /// One block dot in f32, in the scalar path's order.
    fn dot_block(&self, x: &Self::Act) -> f32;

    /// One block dot in f64 (the `*_ref` oracles').
    fn dot_block_f64(&self, x: &Self::Act) -> f64;

    /// `out[r][c] = Σ_b dot(w[r][b], x[c][b])` on instruction set `T`; every
    /// slice has the same length. `ahead` (bytes, 0 for none) is how far past
    /// `w[r]`'s current block to prefetch.
    ///
    /// # Safety
    /// The CPU must support `T`'s instruction set.
    #[doc(hidden)]
    unsafe fn tile<T: Tile, const R: usize, const C: usize>(
        w: [&[Self]; R],
        x: [&[Self::Act]; C],
        ahead: usize,
    ) -> [[f32; C]; R];

    /// Output rows `j0 .. j0 + y.len()` of a GEMV on instruction set `T`
    /// (formats may override the tile loop); `w` holds whole rows of
    /// `x.len()` blocks.
    ///
    /// # Safety
    /// The CPU must support `T`'s instruction set.
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn gemv_rows<T: Tile>(w: &[Self], x: &[Self::Act], j0: usize, y: &mut [f32]) {
        // SAFETY: forwarded from our caller.
        unsafe { gemv_rows::<T, Self>(w, x, j0, y) }
    }

    /// One rectangle of a GEMM on instruction set `T` (formats may override
    /// the tile loop, e.g. to unpack weights once per group of rows).
    ///
    /// # Safety
    /// As the `isa` module's `gemm_rect`: the CPU supports `T`, and `rect.y`
    /// is valid for writes over the rectangle, which no other thread
    /// accesses meanwhile.
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn gemm_rect<T: Tile>(rect: Rect<'_, Self>) {
        // SAFETY: forwarded from our caller.
        unsafe { gemm_rect::<T, Self, { super::isa::ROWS }, { super::isa::COLS }>(rect) }
    }
}

/// The scalar tile every format can use: block dots in the scalar order.
#[inline(always)]
pub(crate) fn scalar_tile<W: WeightFormat, const R: usize, const C: usize>(
    w: [&[W]; R],
    x: [&[W::Act]; C],
) -> [[f32; C]; R] {
    let mut out = [[0.0f32; C]; R];
    for (out_r, w_r) in out.iter_mut().zip(w) {
        for (o, x_c) in out_r.iter_mut().zip(x) {
            *o = w_r.iter().zip(x_c).map(|(wb, xb)| wb.dot_block(xb)).sum();
        }
    }
    out
}
