//! ggml `Q4_1`: 32 unsigned 4-bit values, an f16 scale and an f16 offset,
//! `x[j] = d·q[j] + m` (20 bytes, `block_q4_1`), nibbles ordered as in
//! Q4_0. Its dots take [`BlockQ8_1`] activations, whose scaled sum gives the
//! offset term.
//!
//! Quantizer (ggml's `quantize_row_q4_1_ref`): `d = (max − min)/15`,
//! `m = min`, `q = min(15, trunc((x − min)·(1/d) + 0.5))`. Round trip:
//! `≤ (max − min)/30` plus the f16 rounding of `d` and `m`.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::block32::{Block32, Operand, fit_offset, pack_nibbles, unpack_nibble, weight_format_32};
use super::q8_1::BlockQ8_1;
use crate::quant::QK;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::blocks32 as x86;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::__m512i;

/// ggml `Q4_1`: 32 unsigned 4-bit values, an f16 scale and an f16 offset;
/// `x[j] = d·q[j] + m`, nibbles ordered as in [`BlockQ4_0`](super::BlockQ4_0).
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

impl BlockQ4_1 {
    /// The 4-bit value of weight `j` (`0..32`).
    #[inline(always)]
    pub fn nibble(&self, j: usize) -> u8 {
        unpack_nibble(&self.qs, j)
    }

    /// ggml's reference quantizer (see the module docs).
    #[inline(always)]
    fn quantize(x: &[f32; QK]) -> Self {
        let (d, min, q) = fit_offset(x, 15);
        BlockQ4_1 {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qs: pack_nibbles(&q),
        }
    }
}

weight_format_32!(BlockQ4_1, "q4_1", bytes 20, act BlockQ8_1, gemv_rows crate::quant::isa::ROWS);

impl Block32 for BlockQ4_1 {
    const OPERAND: Operand = Operand::Unsigned { bias: 0 };
    const OFFSET: bool = true;

    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(self.nibble(j))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack_256(&self) -> core::arch::x86_64::__m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { x86::unpack_nibbles(&self.qs) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i {
        // SAFETY: forwarded from the caller (a 40-byte pair).
        unsafe { x86::nibble_pair(pair) }
    }
}
