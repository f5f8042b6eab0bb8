//! ggml `Q2_K`: 256 weights per superblock, 84 bytes; sixteen sub-blocks of
//! 16 with 4-bit scales and mins, `x = d·sc[s]·q − dmin·mn[s]` with `q` in
//! `0..=3`.
//!
//! Layout ([`BlockQ2K`], alignment 2):
//! - `scales` (bytes 0..16): byte `s` holds `sc[s]` in its low nibble and
//!   `mn[s]` in its high nibble;
//! - `qs` (bytes 16..80): weight `128h + 32i + l` (`h < 2`, `i < 4`, `l < 32`)
//!   at bits `2i, 2i + 1` of `qs[32h + l]`;
//! - `d`, `dmin` (f16, bytes 80..84).
//!
//! Dequantization (ggml's `dequantize_row_q2_K`): `(d·sc)·q − dmin·mn`.
//!
//! Quantizer (ggml's `quantize_row_q2_K_ref`, what `llama-quantize` runs
//! without an importance matrix): per sub-block of 16, the (scale, min) search
//! of ggml's `make_qkx2_quants` with weights `|x|` and absolute error
//! (`search::fit_scale_min`, `q` in `0..=3`). Then `d = max scale/15`,
//! `dmin = max min/15` (f16), `sc = round(15·scale/max scale)`,
//! `mn = round(15·min/max min)`, and `q = clamp(round((x + dmin·mn)/(d·sc)), 0, 3)`
//! with the stored `d`, `dmin` (a sub-block whose `d·sc` is 0 keeps the
//! search's `q`).
//!
//! Dot (ggml pairs Q2_K with Q8_K activations), as ggml's
//! `ggml_vec_dot_q2_K_q8_K_generic`: per superblock
//! `I = Σ_s sc[s]·Σ_{j ∈ s} q_j·x_j` and `M = Σ_s mn[s]·bsums[s]` (exact i32),
//! and `sumf += (d_x·d)·I − (d_x·dmin)·M` in superblock order: the scalar path's
//! block and row dots (bit-exact with ggml); the oracle is the same in f64.
//!
//! SIMD tiles (`x86/kquants.rs`): the unsigned `q` is the `vpmaddubsw` operand
//! (`2·3·127 < 2¹⁵`, no saturation) and `M` comes from the Q8_K block sums.
//! `|I| ≤ 15·3·127·256 < 2²¹`, `|M| ≤ 15·127·256 < 2¹⁹`: exact in i32.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::SubBlocks;
use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::search::{fit_scale_min, fit_sub_blocks, largest, nearest_int, requantize_sub_blocks};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockQ8K, QK_K};

/// A Q2_K superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ2K {
    /// Sub-block scales (low nibbles) and mins (high nibbles).
    pub scales: [u8; QK_K / 16],
    /// 2-bit quants.
    pub qs: [u8; QK_K / 4],
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block mins.
    pub dmin: f16,
}

impl BlockQ2K {
    /// The integer view: `x = d·scales[s]·q − dmin·mins[s]`, sub-blocks of 16,
    /// `q` in `0..=3`, scales and mins in `0..=15`.
    pub fn sub_blocks(&self) -> SubBlocks<16> {
        let mut q = [0i8; QK_K];
        for (g, group) in q.chunks_exact_mut(32).enumerate() {
            let (h, i) = (g / 4, g % 4);
            for (l, v) in group.iter_mut().enumerate() {
                *v = ((self.qs[32 * h + l] >> (2 * i)) & 3) as i8;
            }
        }
        SubBlocks {
            d: self.d.to_f32(),
            dmin: self.dmin.to_f32(),
            scales: self.scales.map(|b| (b & 0x0F) as i8),
            mins: self.scales.map(|b| b >> 4),
            q,
        }
    }
}

impl BlockQ2K {
    /// ggml's `quantize_row_q2_K_ref` (see the module docs).
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0u8; QK_K];
        let (scales, mins) = fit_sub_blocks::<16, 16>(x, &mut l, |xs, ls| {
            fit_scale_min(xs, &xs.map(f32::abs), 3, true, ls)
        });
        let (max_scale, max_min) = (largest(&scales), largest(&mins));

        // ggml stores each `nearest_int` in a uint8_t (mod 256), the min shifted into
        // the high nibble.
        let mut packed = [0u8; 16];
        let mut d = f16::from_f32(0.0);
        if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for (p, &v) in packed.iter_mut().zip(&scales) {
                *p = nearest_int(iscale * v) as u8;
            }
            d = f16::from_f32(max_scale / 15.0);
        }
        let mut dmin = f16::from_f32(0.0);
        if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for (p, &v) in packed.iter_mut().zip(&mins) {
                *p |= (nearest_int(iscale * v) as u8) << 4;
            }
            dmin = f16::from_f32(max_min / 15.0);
        }
        requantize_sub_blocks::<16>(x, &mut l, 0..=3, |s| {
            let step = d.to_f32() * f32::from(packed[s] & 0x0F);
            (step, dmin.to_f32() * f32::from(packed[s] >> 4))
        });

        let mut qs = [0u8; QK_K / 4];
        for h in 0..2 {
            for k in 0..32 {
                let at = |i: usize| l[128 * h + 32 * i + k] << (2 * i);
                qs[32 * h + k] = at(0) | at(1) | at(2) | at(3);
            }
        }
        Self {
            scales: packed,
            qs,
            d,
            dmin,
        }
    }
}

weight_format_k!(BlockQ2K, "q2_k", bytes 84, via sub_blocks);

impl KBlock for BlockQ2K {
    /// `q` is unsigned (`0..=3`, `2·3·127 < 2¹⁵`); the block sums multiply the
    /// mins.
    const BSUMS: BsumsTerm = BsumsTerm::Mins;

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        let isum = v.scaled_isum(&x.qs);
        let msum = x
            .bsums
            .iter()
            .zip(&v.mins)
            .map(|(&b, &m)| i32::from(b) * i32::from(m))
            .sum();
        (isum, msum)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), self.dmin.to_f32())
    }

    /// Vector `g = 4h + i` holds bits `2i, 2i + 1` of `qs[32h ..]`; its halves
    /// are sub-blocks `2g` and `2g + 1`. The block sums multiply the sixteen
    /// mins.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the loads read 32 bytes at offsets 0 and 32 of `self.qs`
        // (64 bytes) and the 16 scale bytes; AVX2 and F16C are the caller's
        // contract. Shifting 16-bit words and masking to 2 bits keeps each
        // byte's own bits.
        unsafe {
            let m3 = _mm256_set1_epi8(3);
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            for h in 0..2 {
                let v = load(self.qs.as_ptr().add(32 * h));
                let lows = [
                    v,
                    _mm256_srli_epi16::<2>(v),
                    _mm256_srli_epi16::<4>(v),
                    _mm256_srli_epi16::<6>(v),
                ];
                for (i, low) in lows.into_iter().enumerate() {
                    let g = 4 * h + i;
                    q[g] = _mm256_and_si256(low, m3);
                    let scale = |s: usize| i32::from(self.scales[s] & 0x0F);
                    sc[g] = O::scale_vec(scale(2 * g), scale(2 * g + 1));
                }
            }
            let bytes = _mm_loadu_si128(self.scales.as_ptr().cast());
            let mins = _mm_and_si128(_mm_srli_epi16::<4>(bytes), _mm_set1_epi8(0x0F));
            Unpacked {
                q,
                sc,
                sums_by: _mm256_cvtepu8_epi16(mins),
                d: f16_to_f32(self.d),
                dmin: f16_to_f32(self.dmin),
            }
        }
    }
}
