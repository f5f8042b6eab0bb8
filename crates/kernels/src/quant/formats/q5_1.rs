//! ggml `Q5_1`: 32 weights per block, 24 bytes, `x = d·q + m` with a 5-bit `q`.
//!
//! Layout ([`BlockQ5_1`], alignment 2): `d` (f16, bytes 0..2), `m` (f16,
//! bytes 2..4), then `qh` and `qs` as in [`BlockQ5_0`](super::BlockQ5_0): bit
//! `j` of the little-endian `u32` `qh` is bit 4 of `q[j]`; `q[j]` for `j < 16`
//! has its low bits in the low nibble of `qs[j]`, `q[j + 16]` in the high
//! nibble.
//!
//! Quantizer (ggml's `quantize_row_q5_1_ref`, also gguf-py's): `min`, `max` of
//! the block, `d = (max − min)/31`, `id = 1/d` (0 if `d = 0`), `m = min`,
//! `q = trunc((x − min)·id + 0.5)`; `d` and `m` stored as f16. Round trip error:
//! at most `(max − min)/62` plus the f16 rounding of `d` and `m`.
//!
//! Dot (ggml pairs Q5_1 with Q8_1 activations, ours [`BlockQ8_1`]): per block,
//! `(d_w·d_x)·Σ_j q_j·x_j + m_w·s_x` with `s_x = d_x·Σ_j x_j`. The scalar
//! [`WeightFormat::dot_block`](crate::quant::WeightFormat::dot_block) is
//! ggml's `ggml_vec_dot_q5_1_q8_1_generic` per block; the x86 tiles multiply
//! the unsigned `q` directly (no bias) and add the offset term in f32, as for
//! Q4_1.
//!
//! **Activation scales.** Our [`BlockQ8_1`] keeps `d_x` and `s_x` in f32, where
//! ggml's `block_q8_1` stores them as f16. The dot uses them as given, so on
//! ggml's activation blocks (each f16 field widened to f32) it is bit-exact
//! with ggml; on blocks from our quantizer it is the same formula with
//! unrounded scales.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::block32::{Block32, Operand, fit_offset, weight_format_32};
use super::q5_0::{pack_5bit, q5};
use super::q8_1::BlockQ8_1;
use crate::quant::QK;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::blocks32 as x86;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::__m512i;

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
    pub qs: [u8; QK / 2],
}

impl BlockQ5_1 {
    /// The integer weights `q` (in `0..=31`): `x = d·v + m`.
    #[inline(always)]
    pub fn values(&self) -> [i8; QK] {
        std::array::from_fn(|j| q5(&self.qh, &self.qs, j) as i8)
    }

    /// ggml's reference quantizer (see the module docs).
    #[inline(always)]
    fn quantize(x: &[f32; QK]) -> Self {
        let (d, min, q) = fit_offset(x, 31);
        let mut block = Self {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qh: [0; 4],
            qs: [0; QK / 2],
        };
        pack_5bit(&q, &mut block.qh, &mut block.qs);
        block
    }
}

weight_format_32!(BlockQ5_1, "q5_1", bytes 24, act BlockQ8_1, gemv_rows crate::quant::isa::ROWS);

impl Block32 for BlockQ5_1 {
    const OPERAND: Operand = Operand::Unsigned { bias: 0 };
    const OFFSET: bool = true;

    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(q5(&self.qh, &self.qs, j))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack_256(&self) -> core::arch::x86_64::__m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { super::q5_0::unpack_5bit_256(&self.qh, &self.qs) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i {
        // SAFETY: `pair` is two blocks (48 bytes), the caller's contract, as
        // are the CPU features.
        unsafe {
            let u = x86::nibble_pair(pair);
            super::q5_0::add_high_bits_512(u, &(*pair).qh, &(*pair.add(1)).qh)
        }
    }
}
