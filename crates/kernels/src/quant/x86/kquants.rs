//! x86-64 K-quant superblock dots against Q8_K: 256-bit AVX2 and AVX-512
//! VNNI tiles, shared by every K-quant format.
//!
//! Each format's [`KBlock::unpack`] (in its own module) turns a weight
//! superblock, once per tile row, into an [`Unpacked`]: eight vectors of 32
//! quants (weights `32g .. 32g + 32`), eight scale vectors and a vector of
//! sixteen i16 multipliers of the Q8_K block sums. Each activation row of the
//! tile then costs eight products with the matching 32 activation bytes:
//! - AVX2: `vpmaddubsw` (u8×i8 pairs; each format keeps its unsigned quants
//!   small enough that `2·u·127 < 2¹⁵`, no saturation, and says so) then
//!   `vpmaddwd` with the i16 sub-block scales, which applies the scale and
//!   widens to i32 in one step;
//! - VNNI: `vpdpbusd` (4-byte groups to i32) then `vpmulld` by the i32 scales.
//!
//! Formats with signed quants ([`KBlock::SIGNED`]) multiply `|w|` by
//! `sign(w)·x` (`vpabsb`, `vpsignb`; exact since `|x| ≤ 127`).
//!
//! The i32 lane `i` of either holds bytes `4i .. 4i + 4`, so lanes 0–3 are
//! the first 16 bytes and 4–7 the last: a vector whose two halves are two
//! 16-weight sub-blocks takes two scales laid out that way. The Q8_K block
//! sums enter as the format's [`KBlock::BSUMS`] says: sub-block mins
//! (`− dmin·d_x·Σ bsums·mins`), or an offset `o` of the stored unsigned quants
//! (`− o·Σ bsums·scales`, in the integer sum). All integer sums are exact;
//! per superblock the i32 lanes are converted and scaled once (`d·d_x`, and
//! `dmin·d_x` for mins), and reduced once per row.

use core::arch::x86_64::*;

use crate::prefetch::prefetch;
use crate::quant::formats::{BlockQ8K, BsumsTerm, GridBlock, GridPoints, KBlock};

/// The integer product step of one instruction set.
pub(crate) trait KIntOps {
    /// The scale operand for a 32-byte group whose first 16 bytes use scale
    /// `a` and last 16 bytes scale `b`.
    unsafe fn scale_vec(a: i32, b: i32) -> __m256i;
    /// Per i32 lane `i`: `scale_i·Σ_{t<4} u[4i + t]·x[4i + t]` (`u` unsigned).
    unsafe fn scaled_dot(u: __m256i, x: __m256i, scale: __m256i) -> __m256i;

    /// [`KIntOps::scaled_dot`] of signed weights `w` (`−127..=127`):
    /// `|w|·(sign(w)·x)`, exact for `|x| ≤ 127` (`2·127·127 < 2¹⁵`).
    #[inline(always)]
    unsafe fn scaled_dot_signed(w: __m256i, x: __m256i, scale: __m256i) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { Self::scaled_dot(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w), scale) }
    }
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
///
/// # Safety
/// The CPU must support F16C.
#[inline(always)]
pub(crate) unsafe fn f16_to_f32(h: half::f16) -> f32 {
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

/// One weight superblock, unpacked once per tile row for every activation
/// row of the tile (made by the format's [`KBlock::unpack`]).
#[derive(Clone, Copy)]
pub(crate) struct Unpacked {
    /// The quants of weights `32g .. 32g + 32`: unsigned (`0..=u_max`, with
    /// `2·u_max·127 < 2¹⁵` for `vpmaddubsw`), or signed when the format's
    /// [`KBlock::SIGNED`] is set (`−127..=127`).
    pub q: [__m256i; 8],
    /// The scales of vector `g` (see [`KIntOps::scale_vec`]).
    pub sc: [__m256i; 8],
    /// Sixteen i16 multipliers of the Q8_K block sums (`bsums[i]` covers
    /// weights `16i .. 16i + 16`), used as the format's [`KBlock::BSUMS`]
    /// says: sub-block mins, or the scales the quant offset is weighted by.
    pub sums_by: __m256i,
    /// `d`.
    pub d: f32,
    /// `dmin` ([`BsumsTerm::Mins`]), else unused.
    pub dmin: f32,
}

/// 32 bytes at `p`.
///
/// # Safety
/// `p` must be valid for reading 32 bytes; the CPU must support AVX.
#[inline(always)]
pub(crate) unsafe fn load(p: *const u8) -> __m256i {
    // SAFETY: the caller passes 32 readable bytes; AVX is its contract.
    unsafe { _mm256_loadu_si256(p.cast()) }
}

/// `acc + dot(w, x)` in 8 f32 lanes (reduced by the caller), for a
/// superblock of format `B` unpacked into `u`.
#[inline(always)]
unsafe fn accumulate<O: KIntOps, B: KBlock>(u: &Unpacked, x: &BlockQ8K, acc: __m256) -> __m256 {
    // SAFETY: the loads read `x.qs` (32 bytes at `32g`, g < 8) and `x.bsums`
    // (32 bytes); the instruction sets are the caller's contract.
    unsafe {
        let mut isum = _mm256_setzero_si256();
        for g in 0..8 {
            let xv = load(x.qs.as_ptr().add(32 * g).cast());
            let dot = if B::SIGNED {
                O::scaled_dot_signed(u.q[g], xv, u.sc[g])
            } else {
                O::scaled_dot(u.q[g], xv, u.sc[g])
            };
            isum = _mm256_add_epi32(isum, dot);
        }
        let bsums = load(x.bsums.as_ptr().cast());
        let by = _mm256_madd_epi16(bsums, u.sums_by);
        match B::BSUMS {
            BsumsTerm::Mins => {
                let acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(u.d * x.d), acc);
                _mm256_fnmadd_ps(_mm256_cvtepi32_ps(by), _mm256_set1_ps(u.dmin * x.d), acc)
            }
            BsumsTerm::Offset(offset) => {
                let isum =
                    _mm256_sub_epi32(isum, _mm256_mullo_epi32(by, _mm256_set1_epi32(offset)));
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(u.d * x.d), acc)
            }
        }
    }
}

/// The 32 bits of `bits` as byte masks: byte `j` is `0xFF` where bit `j` is
/// set, else 0 (sign bits of the codebook formats).
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn bit_masks(bits: u32) -> __m256i {
    // SAFETY: AVX2 is the caller's contract.
    unsafe {
        // Byte `j` takes byte `j / 8` of `bits` (each 128-bit lane holds all four).
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(bits as i32),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let select = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
        _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select)
    }
}

/// [`KBlock::unpack`] of every codebook format (`formats/grid_block.rs`):
/// vector `v` holds `OFFSET + s·g` of weights `32v .. 32v + 32` (the grid
/// entries' table reads, then the signs as byte masks: `(g ^ m) − m` negates
/// where `m = −1`), its halves scaled by the odd scales of weights `32v ..`
/// and `32v + 16 ..`; the block sums multiply those sixteen scales.
///
/// # Safety
/// The CPU must support `O`'s instruction set (AVX2 and F16C at least).
#[inline(always)]
pub(crate) unsafe fn unpack_grid<O: KIntOps, B: GridBlock>(b: &B) -> Unpacked {
    // SAFETY: the load reads the 16 i16 of `sums_by`; the instruction sets
    // are the caller's contract.
    unsafe {
        let offset = _mm256_set1_epi8(B::GRID.offset);
        let mut q = [_mm256_setzero_si256(); 8];
        let mut sc = [_mm256_setzero_si256(); 8];
        let mut sums_by = [0i16; 16];
        for v in 0..8 {
            let group = b.group(v);
            let neg = bit_masks(group.signs);
            let signed = _mm256_sub_epi8(_mm256_xor_si256(group.points.vector(), neg), neg);
            q[v] = _mm256_add_epi8(signed, offset);
            let [lo, hi] = group.scales;
            sc[v] = O::scale_vec(i32::from(lo), i32::from(hi));
            sums_by[2 * v] = i16::from(lo);
            sums_by[2 * v + 1] = i16::from(hi);
        }
        Unpacked {
            q,
            sc,
            sums_by: load(sums_by.as_ptr().cast()),
            d: f16_to_f32(b.d()) * B::GRID.row_scale,
            dmin: 0.0,
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
                let u = w[r].get_unchecked(b).unpack::<O>();
                for c in 0..C {
                    acc[r][c] = accumulate::<O, B>(&u, x[c].get_unchecked(b), acc[r][c]);
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
