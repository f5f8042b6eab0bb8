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
//! `tests/quant.rs` against a fixture). The quantizer is NOT ggml's (which
//! searches scales to minimise a weighted error, `make_qkx2_quants`); it
//! takes the plain range of each sub-block: `m_s = min(0, min x)`,
//! `a_s = (max x − m_s)/15`; superblock `d = max a_s/63`,
//! `dmin = max(−m_s)/63` (f16); `sc[s] = round(a_s/d)`,
//! `mn[s] = round(−m_s/dmin)` (6 bits); then
//! `q = clamp(round((x + dmin·mn)/(d·sc)), 0, 15)`. Round trip: about
//! `(max − min)/30` per sub-block plus the 6-bit rounding of the scale and
//! min. A zero scale gives zero quants; NaN inputs give unspecified blocks
//! (never a panic).

use half::f16;

use super::inv_or_zero;
use super::kblock::{BsumsTerm, KBlock, quant, weight_format_k};
use super::q8_k::BlockQ8K;
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

/// The simple range quantizer of the module docs.
fn quantize_into(x: &[f32], out: &mut BlockQ4K) {
    let mut scale = [0.0f32; 8];
    let mut min = [0.0f32; 8];
    for (s, xs) in x.chunks_exact(32).enumerate() {
        let lo = xs.iter().fold(0.0f32, |m, &v| m.min(v));
        let hi = xs.iter().fold(lo, |m, &v| m.max(v));
        scale[s] = (hi - lo) / 15.0;
        min[s] = -lo;
    }
    let d = f16::from_f32(scale.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
    let dmin = f16::from_f32(min.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
    let (df, dminf) = (d.to_f32(), dmin.to_f32());
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for s in 0..8 {
        sc[s] = quant(scale[s], inv_or_zero(df), 0.0, 63.0) as u8;
        mn[s] = quant(min[s], inv_or_zero(dminf), 0.0, 63.0) as u8;
    }
    let mut packed = [0u8; 12];
    for i in 0..4 {
        packed[i] = sc[i] | ((sc[i + 4] >> 4) << 6);
        packed[i + 4] = mn[i] | ((mn[i + 4] >> 4) << 6);
        packed[i + 8] = (sc[i + 4] & 0x0F) | ((mn[i + 4] & 0x0F) << 4);
    }
    let mut q = [0u8; QK_K];
    for (s, (qs, xs)) in q.chunks_exact_mut(32).zip(x.chunks_exact(32)).enumerate() {
        let step = df * f32::from(sc[s]);
        let offset = dminf * f32::from(mn[s]);
        for (qv, &v) in qs.iter_mut().zip(xs) {
            *qv = quant(v + offset, inv_or_zero(step), 0.0, 15.0) as u8;
        }
    }
    out.d = d;
    out.dmin = dmin;
    out.scales = packed;
    for p in 0..4 {
        for l in 0..32 {
            out.qs[32 * p + l] = q[64 * p + l] | (q[64 * p + 32 + l] << 4);
        }
    }
}
