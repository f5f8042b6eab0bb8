//! ggml `Q3_K`: 256 weights per superblock, 110 bytes; sixteen sub-blocks of
//! 16 with 6-bit signed scales, `x = d·sc[s]·q` with `q` in `−4..=3`.
//!
//! Layout ([`BlockQ3K`], alignment 2):
//! - `hmask` (bytes 0..32): the high bit of `q + 4`; weight `32g + l`
//!   (`g < 8`, `l < 32`) at bit `g` of `hmask[l]`. A set bit means `q ≥ 0`:
//!   `q = low − 4·(1 − bit)`;
//! - `qs` (bytes 32..96): the low 2 bits; weight `128h + 32i + l` (`h < 2`,
//!   `i < 4`) at bits `2i, 2i + 1` of `qs[32h + l]`;
//! - `scales` (bytes 96..108): sixteen 6-bit `sc[s] + 32`; the low 4 bits of
//!   scale `s` are the low nibble of byte `s` for `s < 8` and the high nibble of
//!   byte `s − 8` otherwise; its high 2 bits are bits `2·(s/4)` of byte `8 + s%4`;
//! - `d` (f16, bytes 108..110).
//!
//! Dequantization (ggml's `dequantize_row_q3_K`): `(d·sc)·q`.
//!
//! Quantizer (ggml's `quantize_row_q3_K_ref`, what `llama-quantize` runs
//! without an importance matrix): per sub-block of 16, ggml's `make_q3_quants`
//! (`q = clamp(round(−4·x/m), −4, 3)` from the first value `m` of largest
//! `|x|`, then up to five passes moving single `q` to raise
//! `(Σ w·x·q)²/Σ w·q²` with `w = x²`; the scale is `Σ w·x·q / Σ w·q²`). With
//! `M` the sub-block scale of largest magnitude, `d = M/−32` (f16) and
//! `sc = clamp(round(−32·scale/M), −32, 31)`; then
//! `q = clamp(round(x/(d·sc)), −4, 3)` with the stored `d` (a sub-block whose
//! `d·sc` is 0 keeps the search's `q`).
//!
//! Dot (ggml pairs Q3_K with Q8_K activations), as ggml's
//! `ggml_vec_dot_q3_K_q8_K_generic`: per superblock eight i32 lanes
//! `L[l] = Σ_s sc[s]·Σ_{j ∈ s, j ≡ l mod 8} q_j·x_j`, `sums[l] += (d·d_x)·L[l]`
//! across superblocks, and at the end `0 + sums[0] + … + sums[7]`. That is the
//! scalar path's row dot (bit-exact with ggml); the oracle is `d·d_x·I` in f64
//! with `I = Σ_l L[l]`.
//!
//! SIMD tiles (`x86/kquants.rs`): the `vpmaddubsw` operand is the unsigned
//! `u = q + 4` (`0..=7`, `2·7·127 < 2¹⁵`, no saturation), and the offset comes
//! back from the Q8_K block sums: `I = Σ_s sc[s]·Σ_{j∈s} u_j·x_j − 4·Σ_s sc[s]·bsums[s]`.
//! `|Σ sc·u·x| ≤ 32·7·127·256 < 2²³`: exact in i32.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::search::{GROUP_MAX_EPS, fit_sub_blocks, nearest_int, requantize_sub_blocks};
use super::{SubBlocks, lane_sums};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockQ8K, QK_K};

/// A Q3_K superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ3K {
    /// High bit of each `q + 4`.
    pub hmask: [u8; QK_K / 8],
    /// Low 2 bits of each `q + 4`.
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit scales (offset by 32), packed.
    pub scales: [u8; 12],
    /// Superblock scale.
    pub d: f16,
}

/// `sc[s] + 32` (6 bits) of the packing in the module docs.
#[inline(always)]
fn packed_scale(packed: &[u8; 12], s: usize) -> u8 {
    let low = if s < 8 {
        packed[s] & 0x0F
    } else {
        packed[s - 8] >> 4
    };
    let high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    low | (high << 4)
}

impl BlockQ3K {
    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 16, `q` in
    /// `−4..=3`, scales in `−32..=31` (`dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<16> {
        let scales = std::array::from_fn(|s| packed_scale(&self.scales, s) as i8 - 32);
        let mut q = [0i8; QK_K];
        for (g, group) in q.chunks_exact_mut(32).enumerate() {
            let (h, i) = (g / 4, g % 4);
            for (l, v) in group.iter_mut().enumerate() {
                let low = (self.qs[32 * h + l] >> (2 * i)) & 3;
                let high = (self.hmask[l] >> g) & 1;
                *v = low as i8 - if high == 0 { 4 } else { 0 };
            }
        }
        SubBlocks {
            d: self.d.to_f32(),
            dmin: 0.0,
            scales,
            mins: [0; 16],
            q,
        }
    }
}

/// ggml's `make_q3_quants(16, 4, x, L, do_rmse = true)`: writes `q + 4` to
/// `levels` and returns the sub-block scale (see the module docs); a sub-block below
/// [`GROUP_MAX_EPS`] gives 0 and `levels = 0`.
fn fit_q3(x: &[f32; 16], levels: &mut [u8; 16]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let mut l = [0i8; 16];
    let iscale = -4.0 / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (q, &v) in l.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).clamp(-4, 3) as i8;
        let (w, lf) = (v * v, f32::from(*q));
        sumlx += w * v * lf;
        suml2 += w * lf * lf;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (q, &v) in l.iter_mut().zip(x) {
            let w = v * v;
            let old = f32::from(*q);
            let mut slx = sumlx - w * v * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new = nearest_int(v * sl2 / slx).clamp(-4, 3) as i8;
                if new != *q {
                    let nf = f32::from(new);
                    slx += w * v * nf;
                    sl2 += w * nf * nf;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *q = new;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    *levels = l.map(|q| (q + 4) as u8);
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

impl BlockQ3K {
    /// ggml's `quantize_row_q3_K_ref` (see the module docs).
    fn quantize(x: &[f32]) -> Self {
        // `l` holds `q + 4` (0..=7).
        let mut l = [0u8; QK_K];
        let (scales, _) = fit_sub_blocks::<16, 16>(x, &mut l, |xs, ls| (fit_q3(xs, ls), 0.0));
        // ggml keeps the signed scale of the largest magnitude.
        let mut max_scale = 0.0f32;
        for &scale in &scales {
            if scale.abs() > max_scale.abs() {
                max_scale = scale;
            }
        }

        let mut packed = [0u8; 12];
        let d = if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (s, &scale) in scales.iter().enumerate() {
                // ggml stores `nearest_int` in an int8_t (mod 256) before clamping.
                let sc = ((nearest_int(iscale * scale) as i8).clamp(-32, 31) + 32) as u8;
                if s < 8 {
                    packed[s] = sc & 0x0F;
                } else {
                    packed[s - 8] |= (sc & 0x0F) << 4;
                }
                packed[8 + s % 4] |= (sc >> 4) << (2 * (s / 4));
            }
            f16::from_f32(1.0 / iscale)
        } else {
            f16::from_f32(0.0)
        };

        requantize_sub_blocks::<16>(x, &mut l, -4..=3, |s| {
            let step = d.to_f32() * f32::from(packed_scale(&packed, s) as i8 - 32);
            (step, 0.0)
        });

        let mut block = Self {
            hmask: [0; QK_K / 8],
            qs: [0; QK_K / 4],
            scales: packed,
            d,
        };
        for (j, &v) in l.iter().enumerate() {
            if v > 3 {
                block.hmask[j % 32] |= 1 << (j / 32);
            }
        }
        for h in 0..2 {
            for i in 0..4 {
                for k in 0..32 {
                    let low = l[128 * h + 32 * i + k] & 3;
                    block.qs[32 * h + k] |= low << (2 * i);
                }
            }
        }
        block
    }
}

weight_format_k!(BlockQ3K, "q3_k", bytes 110, via sub_blocks);

impl KBlock for BlockQ3K {
    /// The SIMD tiles take the unsigned `q + 4` (`0..=7`, `2·7·127 < 2¹⁵`).
    const BSUMS: BsumsTerm = BsumsTerm::Offset(4);

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        (lane_sums(&v.scales, &v.q, &x.qs).iter().sum(), 0)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), 0.0)
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_q3_K_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sums = [0.0f32; 8];
        for (wb, xb) in w.iter().zip(x) {
            let v = wb.sub_blocks();
            let lanes = lane_sums(&v.scales, &v.q, &xb.qs);
            let d = v.d * xb.d;
            for (s, &lane) in sums.iter_mut().zip(&lanes) {
                *s += d * lane as f32;
            }
        }
        sums.iter().fold(0.0f32, |acc, &s| acc + s)
    }

    /// Vector `g = 4h + i` holds `q + 4` of weights `32g ..`: bits `2i, 2i + 1`
    /// of `qs[32h ..]`, plus 4 where bit `g` of the `hmask` byte is set; its
    /// halves are sub-blocks `2g` and `2g + 1`. The block sums multiply the
    /// sixteen scales.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the loads read 32 bytes of `self.hmask`, 32 bytes at
        // offsets 0 and 32 of `self.qs` (64 bytes) and the 16 scales; AVX2
        // and F16C are the caller's contract. Shifting 16-bit words and
        // masking to 2 bits keeps each byte's own bits.
        unsafe {
            let m3 = _mm256_set1_epi8(3);
            let four = _mm256_set1_epi8(4);
            let hmask = load(self.hmask.as_ptr());
            let scales: [i8; 16] =
                std::array::from_fn(|s| packed_scale(&self.scales, s) as i8 - 32);
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
                    let bit = _mm256_set1_epi8(1 << g);
                    let set = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit);
                    q[g] = _mm256_or_si256(_mm256_and_si256(low, m3), _mm256_and_si256(set, four));
                    sc[g] = O::scale_vec(i32::from(scales[2 * g]), i32::from(scales[2 * g + 1]));
                }
            }
            Unpacked {
                q,
                sc,
                sums_by: _mm256_cvtepi8_epi16(_mm_loadu_si128(scales.as_ptr().cast())),
                d: f16_to_f32(self.d),
                dmin: 0.0,
            }
        }
    }
}
