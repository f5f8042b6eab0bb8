//! x86-64 K-quant superblock dots against Q8_K: 256-bit AVX2 and AVX-512
//! VNNI tiles.
//!
//! A weight superblock is unpacked once per tile row into eight vectors of
//! 32 unsigned quants (Q4_K: the nibbles `0..16` of one 32-weight sub-block;
//! Q6_K: the 6-bit `q` `0..64` of 32 consecutive weights, two 16-weight
//! sub-blocks) and eight scale vectors; each activation row of the tile then
//! costs eight products with the matching 32 activation bytes:
//! - AVX2: `vpmaddubsw` (u8×i8 pairs, at most `2·63·128 < 2¹⁵`, no
//!   saturation) then `vpmaddwd` with the i16 sub-block scales, which
//!   applies the scale and widens to i32 in one step;
//! - VNNI: `vpdpbusd` (4-byte groups to i32) then `vpmulld` by the i32 scales.
//!
//! The i32 lane `i` of either holds bytes `4i .. 4i + 4`, so lanes 0–3 are
//! the first 16 bytes and 4–7 the last: a Q6_K vector's two sub-block scales
//! are laid out that way. The Q8_K block sums give the Q4_K min term
//! (`vpmaddwd` of `bsums` with the mins, each repeated twice) and the Q6_K
//! `−32` offset (`vpmaddwd` of `bsums` with the sixteen scales, times 32).
//! All integer sums are exact; per superblock the i32 lanes are converted and
//! scaled once (`d·d_x`, and `dmin·d_x` for Q4_K), and reduced once per row.

use core::arch::x86_64::*;

use crate::prefetch::prefetch;
use crate::quant::formats::{BlockQ4K, BlockQ6K, BlockQ8K, KBlock, KKind};

/// The integer product step of one instruction set.
pub(crate) trait KIntOps {
    /// The scale operand for a 32-byte group whose first 16 bytes use scale
    /// `a` and last 16 bytes scale `b`.
    unsafe fn scale_vec(a: i32, b: i32) -> __m256i;
    /// Per i32 lane `i`: `scale_i·Σ_{t<4} u[4i + t]·x[4i + t]`.
    unsafe fn scaled_dot(u: __m256i, x: __m256i, scale: __m256i) -> __m256i;
}

/// AVX2: `vpmaddubsw` + `vpmaddwd` with i16 scales.
pub(crate) struct Avx2;

impl KIntOps for Avx2 {
    #[inline(always)]
    unsafe fn scale_vec(a: i32, b: i32) -> __m256i {
        // SAFETY: AVX is the caller's contract; scales fit i16 (6-bit or i8).
        unsafe { _mm256_set_m128i(_mm_set1_epi16(b as i16), _mm_set1_epi16(a as i16)) }
    }

    #[inline(always)]
    unsafe fn scaled_dot(u: __m256i, x: __m256i, scale: __m256i) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), scale) }
    }
}

/// AVX-512 VL + VNNI: `vpdpbusd` + `vpmulld`.
pub(crate) struct Vnni;

impl KIntOps for Vnni {
    #[inline(always)]
    unsafe fn scale_vec(a: i32, b: i32) -> __m256i {
        // SAFETY: AVX is the caller's contract.
        unsafe { _mm256_set_m128i(_mm_set1_epi32(b), _mm_set1_epi32(a)) }
    }

    #[inline(always)]
    unsafe fn scaled_dot(u: __m256i, x: __m256i, scale: __m256i) -> __m256i {
        // SAFETY: AVX-512 VL + VNNI and AVX2 are the caller's contract.
        unsafe { _mm256_mullo_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x), scale) }
    }
}

/// An f16 to f32 with F16C.
#[inline(always)]
unsafe fn f16_to_f32(h: half::f16) -> f32 {
    // SAFETY: F16C is the caller's contract.
    unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits())))) }
}

/// Sum of the 8 lanes.
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: AVX is the caller's contract.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// One weight superblock, unpacked for every activation row of a tile.
#[derive(Clone, Copy)]
struct Unpacked {
    /// Unsigned quants of weights `32g .. 32g + 32`.
    q: [__m256i; 8],
    /// The scales of vector `g` (see [`KIntOps::scale_vec`]).
    sc: [__m256i; 8],
    /// Q4_K: the eight mins as sixteen i16 (each twice); Q6_K: the sixteen
    /// scales as i16.
    sums_by: __m256i,
    /// `d`.
    d: f32,
    /// `dmin` (Q4_K), else 0.
    dmin: f32,
}

#[inline(always)]
unsafe fn load(p: *const u8) -> __m256i {
    // SAFETY: the caller passes 32 readable bytes; AVX is its contract.
    unsafe { _mm256_loadu_si256(p.cast()) }
}

#[inline(always)]
unsafe fn unpack_q4k<O: KIntOps>(w: &BlockQ4K) -> Unpacked {
    // SAFETY: every load reads 32 bytes inside `w.qs` (128 bytes); AVX2 and
    // F16C are the caller's contract.
    unsafe {
        let low = _mm256_set1_epi8(0x0F);
        let mut q = [_mm256_setzero_si256(); 8];
        for p in 0..4 {
            let v = load(w.qs.as_ptr().add(32 * p));
            q[2 * p] = _mm256_and_si256(v, low);
            q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
        }
        let mut sc = [_mm256_setzero_si256(); 8];
        let mut mins = [0i16; 16];
        for s in 0..8 {
            let (scale, min) = w.scale_min(s);
            sc[s] = O::scale_vec(i32::from(scale), i32::from(scale));
            mins[2 * s] = i16::from(min);
            mins[2 * s + 1] = i16::from(min);
        }
        Unpacked {
            q,
            sc,
            sums_by: load(mins.as_ptr().cast()),
            d: f16_to_f32(w.d),
            dmin: f16_to_f32(w.dmin),
        }
    }
}

/// The two low bits of each byte of `bits`, moved to bits 4 and 5.
#[inline(always)]
unsafe fn high2(m2: __m256i, bits: __m256i) -> __m256i {
    // SAFETY: AVX2 is the caller's contract.
    unsafe { _mm256_slli_epi16::<4>(_mm256_and_si256(bits, m2)) }
}

#[inline(always)]
unsafe fn unpack_q6k<O: KIntOps>(w: &BlockQ6K) -> Unpacked {
    // SAFETY: the loads read 32 bytes at offsets 0 and 32 of each 64-byte
    // half of `w.ql`, 32 bytes of each half of `w.qh`, and the 16 scales;
    // AVX2 and F16C are the caller's contract. Shifting 16-bit words moves
    // no set bit across a byte: the masks keep ≤ 4 bits, shifted into ≤ 6.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0F);
        let m2 = _mm256_set1_epi8(3);
        let mut q = [_mm256_setzero_si256(); 8];
        let mut sc = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let ql0 = load(w.ql.as_ptr().add(64 * h));
            let ql1 = load(w.ql.as_ptr().add(64 * h + 32));
            let qh = load(w.qh.as_ptr().add(32 * h));
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
                sc[4 * h + i] = O::scale_vec(i32::from(w.scales[s]), i32::from(w.scales[s + 1]));
            }
        }
        let scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.scales.as_ptr().cast()));
        Unpacked {
            q,
            sc,
            sums_by: scales16,
            d: f16_to_f32(w.d),
            dmin: 0.0,
        }
    }
}

/// `acc + dot(w, x)` in 8 f32 lanes (reduced by the caller).
#[inline(always)]
unsafe fn accumulate<O: KIntOps>(kind: KKind, u: &Unpacked, x: &BlockQ8K, acc: __m256) -> __m256 {
    // SAFETY: the loads read `x.qs` (32 bytes at `32g`, g < 8) and `x.bsums`
    // (32 bytes); the instruction sets are the caller's contract.
    unsafe {
        let mut isum = _mm256_setzero_si256();
        for g in 0..8 {
            let xv = load(x.qs.as_ptr().add(32 * g).cast());
            isum = _mm256_add_epi32(isum, O::scaled_dot(u.q[g], xv, u.sc[g]));
        }
        let bsums = load(x.bsums.as_ptr().cast());
        let by = _mm256_madd_epi16(bsums, u.sums_by);
        match kind {
            KKind::Q4K => {
                let acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(u.d * x.d), acc);
                _mm256_fnmadd_ps(_mm256_cvtepi32_ps(by), _mm256_set1_ps(u.dmin * x.d), acc)
            }
            KKind::Q6K => {
                let isum = _mm256_sub_epi32(isum, _mm256_slli_epi32::<5>(by));
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(u.d * x.d), acc)
            }
        }
    }
}

/// Unpacks superblock `w` of format `B`.
#[inline(always)]
unsafe fn unpack<O: KIntOps, B: KBlock>(w: &B) -> Unpacked {
    let p = (w as *const B).cast::<u8>();
    // SAFETY: `KBlock` is crate-private and implemented only by `BlockQ4K`
    // (kind `Q4K`) and `BlockQ6K` (kind `Q6K`), so the cast names `w`'s own
    // type; the instruction sets are the caller's contract.
    unsafe {
        match B::KIND {
            KKind::Q4K => unpack_q4k::<O>(&*p.cast::<BlockQ4K>()),
            KKind::Q6K => unpack_q6k::<O>(&*p.cast::<BlockQ6K>()),
        }
    }
}

/// An `R × C` tile of superblock dots with the integer steps of `O`.
///
/// # Safety
/// The CPU must support `O`'s instruction set (a superset of AVX2 + FMA +
/// F16C); every slice has the same length.
#[inline(always)]
pub(crate) unsafe fn tile<O: KIntOps, B: KBlock, const R: usize, const C: usize>(
    w: [&[B]; R],
    x: [&[BlockQ8K]; C],
    ahead: usize,
) -> [[f32; C]; R] {
    let nb = x[0].len();
    // SAFETY: the caller guarantees `O`'s instruction set (a superset of
    // AVX2 + FMA + F16C); every slice has `nb` blocks, indexed below `nb`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        for b in 0..nb {
            if ahead != 0 {
                for w_r in &w {
                    let p = w_r.as_ptr().add(b).cast::<u8>().wrapping_add(ahead);
                    for line in (0..size_of::<B>()).step_by(64) {
                        prefetch(p.wrapping_add(line));
                    }
                }
            }
            for r in 0..R {
                let u = unpack::<O, B>(w[r].get_unchecked(b));
                for c in 0..C {
                    acc[r][c] = accumulate::<O>(B::KIND, &u, x[c].get_unchecked(b), acc[r][c]);
                }
            }
        }
        let mut out = [[0.0f32; C]; R];
        for r in 0..R {
            for c in 0..C {
                out[r][c] = hsum(acc[r][c]);
            }
        }
        out
    }
}
