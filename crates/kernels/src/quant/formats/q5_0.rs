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
//! Dot (ggml pairs Q5_0 with [`BlockQ8_0`] activations): per block,
//! `(d_w·d_x)·Σ_j (q_j − 16)·x_j` (an exact integer sum). The scalar
//! [`WeightFormat::dot_block`](crate::quant::WeightFormat::dot_block) is
//! ggml's `ggml_vec_dot_q5_0_q8_0_generic` per block, bit for bit. The x86
//! tiles multiply the unsigned `u = q` (nibble plus the `qh` bit) and
//! subtract `16·Σ q_x`.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::block32::{Block32, Operand, first_largest_magnitude, unpack_nibble, weight_format_32};
use super::inv_or_zero;
use super::q8_0::BlockQ8_0;
use crate::quant::QK;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::blocks32 as x86;

/// A Q5_0 block (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Bit 4 of each weight, weight `j` at bit `j` of the little-endian `u32`.
    pub qh: [u8; 4],
    /// Low 4 bits: weight `j < 16` in the low nibble of `qs[j]`, `j + 16` high.
    pub qs: [u8; QK / 2],
}

impl BlockQ5_0 {
    /// The signed integer weights `q − 16` (in `−16..=15`): `x = d·v`.
    #[inline(always)]
    pub fn values(&self) -> [i8; QK] {
        std::array::from_fn(|j| self.value(j) as i8)
    }

    /// ggml's reference quantizer (see the module docs).
    #[inline(always)]
    fn quantize(x: &[f32; QK]) -> Self {
        let d = first_largest_magnitude(x) / -16.0;
        let id = inv_or_zero(d);
        // `as i8` truncates toward zero (the values are in 0.5 ..= 32.5).
        let q = x.map(|v| ((v * id + 16.5) as i8).min(31) as u8);
        let mut block = Self {
            d: f16::from_f32(d),
            qh: [0; 4],
            qs: [0; QK / 2],
        };
        pack_5bit(&q, &mut block.qh, &mut block.qs);
        block
    }
}

/// The 5-bit `q[j]` (`0..32`) of the Q5 layout (shared with Q5_1).
#[inline(always)]
pub(super) fn q5(qh: &[u8; 4], qs: &[u8; QK / 2], j: usize) -> u8 {
    let high = (u32::from_le_bytes(*qh) >> j) & 1;
    unpack_nibble(qs, j) | ((high as u8) << 4)
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

weight_format_32!(BlockQ5_0, "q5_0", bytes 22, act BlockQ8_0, gemv_rows crate::quant::isa::ROWS);

impl Block32 for BlockQ5_0 {
    const OPERAND: Operand = Operand::Unsigned { bias: 16 };

    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(q5(&self.qh, &self.qs, j)) - 16
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack_256(&self) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { unpack_5bit_256(&self.qh, &self.qs) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i {
        // SAFETY: `pair` is two blocks (44 bytes), the caller's contract, as
        // are the CPU features.
        unsafe {
            let u = x86::nibble_pair(pair);
            add_high_bits_512(u, &(*pair).qh, &(*pair.add(1)).qh)
        }
    }
}

/// The 32 five-bit `q` of the Q5 layout as bytes, in weight order: the
/// nibbles, plus 16 where bit `j` of `qh` is set (byte `j / 8` of `qh`
/// broadcast to bytes `j`, tested against bit `j % 8`).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn unpack_5bit_256(qh: &[u8; 4], qs: &[u8; QK / 2]) -> __m256i {
    // SAFETY: register operations and a 16-byte read of `qs`; AVX2 is the
    // caller's contract.
    unsafe {
        let bytes_of_qh = _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        );
        let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(i32::from_le_bytes(*qh)), bytes_of_qh);
        let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        let high = _mm256_and_si256(set, _mm256_set1_epi8(0x10));
        _mm256_or_si256(x86::unpack_nibbles(qs), high)
    }
}

/// Adds 16 to the bytes of `nibbles` (a pair's 64 weights, see
/// [`x86::nibble_pair`]) whose `qh` bit is set: `qh0` covers the first
/// block's 32, `qh1` the second's.
///
/// # Safety
/// The CPU must support AVX-512 F/BW.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn add_high_bits_512(nibbles: __m512i, qh0: &[u8; 4], qh1: &[u8; 4]) -> __m512i {
    let high = u64::from(u32::from_le_bytes(*qh0)) | (u64::from(u32::from_le_bytes(*qh1)) << 32);
    // SAFETY: register operations; AVX-512 BW is the caller's contract.
    unsafe { _mm512_mask_add_epi8(nibbles, high, nibbles, _mm512_set1_epi8(16)) }
}
