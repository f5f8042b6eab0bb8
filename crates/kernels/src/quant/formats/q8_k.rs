//! ggml `Q8_K`: the activation format of the K-quants. 256 values with an
//! f32 scale and the sums of each 16 (292 bytes, `block_q8_K`), `x ≈ d·q`.
//!
//! Quantizer (ggml's `quantize_row_q8_K_ref`, up to the sign of `d`, which
//! ggml takes from the largest value): `q = round(x·(127/amax))` (halves to
//! even) and `d = 1/(127/amax)`, an f32 scale (NaN if the block holds a NaN,
//! so NaN propagates to the dots). Each value moves by at most
//! `1.0001·amax/254` (`amax` the block's largest `|x|` over 256 values, not
//! 32: a K-quant row shares one activation scale per 256 values). Against
//! the f32-activation path, `|dot_q − dot_f32| ≤ Σ_b 1.0001·amax_b/254·Σ_{j∈b} |w_j|`
//! plus f32 summation; `tests/kquant.rs` checks it.

use crate::quant::{ActFormat, BlockFormat, QK_K};

/// A Q8_K activation block (ggml's layout, 292 bytes): 256 values `x ≈ d·q`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8K {
    /// Scale.
    pub d: f32,
    /// Quantized values, in order.
    pub qs: [i8; QK_K],
    /// `bsums[i] = Σ qs[16i .. 16i + 16]`.
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(size_of::<BlockQ8K>() == 292);
const _: () = assert!(align_of::<BlockQ8K>() == 4);

impl Default for BlockQ8K {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// The larger of `m` and `a`, NaN if either is.
#[inline(always)]
fn nan_max(m: f32, a: f32) -> f32 {
    if a > m || a.is_nan() { a } else { m }
}

/// `(d, 1/d)` of a Q8_K block with largest magnitude `amax`, as ggml's
/// `quantize_row_q8_K_ref`: `1/d = 127/amax` rounded once, `d = 1/(1/d)`.
#[inline(always)]
fn q8_k_scales(amax: f32) -> (f32, f32) {
    if amax == 0.0 {
        return (0.0, 0.0);
    }
    let id = 127.0 / amax;
    (1.0 / id, id)
}

/// One Q8_K block from 256 values (see the module docs).
#[inline(always)]
fn quantize_block(x: &[f32], out: &mut BlockQ8K) {
    let amax = x.iter().fold(0.0f32, |m, v| nan_max(m, v.abs()));
    let (d, id) = q8_k_scales(amax);
    for (q, &v) in out.qs.iter_mut().zip(x) {
        // `as` saturates (and maps NaN to 0), so the clamp only guards
        // against the rounding of `id`.
        *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    out.d = d;
    for (s, qs) in out.bsums.iter_mut().zip(out.qs.chunks_exact(16)) {
        *s = qs.iter().map(|&q| i16::from(q)).sum();
    }
}

impl BlockFormat for BlockQ8K {
    const NAME: &'static str = "q8_k";
    const VALUES: usize = QK_K;

    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        for (v, &q) in out.iter_mut().zip(&self.qs) {
            *v = self.d * f32::from(q);
        }
    }

    #[inline(always)]
    fn quantize_block(x: &[f32]) -> Self {
        let mut out = BlockQ8K::default();
        quantize_block(x, &mut out);
        out
    }
}

impl ActFormat for BlockQ8K {}
