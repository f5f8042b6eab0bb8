//! ggml `Q4_0`: 32 unsigned 4-bit values and one f16 scale,
//! `x[j] = d·(q[j] − 8)` (18 bytes, `block_q4_0`). Weight `j < 16` is the
//! low nibble of byte `j`, weight `j + 16` its high nibble. Its dots take
//! [`BlockQ8_0`] activations.
//!
//! Quantizer (ggml's `quantize_row_q4_0_ref`): `d = v/−8` with `v` the first
//! value of largest magnitude, `q = min(15, trunc(x·(1/d) + 8.5))`. Round
//! trip: `≤ amax/16` plus the f16 rounding of `d`.

use bytemuck::{Pod, Zeroable};
use half::f16;

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::block32::{
    Block32, Operand, first_largest_magnitude, pack_nibbles, unpack_nibble, weight_format_32,
};
use super::inv_or_zero;
use super::q8_0::BlockQ8_0;
use crate::quant::QK;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::blocks32 as x86;

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

impl BlockQ4_0 {
    /// The 4-bit value of weight `j` (`0..32`), before the `− 8`.
    #[inline(always)]
    pub fn nibble(&self, j: usize) -> u8 {
        unpack_nibble(&self.qs, j)
    }

    /// ggml's reference quantizer (see the module docs).
    #[inline(always)]
    fn quantize(x: &[f32; QK]) -> Self {
        let d = first_largest_magnitude(x) / -8.0;
        let id = inv_or_zero(d);
        let mut q = [0u8; QK];
        for (q, &v) in q.iter_mut().zip(x) {
            *q = ((v * id + 8.5) as i32).clamp(0, 15) as u8;
        }
        BlockQ4_0 {
            d: f16::from_f32(d),
            qs: pack_nibbles(&q),
        }
    }
}

weight_format_32!(BlockQ4_0, "q4_0", bytes 18, act BlockQ8_0, gemv_rows crate::quant::isa::ROWS);

impl Block32 for BlockQ4_0 {
    const OPERAND: Operand = Operand::Unsigned { bias: 8 };

    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(self.nibble(j)) - 8
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack_256(&self) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { x86::unpack_nibbles(&self.qs) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i {
        // SAFETY: forwarded from the caller (a 36-byte pair).
        unsafe { x86::nibble_pair(pair) }
    }
}
