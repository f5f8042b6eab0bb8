//! ggml `Q5_1`: 32 weights per block, 24 bytes, `x = d·q + m` with a 5-bit `q`.
//!
//! Layout ([`BlockQ5_1`], alignment 2): `d` (f16, bytes 0..2), `m` (f16,
//! bytes 2..4), then `qh` and `qs` as in [`super::q5_0`]: bit `j` of the
//! little-endian `u32` `qh` is bit 4 of `q[j]`; `q[j]` for `j < 16` has its low
//! bits in the low nibble of `qs[j]`, `q[j + 16]` in the high nibble.
//!
//! Quantizer (ggml's `quantize_row_q5_1_ref`, also gguf-py's): `min`, `max` of
//! the block, `d = (max − min)/31`, `id = 1/d` (0 if `d = 0`), `m = min`,
//! `q = trunc((x − min)·id + 0.5)`; `d` and `m` stored as f16. Round trip error:
//! at most `(max − min)/62` plus the f16 rounding of `d` and `m`.
//!
//! Dot (ggml pairs Q5_1 with Q8_1 activations): per block,
//! `(d_w·d_x)·Σ_j q_j·x_j + m_w·s_x` with `s_x = d_x·Σ_j x_j`, added in block
//! order to an f32 sum, as ggml's `ggml_vec_dot_q5_1_q8_1_generic`.
//!
//! **Activation scales.** Our [`BlockQ8_1`] keeps `d_x` and `s_x` in f32, where
//! ggml's `block_q8_1` stores them as f16. [`RefFormat::dot_ref`] uses them as
//! given, so on ggml's activation blocks (each f16 field widened to f32) it is
//! bit-exact with ggml; on blocks from our `quantize_q8_1` it is the same
//! formula with unrounded scales.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::q5_0::pack_5bit;
use super::{RefFormat, RefQuantize, check_dot, dequantize_blocks, inv_or_zero, quantize_blocks};
use crate::KernelError;
use crate::quant::BlockQ8_1;

/// Weights per block.
pub const QK5_1: usize = 32;

/// A Q5_1 block (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Offset (the block minimum).
    pub m: f16,
    /// Bit 4 of each weight, weight `j` at bit `j` of the little-endian `u32`.
    pub qh: [u8; 4],
    /// Low 4 bits: weight `j < 16` in the low nibble of `qs[j]`, `j + 16` high.
    pub qs: [u8; QK5_1 / 2],
}

const _: () = assert!(size_of::<BlockQ5_1>() == 24);
const _: () = assert!(align_of::<BlockQ5_1>() == 2);

impl BlockQ5_1 {
    /// The integer weights `q` (in `0..=31`): `x = d·v + m`.
    #[inline(always)]
    pub fn values(&self) -> [i8; QK5_1] {
        let qh = u32::from_le_bytes(self.qh);
        let mut v = [0i8; QK5_1];
        for (j, &byte) in self.qs.iter().enumerate() {
            let hi0 = ((qh >> j) & 1) as u8;
            let hi1 = ((qh >> (j + 16)) & 1) as u8;
            v[j] = ((byte & 0x0F) | (hi0 << 4)) as i8;
            v[j + 16] = ((byte >> 4) | (hi1 << 4)) as i8;
        }
        v
    }

    /// The 32 values in f32, as ggml's `dequantize_row_q5_1`: `v·d + m`.
    #[inline(always)]
    pub fn dequantize(&self, out: &mut [f32; QK5_1]) {
        let d = self.d.to_f32();
        let m = self.m.to_f32();
        for (o, v) in out.iter_mut().zip(self.values()) {
            *o = f32::from(v) * d + m;
        }
    }

    /// ggml's reference quantizer (see the module docs).
    pub fn quantize(x: &[f32; QK5_1]) -> Self {
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
        let d = (max - min) / 31.0;
        let id = inv_or_zero(d);
        // `as u8` truncates toward zero (the values are in 0.5 ..= 31.5).
        let q = x.map(|v| ((v - min) * id + 0.5) as u8);
        let mut block = Self {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qh: [0; 4],
            qs: [0; QK5_1 / 2],
        };
        pack_5bit(&q, &mut block.qh, &mut block.qs);
        block
    }
}

impl RefFormat for BlockQ5_1 {
    const NAME: &'static str = "q5_1";
    const VALUES: usize = QK5_1;
    type Act = BlockQ8_1;

    fn dequantize_row(blocks: &[Self], out: &mut [f32]) -> Result<(), KernelError> {
        dequantize_blocks("q5_1::dequantize_row", blocks, out, Self::dequantize)
    }

    fn dot_ref(w: &[Self], x: &[BlockQ8_1]) -> Result<f32, KernelError> {
        check_dot("q5_1::dot_ref", w.len(), x.len())?;
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let isum: i32 = wb
                .values()
                .iter()
                .zip(&xb.qs)
                .map(|(&v, &q)| i32::from(v) * i32::from(q))
                .sum();
            sum += (wb.d.to_f32() * xb.d) * isum as f32 + wb.m.to_f32() * xb.s;
        }
        Ok(sum)
    }
}

impl RefQuantize for BlockQ5_1 {
    fn quantize_row(x: &[f32], out: &mut [Self]) -> Result<(), KernelError> {
        quantize_blocks("q5_1::quantize_row", x, out, Self::quantize)
    }
}
