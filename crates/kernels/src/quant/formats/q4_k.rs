//! ggml `Q4_K`: superblocks of 256 weights in 144 bytes (`block_q4_K`).
//!
//! `d`, `dmin` (f16); 12 bytes packing eight 6-bit scales `sc` and eight
//! 6-bit mins `mn` (sub-blocks of 32); 128 bytes of nibbles. Sub-block `s`
//! (weights `32s .. 32s + 32`) uses the low nibbles of bytes `32·(s/2) ..`
//! for even `s`, the high nibbles for odd `s`; `x = d·sc[s]·q − dmin·mn[s]`.
//! Scales/mins `j < 4` are the low 6 bits of bytes `j` / `j + 4`; for `j ≥ 4`
//! their low 4 bits are the nibbles of byte `j + 4` and their high 2 bits the
//! top bits of bytes `j − 4` / `j`. Its dots take [`BlockQ8K`] activations.
//!
//! The dequantizer matches gguf-py's `gguf.quants.dequantize` (checked by
//! `tests/quant.rs` against a fixture). The quantizer is ggml's
//! `quantize_row_q4_K_ref` (what `llama-quantize` runs without an importance
//! matrix), in ggml's f32 operation order: per sub-block of 32, weights
//! `w = sqrt(Σx²/32) + |x|` and the (scale, min) search of `make_qkx2_quants`
//! with `rmin = −1`, `nstep = 20` (`search::fit_scale_min_over`, `q` in
//! `0..=15`); then `d = max scale/63`, `dmin = max min/63` (f16),
//! `sc = min(63, round(63·scale/max scale))`, likewise `mn`, and
//! `q = clamp(round((x + dmin·mn)/(d·sc)), 0, 15)` with the stored `d`, `dmin`
//! (a sub-block whose `d·sc` is 0 keeps the search's `q`). NaN inputs give
//! unspecified blocks (never a panic).

use half::f16;

use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::q8_k::BlockQ8K;
use super::search::{
    fit_scale_min_over, fit_sub_blocks, largest, nearest_int, pack_scale_min_k4,
    requantize_sub_blocks,
};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockFormat, QK_K};

/// ggml `Q4_K` superblock (144 bytes, alignment 2); see the module docs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block mins.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit mins, packed.
    pub scales: [u8; 12],
    /// 256 nibbles.
    pub qs: [u8; QK_K / 2],
}

const _: () = assert!(size_of::<BlockQ4K>() == 144);
const _: () = assert!(align_of::<BlockQ4K>() == 2);

impl BlockQ4K {
    /// The 6-bit (scale, min) of sub-block `j` (`0..8`).
    #[inline(always)]
    pub fn scale_min(&self, j: usize) -> (u8, u8) {
        let q = &self.scales;
        if j < 4 {
            (q[j] & 63, q[j + 4] & 63)
        } else {
            (
                (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
                (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
            )
        }
    }
}

impl BlockFormat for BlockQ4K {
    const NAME: &'static str = "q4_k";
    const VALUES: usize = QK_K;

    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let dmin = self.dmin.to_f32();
        for (pair, (chunk, qs)) in out
            .chunks_exact_mut(64)
            .zip(self.qs.chunks_exact(32))
            .enumerate()
        {
            let (sc_lo, mn_lo) = self.scale_min(2 * pair);
            let (sc_hi, mn_hi) = self.scale_min(2 * pair + 1);
            let (d_lo, m_lo) = (d * f32::from(sc_lo), dmin * f32::from(mn_lo));
            let (d_hi, m_hi) = (d * f32::from(sc_hi), dmin * f32::from(mn_hi));
            let (lo, hi) = chunk.split_at_mut(32);
            for ((l, h), &q) in lo.iter_mut().zip(hi).zip(qs) {
                *l = d_lo * f32::from(q & 0x0F) - m_lo;
                *h = d_hi * f32::from(q >> 4) - m_hi;
            }
        }
    }

    fn quantize_block(x: &[f32]) -> Self {
        let mut out = BlockQ4K::default();
        quantize_into(x, &mut out);
        out
    }
}

weight_format_k!(BlockQ4K);

impl KBlock for BlockQ4K {
    const BSUMS: BsumsTerm = BsumsTerm::Mins;

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let (mut isum, mut msum) = (0i32, 0i32);
        for s in 0..8 {
            let (sc, mn) = self.scale_min(s);
            let bytes = &self.qs[32 * (s / 2)..][..32];
            let xs = &x.qs[32 * s..][..32];
            let dot: i32 = bytes
                .iter()
                .zip(xs)
                .map(|(&b, &q)| {
                    let w = if s % 2 == 0 { b & 0x0F } else { b >> 4 };
                    i32::from(w) * i32::from(q)
                })
                .sum();
            let xsum: i32 = xs.iter().map(|&q| i32::from(q)).sum();
            isum += i32::from(sc) * dot;
            msum += i32::from(mn) * xsum;
        }
        (isum, msum)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), self.dmin.to_f32())
    }

    /// Vector `g` holds the nibbles `0..16` of sub-block `g`; the block sums
    /// multiply the mins, each twice (two sums of 16 per sub-block of 32).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: every load reads 32 bytes inside `self.qs` (128 bytes) or
        // the 16 mins; AVX2 and F16C are the caller's contract.
        unsafe {
            let low = _mm256_set1_epi8(0x0F);
            let mut q = [_mm256_setzero_si256(); 8];
            for p in 0..4 {
                let v = load(self.qs.as_ptr().add(32 * p));
                q[2 * p] = _mm256_and_si256(v, low);
                q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            }
            let mut sc = [_mm256_setzero_si256(); 8];
            let mut mins = [0i16; 16];
            for s in 0..8 {
                let (scale, min) = self.scale_min(s);
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

/// ggml's `quantize_row_q4_K_ref` (see the module docs).
fn quantize_into(x: &[f32], out: &mut BlockQ4K) {
    let mut l = [0u8; QK_K];
    let (scales, mins) = fit_sub_blocks::<32, 8>(x, &mut l, |xs, ls| {
        let sum_x2 = xs.iter().fold(0.0f32, |a, &v| a + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        fit_scale_min_over(xs, &xs.map(|v| av_x + v.abs()), 15, false, (-1.0, 20), ls)
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
    out.d = f16::from_f32(max_scale / 63.0);
    out.dmin = f16::from_f32(max_min / 63.0);
    out.scales = pack_scale_min_k4(&sc, &mn);
    let (d, dmin) = (out.d.to_f32(), out.dmin.to_f32());
    requantize_sub_blocks::<32>(x, &mut l, 0..=15, |s| {
        (d * f32::from(sc[s]), dmin * f32::from(mn[s]))
    });
    for p in 0..4 {
        for j in 0..32 {
            out.qs[32 * p + j] = l[64 * p + j] | (l[64 * p + 32 + j] << 4);
        }
    }
}
