//! ggml `Q6_K`: superblocks of 256 weights in 210 bytes (`block_q6_K`).
//!
//! 128 bytes `ql` (low 4 bits), 64 bytes `qh` (high 2 bits), sixteen i8
//! scales (sub-blocks of 16), `d` (f16); `x = d·scale·(q − 32)`. In each half
//! of 128 weights, weight `l + 32·i` (`l < 32`, `i < 4`) takes its low bits
//! from `ql[l + 32·(i % 2)]` (low nibble for `i < 2`, high for `i ≥ 2`) and
//! its high bits from bits `2i, 2i + 1` of `qh[l]`; its scale is
//! `scales[l / 16 + 2i]`. Its dots take [`BlockQ8K`] activations.
//!
//! The dequantizer matches gguf-py's. The quantizer is ggml's
//! `quantize_row_q6_K_ref` (what `llama-quantize` runs without an importance
//! matrix), in ggml's f32 operation order: per sub-block of 16, the symmetric
//! scale search of `make_qx_quants` with weights `x²` ([`fit_symmetric`]);
//! with `M` the sub-block scale of largest magnitude, `d = M/−128` (f16) and
//! `sc = min(127, round(−128·scale/M))` (i8); then
//! `q = clamp(round(x/(d·sc)), −32, 31) + 32` with the stored `d` (a sub-block
//! whose `d·sc` is 0 keeps the search's `q`). A superblock whose largest scale
//! is below `GROUP_MAX_EPS` is all zeros.

use half::f16;

use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::q8_k::BlockQ8K;
use super::search::{GROUP_MAX_EPS, nearest_int};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockFormat, QK_K};

/// ggml `Q6_K` superblock (210 bytes, alignment 2); see the module docs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ6K {
    /// Low 4 bits of the quants.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits of the quants.
    pub qh: [u8; QK_K / 4],
    /// Sixteen sub-block scales.
    pub scales: [i8; QK_K / 16],
    /// Superblock scale.
    pub d: f16,
}

const _: () = assert!(size_of::<BlockQ6K>() == 210);
const _: () = assert!(align_of::<BlockQ6K>() == 2);

impl BlockQ6K {
    /// The unsigned 6-bit value (`0..64`, before the `− 32`) of weight `j`.
    #[inline(always)]
    pub fn quant(&self, j: usize) -> u8 {
        let (half, within) = (j / 128, j % 128);
        let (i, l) = (within / 32, within % 32);
        let low = self.ql[64 * half + l + 32 * (i % 2)];
        let low = if i < 2 { low & 0x0F } else { low >> 4 };
        let high = (self.qh[32 * half + l] >> (2 * i)) & 3;
        low | (high << 4)
    }
}

impl BlockFormat for BlockQ6K {
    const NAME: &'static str = "q6_k";
    const VALUES: usize = QK_K;

    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for half in 0..2 {
            let ql = &self.ql[64 * half..][..64];
            let qh = &self.qh[32 * half..][..32];
            let sc = &self.scales[8 * half..][..8];
            let y = &mut out[128 * half..][..128];
            for l in 0..32 {
                let is = l / 16;
                let h = qh[l];
                let q = [
                    (ql[l] & 0x0F) | ((h & 3) << 4),
                    (ql[l + 32] & 0x0F) | (((h >> 2) & 3) << 4),
                    (ql[l] >> 4) | (((h >> 4) & 3) << 4),
                    (ql[l + 32] >> 4) | (((h >> 6) & 3) << 4),
                ];
                for (i, &qi) in q.iter().enumerate() {
                    let scale = d * f32::from(sc[is + 2 * i]);
                    y[l + 32 * i] = scale * f32::from(i16::from(qi) - 32);
                }
            }
        }
    }

    fn quantize_block(x: &[f32]) -> Self {
        let mut out = BlockQ6K::default();
        quantize_into(x, &mut out);
        out
    }
}

weight_format_k!(BlockQ6K);

impl KBlock for BlockQ6K {
    /// The unsigned 6-bit `q` (`0..64`, `2·63·127 < 2¹⁵`) carries `+32`.
    const BSUMS: BsumsTerm = BsumsTerm::Offset(32);

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let mut isum = 0i32;
        for s in 0..16 {
            let dot: i32 = (16 * s..16 * s + 16)
                .map(|j| (i32::from(self.quant(j)) - 32) * i32::from(x.qs[j]))
                .sum();
            isum += i32::from(self.scales[s]) * dot;
        }
        (isum, 0)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), 0.0)
    }

    /// Vector `4h + i` holds the unsigned `q` of weights `128h + 32i ..`
    /// (two sub-blocks of 16); the block sums multiply the sixteen scales.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the loads read 32 bytes at offsets 0 and 32 of each
        // 64-byte half of `ql`, 32 bytes of each half of `qh`, and the 16
        // scales; AVX2 and F16C are the caller's contract. Shifting 16-bit
        // words moves no set bit across a byte: the masks keep ≤ 4 bits,
        // shifted into ≤ 6.
        unsafe {
            let m4 = _mm256_set1_epi8(0x0F);
            let m2 = _mm256_set1_epi8(3);
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            for h in 0..2 {
                let ql0 = load(self.ql.as_ptr().add(64 * h));
                let ql1 = load(self.ql.as_ptr().add(64 * h + 32));
                let qh = load(self.qh.as_ptr().add(32 * h));
                q[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, m4), high2(m2, qh));
                q[4 * h + 1] = _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    high2(m2, _mm256_srli_epi16::<2>(qh)),
                );
                q[4 * h + 2] = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    high2(m2, _mm256_srli_epi16::<4>(qh)),
                );
                q[4 * h + 3] = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    high2(m2, _mm256_srli_epi16::<6>(qh)),
                );
                for i in 0..4 {
                    let s = 8 * h + 2 * i;
                    sc[4 * h + i] =
                        O::scale_vec(i32::from(self.scales[s]), i32::from(self.scales[s + 1]));
                }
            }
            Unpacked {
                q,
                sc,
                sums_by: _mm256_cvtepi8_epi16(_mm_loadu_si128(self.scales.as_ptr().cast())),
                d: f16_to_f32(self.d),
                dmin: 0.0,
            }
        }
    }
}

/// The two low bits of each byte of `bits`, moved to bits 4 and 5.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn high2(
    m2: core::arch::x86_64::__m256i,
    bits: core::arch::x86_64::__m256i,
) -> core::arch::x86_64::__m256i {
    use core::arch::x86_64::*;
    // SAFETY: AVX2 is the caller's contract.
    unsafe { _mm256_slli_epi16::<4>(_mm256_and_si256(bits, m2)) }
}

/// ggml's `quantize_row_q6_K_ref` (see the module docs).
fn quantize_into(x: &[f32], out: &mut BlockQ6K) {
    let mut q = [0u8; QK_K];
    let mut scales = [0.0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    let sub_blocks = x.as_chunks::<16>().0.iter().zip(q.as_chunks_mut::<16>().0);
    for (s, (xs, qs)) in sub_blocks.enumerate() {
        scales[s] = fit_symmetric(xs, qs);
        if scales[s].abs() > max_abs_scale {
            max_abs_scale = scales[s].abs();
            max_scale = scales[s];
        }
    }
    *out = BlockQ6K::default();
    if max_abs_scale < GROUP_MAX_EPS {
        return;
    }
    let iscale = -128.0 / max_scale;
    out.d = f16::from_f32(1.0 / iscale);
    out.scales = scales.map(|v| nearest_int(iscale * v).min(127) as i8);
    for (s, (qs, xs)) in q.chunks_exact_mut(16).zip(x.chunks_exact(16)).enumerate() {
        let step = out.d.to_f32() * f32::from(out.scales[s]);
        if step == 0.0 {
            continue;
        }
        for (qv, &v) in qs.iter_mut().zip(xs) {
            *qv = (nearest_int(v / step).clamp(-32, 31) + 32) as u8;
        }
    }
    for h in 0..2 {
        for i in 0..4 {
            for l in 0..32 {
                let v = q[128 * h + 32 * i + l];
                let low = &mut out.ql[64 * h + l + 32 * (i % 2)];
                *low |= if i < 2 { v & 0x0F } else { (v & 0x0F) << 4 };
                out.qh[32 * h + l] |= (v >> 4) << (2 * i);
            }
        }
    }
}

/// ggml's `make_qx_quants(16, 32, x, L, 1, NULL)`: the scale of a symmetric
/// sub-block `x ≈ scale·l`, `l` in `−32..=31` written to `q` as `l + 32`.
///
/// From the first value `m` of largest `|x|`, it rounds at the inverse scale
/// `−32/m` and at `−(32 + 0.1·t)/m` for `t = ±1 ..= ±9`, and keeps the rounding
/// with the largest `(Σ w·x·l)²/Σ w·l²` (`w = x²`); the scale is
/// `Σ w·x·l/Σ w·l²`. A sub-block below `GROUP_MAX_EPS` gives 0 and `q = 0`.
fn fit_symmetric(x: &[f32; 16], q: &mut [u8; 16]) -> f32 {
    const NMAX: i32 = 32;
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        q.fill(0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-NMAX, NMAX - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let (w, l) = (v * v, level(iscale, v) as f32);
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let mut round_at = |iscale: f32| {
        for (qv, &v) in q.iter_mut().zip(x) {
            *qv = (level(iscale, v) + NMAX) as u8;
        }
    };
    let iscale = -(NMAX as f32) / max;
    round_at(iscale);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for t in (-9..=9).filter(|&t| t != 0) {
        let iscale = -(NMAX as f32 + 0.1 * t as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            round_at(iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}
