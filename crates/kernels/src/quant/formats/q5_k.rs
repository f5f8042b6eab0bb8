//! ggml `Q5_K`: 256 weights per superblock, 176 bytes; eight sub-blocks of 32
//! with 6-bit scales and mins, `x = d·sc[s]·q − dmin·mn[s]` with a 5-bit `q`.
//!
//! Layout ([`BlockQ5K`], alignment 2):
//! - `d`, `dmin` (f16, bytes 0..4): the scales of the sub-block scales and mins;
//! - `scales` (bytes 4..16): eight 6-bit `sc[s]` and eight 6-bit `mn[s]`,
//!   packed as in Q4_K: pairs `s < 4` are the low 6 bits of bytes `s` / `s + 4`;
//!   for `s ≥ 4` the low 4 bits are the nibbles of byte `s + 4` and the high
//!   2 bits the top bits of bytes `s − 4` / `s`;
//! - `qh` (bytes 16..48): bit 4 of `q`; weight `64p + l` (`p < 4`, `l < 32`)
//!   at bit `2p` of `qh[l]`, weight `64p + 32 + l` at bit `2p + 1`;
//! - `qs` (bytes 48..176): the low 4 bits; weight `64p + l` in the low nibble of
//!   `qs[32p + l]`, weight `64p + 32 + l` in its high nibble.
//!
//! Dequantization (ggml's `dequantize_row_q5_K`): `(d·sc)·q − dmin·mn`, each
//! product rounded to f32.
//!
//! Quantizer (ggml's `quantize_row_q5_K_ref`, what `llama-quantize` runs
//! without an importance matrix), per sub-block of 32: weights
//! `w = sqrt(Σx²/32) + |x|`, then the (scale, min) search of ggml's
//! `make_qkx2_quants` (`q` in `0..=31`, see `search::fit_scale_min`). The
//! superblock `d = max scale/63` and `dmin = max min/63` (f16);
//! `sc = min(63, round(scale·63/max scale))`, likewise `mn`; then
//! `q = clamp(round((x + dmin·mn)/(d·sc)), 0, 31)` with the stored `d`, `dmin`
//! (a sub-block whose `d·sc` is 0 keeps the search's `q`).
//!
//! Dot (ggml pairs Q5_K with Q8_K activations), as ggml's
//! `ggml_vec_dot_q5_K_q8_K_generic`: per superblock, eight i32 lanes
//! `L[l] = Σ_s sc[s]·Σ_{j ∈ s, j ≡ l mod 8} q_j·x_j` and
//! `M = Σ_{i<16} bsums[i]·mn[i/2]`; then `sums[l] += (d·d_x)·L[l]` across
//! superblocks and `sumf −= (dmin·d_x)·M`; at the end `sumf + sums[0] + … + sums[7]`.
//! That is the scalar path's row dot (bit-exact with ggml); the oracle is
//! `d·d_x·I − dmin·d_x·M` in f64 with `I = Σ_l L[l]`.
//!
//! SIMD tiles (`x86/kquants.rs`): the unsigned 5-bit `q` is the `vpmaddubsw`
//! operand (`2·31·127 < 2¹⁵`, no saturation) and `M` comes from the Q8_K
//! block sums. `|I| ≤ 63·31·127·256 < 2²⁶`, `|M| ≤ 63·127·256 < 2²¹`: exact
//! in i32.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::search::{
    fit_scale_min, fit_sub_blocks, largest, nearest_int, pack_scale_min_k4, requantize_sub_blocks,
    scale_min_k4,
};
use super::{SubBlocks, lane_sums};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockQ8K, QK_K};

/// A Q5_K superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block mins.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit mins, packed.
    pub scales: [u8; 12],
    /// Bit 4 of each weight.
    pub qh: [u8; QK_K / 8],
    /// Low 4 bits of each weight.
    pub qs: [u8; QK_K / 2],
}

impl BlockQ5K {
    /// The integer view: `x = d·scales[s]·q − dmin·mins[s]`, sub-blocks of 32,
    /// `q` in `0..=31`, scales and mins in `0..=63`.
    pub fn sub_blocks(&self) -> SubBlocks<8> {
        let mut scales = [0i8; 8];
        let mut mins = [0u8; 8];
        for (s, (sc, mn)) in scales.iter_mut().zip(&mut mins).enumerate() {
            let (a, b) = scale_min_k4(&self.scales, s);
            *sc = a as i8;
            *mn = b;
        }
        let mut q = [0i8; QK_K];
        for p in 0..4 {
            let (lo, hi) = q[64 * p..][..64].split_at_mut(32);
            for l in 0..32 {
                let byte = self.qs[32 * p + l];
                let h = self.qh[l] >> (2 * p);
                lo[l] = ((byte & 0x0F) | ((h & 1) << 4)) as i8;
                hi[l] = ((byte >> 4) | (((h >> 1) & 1) << 4)) as i8;
            }
        }
        SubBlocks {
            d: self.d.to_f32(),
            dmin: self.dmin.to_f32(),
            scales,
            mins,
            q,
        }
    }
}

impl BlockQ5K {
    /// ggml's `quantize_row_q5_K_ref` (see the module docs).
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0u8; QK_K];
        let (scales, mins) = fit_sub_blocks::<32, 8>(x, &mut l, |xs, ls| {
            let sum_x2 = xs.iter().fold(0.0f32, |a, &v| a + v * v);
            let av_x = (sum_x2 / 32.0).sqrt();
            fit_scale_min(xs, &xs.map(|v| av_x + v.abs()), 31, false, ls)
        });
        let (max_scale, max_min) = (largest(&scales), largest(&mins));
        let inv_scale = if max_scale > 0.0 {
            63.0 / max_scale
        } else {
            0.0
        };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        // ggml stores `nearest_int` in a uint8_t (mod 256) before capping at 63.
        let sc = scales.map(|v| (nearest_int(inv_scale * v) as u8).min(63));
        let mn = mins.map(|v| (nearest_int(inv_min * v) as u8).min(63));
        let d = f16::from_f32(max_scale / 63.0);
        let dmin = f16::from_f32(max_min / 63.0);
        requantize_sub_blocks::<32>(x, &mut l, 0..=31, |s| {
            let step = d.to_f32() * f32::from(sc[s]);
            (step, dmin.to_f32() * f32::from(mn[s]))
        });

        let mut block = Self {
            d,
            dmin,
            scales: pack_scale_min_k4(&sc, &mn),
            qh: [0; QK_K / 8],
            qs: [0; QK_K / 2],
        };
        for p in 0..4 {
            for j in 0..32 {
                let (lo, hi) = (l[64 * p + j], l[64 * p + 32 + j]);
                block.qh[j] |= ((lo >> 4) << (2 * p)) | ((hi >> 4) << (2 * p + 1));
                block.qs[32 * p + j] = (lo & 0x0F) | ((hi & 0x0F) << 4);
            }
        }
        block
    }
}

weight_format_k!(BlockQ5K, "q5_k", bytes 176, via sub_blocks);

impl KBlock for BlockQ5K {
    /// `q` is unsigned (`0..=31`, `2·31·127 < 2¹⁵`); the block sums multiply
    /// the mins.
    const BSUMS: BsumsTerm = BsumsTerm::Mins;

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        let isum = lane_sums(&v.scales, &v.q, &x.qs).iter().sum();
        (isum, min_sum(&v.mins, x))
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), self.dmin.to_f32())
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_q5_K_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sums = [0.0f32; 8];
        let mut sumf = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let v = wb.sub_blocks();
            let lanes = lane_sums(&v.scales, &v.q, &xb.qs);
            let d = v.d * xb.d;
            for (s, &lane) in sums.iter_mut().zip(&lanes) {
                *s += d * lane as f32;
            }
            let dmin = v.dmin * xb.d;
            sumf -= dmin * min_sum(&v.mins, xb) as f32;
        }
        sums.iter().fold(sumf, |acc, &s| acc + s)
    }

    /// Vector `g` holds the 5-bit `q` of sub-block `g`: the nibbles of
    /// `qs[32·(g/2) ..]` (low for even `g`) with bit `g` of each `qh` byte as
    /// bit 4.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: every load reads 32 bytes inside `self.qs` (128 bytes),
        // `self.qh` (32 bytes) or the 16 mins; AVX2 and F16C are the caller's
        // contract.
        unsafe {
            let low = _mm256_set1_epi8(0x0F);
            let bit4 = _mm256_set1_epi8(0x10);
            let qh = load(self.qh.as_ptr());
            let mut q = [_mm256_setzero_si256(); 8];
            for p in 0..4 {
                let v = load(self.qs.as_ptr().add(32 * p));
                let nibbles = [
                    _mm256_and_si256(v, low),
                    _mm256_and_si256(_mm256_srli_epi16::<4>(v), low),
                ];
                for (h, nibble) in nibbles.into_iter().enumerate() {
                    let g = 2 * p + h;
                    let bit = _mm256_set1_epi8(1 << g);
                    let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
                    q[g] = _mm256_or_si256(nibble, _mm256_and_si256(set, bit4));
                }
            }
            let mut sc = [_mm256_setzero_si256(); 8];
            let mut mins = [0i16; 16];
            for s in 0..8 {
                let (scale, min) = scale_min_k4(&self.scales, s);
                sc[s] = O::scale_vec(i32::from(scale), i32::from(scale));
                mins[2 * s] = i16::from(min);
                mins[2 * s + 1] = i16::from(min);
            }
            Unpacked {
                q,
                sc,
                sums_by: load(mins.as_ptr().cast()),
                d: f16_to_f32(self.d),
                dmin: f16_to_f32(self.dmin),
            }
        }
    }
}

/// `M = Σ_i bsums[i]·mn[i/2]`, the min term's exact integer sum.
#[inline(always)]
fn min_sum(mins: &[u8; 8], x: &BlockQ8K) -> i32 {
    x.bsums
        .iter()
        .enumerate()
        .map(|(i, &b)| i32::from(b) * i32::from(mins[i / 2]))
        .sum()
}
