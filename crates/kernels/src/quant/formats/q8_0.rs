//! ggml `Q8_0`: 32 signed 8-bit values and one f16 scale, `x[j] = d·qs[j]`
//! (34 bytes, `block_q8_0`). The weight format of Q8_0 files, and the
//! activation format of Q8_0 and Q4_0 weights.
//!
//! Quantizer (ggml's `quantize_row_q8_0_ref`, which gguf-py reproduces):
//! `d = max|x|/127`, `q = round(x·(1/d))` (halves away from zero), `d`
//! stored as f16. Round trip: `≤ amax/254` plus the f16 rounding of `d`.

use bytemuck::{Pod, Zeroable};
use half::f16;
use pulp::Simd;

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::block32::{Act32, Block32, Operand, block_of, weight_format_32};
use super::inv_or_zero;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::blocks32 as x86;
use crate::quant::{ActFormat, BlockFormat, QK};

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

const _: () = assert!(size_of::<BlockQ8_0>() == 34);
const _: () = assert!(align_of::<BlockQ8_0>() == 2);

/// `(d, q)` of one block with largest magnitude `amax` (shared with Q8_1).
#[inline(always)]
pub(super) fn q8_values(x: &[f32; QK], amax: f32) -> (f32, [i8; QK]) {
    let d = amax / 127.0;
    let id = inv_or_zero(d);
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = (v * id).round() as i8;
    }
    (d, qs)
}

/// `max |x|` (NaN-blind, as ggml's `fmaxf` loop).
#[inline(always)]
pub(super) fn abs_max(x: &[f32; QK]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// `max |x|` with SIMD max (exact, so the same value as [`abs_max`] for
/// non-NaN input; a float max reduction does not auto-vectorise).
#[inline(always)]
pub(super) fn abs_max_simd<S: Simd>(simd: S, x: &[f32; QK]) -> f32 {
    let (head, tail) = S::as_simd_f32s(x);
    let mut m = simd.splat_f32s(0.0);
    for &v in head {
        m = simd.max_f32s(m, simd.abs_f32s(v));
    }
    tail.iter()
        .fold(simd.reduce_max_f32s(m), |m, v| m.max(v.abs()))
}

/// Quantizes whole 32-value blocks with the SIMD block maximum, `make`
/// building each block from its `(d, q)` (shared with Q8_1).
#[inline(always)]
pub(super) fn q8_rows<S: Simd, B>(
    simd: S,
    x: &[f32],
    out: &mut [B],
    make: impl Fn((f32, [i8; QK])) -> B,
) {
    for (o, chunk) in out.iter_mut().zip(x.chunks_exact(QK)) {
        let chunk = block_of(chunk);
        *o = make(q8_values(chunk, abs_max_simd(simd, chunk)));
    }
}

impl BlockQ8_0 {
    #[inline(always)]
    fn from_values((d, qs): (f32, [i8; QK])) -> Self {
        BlockQ8_0 {
            d: f16::from_f32(d),
            qs,
        }
    }
}

impl BlockFormat for BlockQ8_0 {
    const NAME: &'static str = "q8_0";
    const VALUES: usize = QK;

    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        super::block32::dequantize(self, out);
    }

    #[inline(always)]
    fn quantize_block(x: &[f32]) -> Self {
        let x = block_of(x);
        Self::from_values(q8_values(x, abs_max(x)))
    }

    #[inline(always)]
    fn quantize_blocks<S: Simd>(simd: S, x: &[f32], out: &mut [Self]) {
        q8_rows(simd, x, out, Self::from_values);
    }
}

impl ActFormat for BlockQ8_0 {}

weight_format_32!(BlockQ8_0, act BlockQ8_0, gemv_rows 1);

impl Block32 for BlockQ8_0 {
    const OPERAND: Operand = Operand::Signed;

    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(self.qs[j])
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack_256(&self) -> __m256i {
        // SAFETY: `qs` is 32 bytes; AVX is the caller's contract.
        unsafe { _mm256_loadu_si256(self.qs.as_ptr().cast()) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i {
        // SAFETY: `pair` is 68 bytes (the caller's contract): loads of 64
        // bytes from 0 and 4 stay inside; the features are the caller's too.
        unsafe {
            // `vpermt2b` picks the 64 values (bytes 2..34 and 36..68).
            let p = pair.cast::<u8>();
            let raw = _mm512_loadu_si512(p.cast());
            let rest = _mm512_loadu_si512(p.add(4).cast());
            let q =
                _mm512_permutex2var_epi8(raw, x86::idx_vec(&const { x86::pair_values(2) }), rest);
            _mm512_xor_si512(q, _mm512_set1_epi8(Self::OPERAND.bias() as i8))
        }
    }
}

impl Act32 for BlockQ8_0 {
    #[inline(always)]
    fn scale(&self) -> f32 {
        self.d.to_f32()
    }
    #[inline(always)]
    fn scaled_sum(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn values(&self) -> &[i8; QK] {
        &self.qs
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scale_x86(&self) -> f32 {
        // SAFETY: F16C is the caller's contract.
        unsafe { x86::f16_to_f32(self.d) }
    }
}
