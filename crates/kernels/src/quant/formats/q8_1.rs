//! Our `Q8_1`: the activation format of Q4_1 weights. Q8_0's values with an
//! f32 scale `d` and their scaled sum `s = d·Σq`, so a block dot's offset
//! term `m·Σx` costs one multiply (40 bytes). Unlike ggml's `block_q8_1`,
//! whose `d` and `s` are f16, both are f32, and the format lives in memory
//! only: it never appears in a file.
//!
//! Quantizer: Q8_0's rounding (`d = max|x|/127`, `q = round(x·(1/d))`),
//! `d` kept in f32.

use bytemuck::{Pod, Zeroable};
use pulp::Simd;

use super::block32::{Act32, block_of};
use super::q8_0::{abs_max, q8_rows, q8_values};
use crate::quant::{ActFormat, BlockFormat, QK};

/// Activations for Q4_1 weights: `x[j] ≈ d·qs[j]` and `s = d·Σⱼ qs[j]`, both
/// in f32. 40 bytes, alignment 4.
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

const _: () = assert!(size_of::<BlockQ8_1>() == 40);

impl BlockQ8_1 {
    #[inline(always)]
    fn from_values((d, qs): (f32, [i8; QK])) -> Self {
        let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_1 {
            d,
            s: d * sum as f32,
            qs,
        }
    }
}

impl BlockFormat for BlockQ8_1 {
    const NAME: &'static str = "q8_1";
    const VALUES: usize = QK;

    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        for (v, &q) in out.iter_mut().zip(&self.qs) {
            *v = self.d * f32::from(q);
        }
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

impl ActFormat for BlockQ8_1 {}

impl Act32 for BlockQ8_1 {
    #[inline(always)]
    fn scale(&self) -> f32 {
        self.d
    }
    #[inline(always)]
    fn scaled_sum(&self) -> f32 {
        self.s
    }
    #[inline(always)]
    fn values(&self) -> &[i8; QK] {
        &self.qs
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn scale_x86(&self) -> f32 {
        self.d
    }
}
