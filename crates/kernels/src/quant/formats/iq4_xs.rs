//! ggml `IQ4_XS`: 256 weights per superblock, 136 bytes; eight sub-blocks of
//! 32 with 6-bit signed scales, `x = d·sc[s]·T[q]` with `T` the IQ4_NL codebook
//! ([`super::IQ4_VALUES`]) and a 4-bit index `q`.
//!
//! Layout ([`BlockIq4Xs`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `scales_h` (little-endian u16, bytes 2..4): bits `2s, 2s + 1` are the high
//!   2 bits of `sc[s] + 32`;
//! - `scales_l` (bytes 4..8): the low 4 bits of `sc[s] + 32`, in the low nibble
//!   of byte `s/2` for even `s`, the high nibble for odd `s`;
//! - `qs` (bytes 8..136): sub-block `s` in `qs[16s ..][..16]`, ordered as an
//!   IQ4_NL block (weight `32s + j` in the low nibble of `qs[16s + j]`,
//!   `32s + 16 + j` in its high nibble).
//!
//! Dequantization (ggml's `dequantize_row_iq4_xs`): `(d·sc)·T[q]`.
//!
//! Quantizer (ggml's `quantize_iq4_xs` without an importance matrix, which is
//! also its `quantize_row_iq4_xs_ref` and what `llama-quantize` runs): per
//! sub-block the scale search of IQ4_NL with 7 tries (see [`super::iq4_nl`];
//! a sub-block below 10⁻¹⁵ gets scale 0); with `M` the sub-block scale of
//! largest magnitude, `d = −M/32` (f16) and
//! `sc = clamp(round(scale/d), −32, 31)` (with the unrounded `d`); then each
//! index is the codebook entry nearest `x/(d·sc)` (the entry nearest 0 when
//! `d·sc = 0`), again with the unrounded `d`.
//!
//! Dot (ggml pairs IQ4_XS with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq4_xs_q8_K_generic`: per sub-block
//! `sumf += ((d·d_x)·sc[s])·Σ_{j ∈ s} T[q_j]·x_j`, in order across the row: the
//! scalar path's row dot (bit-exact with ggml); the oracle is `d·d_x·I` in f64
//! with `I = Σ_s sc[s]·Σ_{j∈s} T[q_j]·x_j`.
//!
//! SIMD tiles (`x86/kquants.rs`): the codebook values are signed and span
//! 240, so no offset keeps `vpmaddubsw` exact; the tiles multiply `|T|` by
//! `sign(T)·x` instead (`2·127·127 = 32258 < 2¹⁵`), with no block-sum term.
//! `|I| ≤ 32·127·127·256 < 2²⁸`: exact in i32.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::iq4_nl::{best_index, fit_scale, pack_nibbles, unpack_codebook};
use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::search::nearest_int;
use super::{IQ4_VALUES, SubBlocks, inv_or_zero};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockQ8K, QK_K};

/// An IQ4_XS superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq4Xs {
    /// Superblock scale.
    pub d: f16,
    /// High 2 bits of the eight sub-block scales (little-endian).
    pub scales_h: u16,
    /// Low 4 bits of the eight sub-block scales.
    pub scales_l: [u8; QK_K / 64],
    /// Codebook indices, 16 bytes per sub-block of 32.
    pub qs: [u8; QK_K / 2],
}

impl BlockIq4Xs {
    /// The eight sub-block scales `sc` (`−32..=31`).
    #[inline(always)]
    fn sub_block_scales(&self) -> [i8; 8] {
        let h = u16::from_le(self.scales_h);
        std::array::from_fn(|s| {
            let low = (self.scales_l[s / 2] >> (4 * (s % 2))) & 0x0F;
            let high = ((h >> (2 * s)) & 3) as u8;
            (low | (high << 4)) as i8 - 32
        })
    }

    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 32, `q` the codebook
    /// values (`−127..=113`), scales in `−32..=31` (`dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<8> {
        let scales = self.sub_block_scales();
        let mut q = [0i8; QK_K];
        for (v, qs) in q
            .as_chunks_mut::<32>()
            .0
            .iter_mut()
            .zip(self.qs.as_chunks::<16>().0)
        {
            *v = unpack_codebook(qs);
        }
        SubBlocks {
            d: self.d.to_f32(),
            dmin: 0.0,
            scales,
            mins: [0; 8],
            q,
        }
    }
}

impl BlockIq4Xs {
    /// ggml's `quantize_iq4_xs` without importance matrix (see the module docs).
    fn quantize(x: &[f32]) -> Self {
        let subs = x.as_chunks::<32>().0;
        let mut scales = [0.0f32; 8];
        let (mut amax_scale, mut max_scale) = (0.0f32, 0.0f32);
        let mut unused = [0u8; 32];
        for (scale, xs) in scales.iter_mut().zip(subs) {
            *scale = fit_scale(xs, 7, &mut unused);
            if scale.abs() > amax_scale {
                amax_scale = scale.abs();
                max_scale = *scale;
            }
        }
        let d = -max_scale / 32.0;
        let id = inv_or_zero(d);
        let mut block = Self {
            d: f16::from_f32(d),
            scales_h: 0,
            scales_l: [0; QK_K / 64],
            qs: [0; QK_K / 2],
        };
        let mut scales_h = 0u16;
        for (s, (xs, qs)) in subs
            .iter()
            .zip(block.qs.as_chunks_mut::<16>().0)
            .enumerate()
        {
            let l = nearest_int(id * scales[s]).clamp(-32, 31);
            let idl = inv_or_zero(d * l as f32);
            let q = xs.map(|v| best_index(idl * v));
            pack_nibbles(&q, qs);
            let sc = (l + 32) as u8;
            block.scales_l[s / 2] |= (sc & 0x0F) << (4 * (s % 2));
            scales_h |= u16::from(sc >> 4) << (2 * s);
        }
        block.scales_h = scales_h.to_le();
        block
    }
}

weight_format_k!(BlockIq4Xs, "iq4_xs", bytes 136, via sub_blocks);

impl KBlock for BlockIq4Xs {
    /// Signed codebook values (`|T| ≤ 127`), no block-sum term.
    const BSUMS: BsumsTerm = BsumsTerm::Offset(0);
    const SIGNED: bool = true;

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        let isum = v.scaled_isum(&x.qs);
        (isum, 0)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), 0.0)
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_iq4_xs_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let v = wb.sub_blocks();
            let d4d8 = v.d * xb.d;
            for (s, (q, xs)) in v.q.chunks_exact(32).zip(xb.qs.chunks_exact(32)).enumerate() {
                let isum: i32 = q
                    .iter()
                    .zip(xs)
                    .map(|(&a, &b)| i32::from(a) * i32::from(b))
                    .sum();
                sum += (d4d8 * f32::from(v.scales[s])) * isum as f32;
            }
        }
        sum
    }

    /// Vector `s` holds the signed codebook values of sub-block `s`, looked
    /// up with `vpshufb` (low nibbles of `qs[16s ..]` for its first 16
    /// weights, high nibbles for the last 16).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::f16_to_f32;
        use core::arch::x86_64::*;
        // SAFETY: the loads read the 16-byte codebook and 16 bytes at
        // `16s` (s < 8) of `self.qs` (128 bytes); AVX2 and F16C are the
        // caller's contract.
        unsafe {
            let table = _mm256_broadcastsi128_si256(_mm_loadu_si128(IQ4_VALUES.as_ptr().cast()));
            let low = _mm_set1_epi8(0x0F);
            let scales = self.sub_block_scales();
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            for s in 0..8 {
                let v = _mm_loadu_si128(self.qs.as_ptr().add(16 * s).cast());
                let lo = _mm_and_si128(v, low);
                let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), low);
                q[s] = _mm256_shuffle_epi8(table, _mm256_set_m128i(hi, lo));
                sc[s] = O::scale_vec(i32::from(scales[s]), i32::from(scales[s]));
            }
            Unpacked {
                q,
                sc,
                sums_by: _mm256_setzero_si256(),
                d: f16_to_f32(self.d),
                dmin: 0.0,
            }
        }
    }
}
