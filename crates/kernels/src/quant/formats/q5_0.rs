//! ggml `Q5_0`: 32 weights per block, 22 bytes, `x = d·(q − 16)` with a 5-bit `q`.
//!
//! Layout ([`BlockQ5_0`], alignment 2):
//! - `d` (f16, bytes 0..2): the scale;
//! - `qh` (bytes 2..6): bit `j` of the little-endian `u32` is bit 4 of `q[j]`;
//! - `qs` (bytes 6..22): the low 4 bits; `q[j]` for `j < 16` is the low nibble
//!   of `qs[j]`, `q[j + 16]` its high nibble.
//!
//! Quantizer (ggml's `quantize_row_q5_0_ref`, also gguf-py's): `m` is the first
//! value of largest `|x|`, with its sign; `d = m / −16`, `id = 1/d` (0 if
//! `d = 0`), `q = min(31, trunc(x·id + 16.5))`; `d` is stored as f16 (round to
//! nearest even). So `m` maps to `q = 0`, and the round trip error is at most
//! `|m|/32` plus the f16 rounding of `d`.
//!
//! Dot (ggml pairs Q5_0 with Q8_0 activations): per block,
//! `(d_w·d_x)·Σ_j (q_j − 16)·x_j` (an exact integer sum), added in block order
//! to an f32 sum, as ggml's `ggml_vec_dot_q5_0_q8_0_generic`.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::{RefFormat, RefQuantize, check_dot, dequantize_blocks, inv_or_zero, quantize_blocks};
use crate::KernelError;
use crate::quant::BlockQ8_0;

/// Weights per block.
pub const QK5_0: usize = 32;

/// A Q5_0 block (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Bit 4 of each weight, weight `j` at bit `j` of the little-endian `u32`.
    pub qh: [u8; 4],
    /// Low 4 bits: weight `j < 16` in the low nibble of `qs[j]`, `j + 16` high.
    pub qs: [u8; QK5_0 / 2],
}

const _: () = assert!(size_of::<BlockQ5_0>() == 22);
const _: () = assert!(align_of::<BlockQ5_0>() == 2);

impl BlockQ5_0 {
    /// The signed integer weights `q − 16` (in `−16..=15`): `x = d·v`.
    #[inline(always)]
    pub fn values(&self) -> [i8; QK5_0] {
        let qh = u32::from_le_bytes(self.qh);
        let mut v = [0i8; QK5_0];
        for (j, &byte) in self.qs.iter().enumerate() {
            let hi0 = ((qh >> j) & 1) as u8;
            let hi1 = ((qh >> (j + 16)) & 1) as u8;
            v[j] = ((byte & 0x0F) | (hi0 << 4)) as i8 - 16;
            v[j + 16] = ((byte >> 4) | (hi1 << 4)) as i8 - 16;
        }
        v
    }

    /// The 32 values in f32, as ggml's `dequantize_row_q5_0`: `v·d`.
    #[inline(always)]
    pub fn dequantize(&self, out: &mut [f32; QK5_0]) {
        let d = self.d.to_f32();
        for (o, v) in out.iter_mut().zip(self.values()) {
            *o = f32::from(v) * d;
        }
    }

    /// ggml's reference quantizer (see the module docs).
    pub fn quantize(x: &[f32; QK5_0]) -> Self {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in x {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = inv_or_zero(d);
        // `as i8` truncates toward zero (the values are in 0.5 ..= 32.5).
        let q = x.map(|v| ((v * id + 16.5) as i8).min(31) as u8);
        let mut block = Self {
            d: f16::from_f32(d),
            qh: [0; 4],
            qs: [0; QK5_0 / 2],
        };
        pack_5bit(&q, &mut block.qh, &mut block.qs);
        block
    }
}

/// Packs 32 five-bit values into `qh` (bit 4 of `q[j]` at bit `j`) and `qs`
/// (nibbles, `j` low and `j + 16` high): the layout shared with Q5_1.
#[inline(always)]
pub(crate) fn pack_5bit(q: &[u8; 32], qh: &mut [u8; 4], qs: &mut [u8; 16]) {
    let mut high = 0u32;
    for (j, &v) in q.iter().enumerate() {
        high |= u32::from((v >> 4) & 1) << j;
    }
    *qh = high.to_le_bytes();
    for (j, b) in qs.iter_mut().enumerate() {
        *b = (q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4);
    }
}

impl RefFormat for BlockQ5_0 {
    const NAME: &'static str = "q5_0";
    const VALUES: usize = QK5_0;
    type Act = BlockQ8_0;

    fn dequantize_row(blocks: &[Self], out: &mut [f32]) -> Result<(), KernelError> {
        dequantize_blocks("q5_0::dequantize_row", blocks, out, Self::dequantize)
    }

    fn dot_ref(w: &[Self], x: &[BlockQ8_0]) -> Result<f32, KernelError> {
        check_dot("q5_0::dot_ref", w.len(), x.len())?;
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let isum: i32 = wb
                .values()
                .iter()
                .zip(&xb.qs)
                .map(|(&v, &q)| i32::from(v) * i32::from(q))
                .sum();
            sum += (wb.d.to_f32() * xb.d.to_f32()) * isum as f32;
        }
        Ok(sum)
    }
}

impl RefQuantize for BlockQ5_0 {
    fn quantize_row(x: &[f32], out: &mut [Self]) -> Result<(), KernelError> {
        quantize_blocks("q5_0::quantize_row", x, out, Self::quantize)
    }
}
