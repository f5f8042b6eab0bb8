//! x86-64 integer block dot products of the 32-value formats: 256-bit AVX2
//! and AVX-512 VNNI tiles (one block per vector), and the byte unpacking
//! that the 512-bit kernels of `lanes.rs` share (pairs of blocks).
//!
//! In the 256-bit tiles every block dot is an exact 32-bit integer sum, kept
//! as 8 lane partials (lane `i` sums bytes `4i .. 4i + 4`), then scaled in
//! f32 per block: `acc += f32(partials)·(d_w·d_x)`, reduced horizontally
//! once per row.
//!
//! The unsigned×signed byte products (`vpdpbusd`, `vpmaddubsw`) need an
//! unsigned weight operand `u = v + bias`, so a correction
//! `−bias·Σ q_x` (per lane) is folded into the accumulator start. Each
//! format says how it gets `u` ([`Block32::OPERAND`]) and unpacks its own
//! bytes ([`Block32::unpack_256`], [`Block32::pair_operand_512`]), from the helpers
//! below:
//! - [`Operand::Signed`] (Q8_0): the weights are bytes `v`; VNNI takes
//!   `u = v ^ 0x80`, bias 128; on AVX2 the products `255·127·2` could
//!   saturate `vpmaddubsw`'s i16, so both sides widen to i16 for `vpmaddwd`;
//! - [`Operand::Unsigned`] (Q4_0: `u = q`, bias 8 since `v = q − 8`; Q4_1:
//!   `u = q`, no bias, its offset is the float term `m·s_x`).
//!
//! All integer paths are exact for every byte value, including `−128`
//! activations (which our quantizers never produce).

use core::arch::x86_64::*;

use crate::prefetch::prefetch;
use crate::quant::QK;
use crate::quant::formats::{Act32, Block32, Operand};

/// The per-format integer operations of one instruction set.
pub(crate) trait IntOps {
    /// The accumulator start for activation vector `x`: `−bias·Σ` per lane.
    unsafe fn start<W: Block32>(x: __m256i) -> __m256i;
    /// The weight operand of the products.
    unsafe fn unpack<W: Block32>(w: &W) -> __m256i;
    /// `start + Σ u·x` per lane.
    unsafe fn isum<W: Block32>(u: __m256i, x: __m256i, start: __m256i) -> __m256i;
}

/// `u − v` of format `W` on VNNI, as the byte `set1_epi8` takes.
const fn bias<W: Block32>() -> i8 {
    W::OPERAND.bias() as i8
}

/// The 32 activation bytes.
#[inline(always)]
unsafe fn load_act<A: Act32>(x: &A) -> __m256i {
    // SAFETY: `values` is 32 readable bytes; AVX is the caller's contract.
    unsafe { _mm256_loadu_si256(x.values().as_ptr().cast()) }
}

/// The 32 nibbles of 16 bytes as bytes `0..16`, in ggml's order (weight
/// `j < 16` the low nibble of byte `j`, `j + 16` its high nibble).
///
/// # Safety
/// The CPU must support AVX2.
#[inline(always)]
pub(crate) unsafe fn unpack_nibbles(packed: &[u8; QK / 2]) -> __m256i {
    // SAFETY: `packed` is 16 bytes; AVX2 is the caller's contract.
    unsafe {
        let v = _mm_loadu_si128(packed.as_ptr().cast());
        let mask = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(v, mask);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
        _mm256_set_m128i(hi, lo)
    }
}

/// An f16 scale to f32 with F16C.
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

/// AVX2: `vpmaddubsw` + `vpmaddwd` (Q4), sign-extended `vpmaddwd` (Q8_0).
pub(crate) struct Avx2;

impl IntOps for Avx2 {
    #[inline(always)]
    unsafe fn start<W: Block32>(x: __m256i) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe {
            match W::OPERAND {
                Operand::Unsigned { bias } if bias != 0 => {
                    let ones = _mm256_set1_epi16(1);
                    let bias_x = _mm256_maddubs_epi16(_mm256_set1_epi8(bias as i8), x);
                    _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(bias_x, ones))
                }
                Operand::Unsigned { .. } | Operand::Signed => _mm256_setzero_si256(),
            }
        }
    }

    #[inline(always)]
    unsafe fn unpack<W: Block32>(w: &W) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe { w.unpack_256() }
    }

    #[inline(always)]
    unsafe fn isum<W: Block32>(u: __m256i, x: __m256i, start: __m256i) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe {
            match W::OPERAND {
                Operand::Signed => {
                    let w_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(u));
                    let w_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(u));
                    let x_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x));
                    let x_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(x));
                    _mm256_add_epi32(_mm256_madd_epi16(w_lo, x_lo), _mm256_madd_epi16(w_hi, x_hi))
                }
                Operand::Unsigned { .. } => {
                    // u < 64, |x| ≤ 128: a pair sum is below 2¹⁵, no saturation.
                    let pairs = _mm256_maddubs_epi16(u, x);
                    _mm256_add_epi32(start, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
                }
            }
        }
    }
}

/// AVX-512 VL + VNNI: `vpdpbusd` on 256-bit vectors.
pub(crate) struct Vnni;

impl IntOps for Vnni {
    #[inline(always)]
    unsafe fn start<W: Block32>(x: __m256i) -> __m256i {
        // SAFETY: AVX-512 VL + VNNI is the caller's contract.
        unsafe {
            if W::OPERAND.bias() == 0 {
                _mm256_setzero_si256()
            } else {
                let zero = _mm256_setzero_si256();
                let bias_x = _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(const { bias::<W>() }), x);
                _mm256_sub_epi32(zero, bias_x)
            }
        }
    }

    #[inline(always)]
    unsafe fn unpack<W: Block32>(w: &W) -> __m256i {
        // SAFETY: AVX2 is the caller's contract.
        unsafe {
            match W::OPERAND {
                Operand::Signed => _mm256_xor_si256(w.unpack_256(), _mm256_set1_epi8(bias::<W>())),
                Operand::Unsigned { .. } => w.unpack_256(),
            }
        }
    }

    #[inline(always)]
    unsafe fn isum<W: Block32>(u: __m256i, x: __m256i, start: __m256i) -> __m256i {
        // SAFETY: AVX-512 VL + VNNI is the caller's contract.
        unsafe { _mm256_dpbusd_epi32(start, u, x) }
    }
}

/// An `R × C` tile of 256-bit block dots with the integer steps of `O`.
///
/// # Safety
/// The CPU must support `O`'s instruction set (a superset of AVX2 + FMA +
/// F16C); every slice has the same length.
#[inline(always)]
pub(crate) unsafe fn tile<O: IntOps, W: Block32, const R: usize, const C: usize>(
    w: [&[W]; R],
    x: [&[W::Act]; C],
    ahead: usize,
) -> [[f32; C]; R] {
    let nb = x[0].len();
    // SAFETY: the caller guarantees `O`'s instruction set (a superset of
    // AVX2 + FMA + F16C); every slice has `nb` blocks, indexed below `nb`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let mut offset = [[0.0f32; C]; R];
        for b in 0..nb {
            if ahead != 0 && b % 2 == 0 {
                for w_r in &w {
                    prefetch(w_r.as_ptr().add(b).cast::<u8>().wrapping_add(ahead));
                }
            }
            let mut xv = [_mm256_setzero_si256(); C];
            let mut start = [_mm256_setzero_si256(); C];
            let mut dx = [0.0f32; C];
            for c in 0..C {
                let xb = x[c].get_unchecked(b);
                xv[c] = load_act(xb);
                start[c] = O::start::<W>(xv[c]);
                dx[c] = xb.scale_x86();
            }
            for r in 0..R {
                let wb = w[r].get_unchecked(b);
                let u = O::unpack(wb);
                let dw = f16_to_f32(wb.scale());
                for c in 0..C {
                    let isum = O::isum::<W>(u, xv[c], start[c]);
                    let scale = _mm256_set1_ps(dw * dx[c]);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[r][c]);
                }
                if W::OFFSET {
                    let m = f16_to_f32(wb.offset());
                    for c in 0..C {
                        offset[r][c] += m * x[c].get_unchecked(b).scaled_sum();
                    }
                }
            }
        }
        let mut out = [[0.0f32; C]; R];
        for r in 0..R {
            for c in 0..C {
                out[r][c] = hsum(acc[r][c]) + offset[r][c];
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// AVX-512 VNNI + VBMI: pairs of blocks in 512-bit vectors, for the 512-bit
// GEMV (`lanes.rs`).
//
// A pair of consecutive blocks of one row is loaded with two overlapping
// in-bounds loads (no masked or page-crossing reads past the pair), and
// `vpermt2b` spreads the packed bytes into 64 lanes (weights of the first
// block, then the second, in order). (Two 32-byte loads + `vinserti64x4`
// measured 1.5–2× slower for Q8_0 than this.) The i32 lanes 0–7 of
// `vpdpbusd` then hold the first block's partial sums, lanes 8–15 the
// second's.

/// A pair of activation blocks, shared by every weight row of a tile.
#[derive(Clone, Copy)]
pub(crate) struct ActPair {
    /// The 64 activation bytes, block `b` then `b + 1`.
    pub(crate) x: __m512i,
    /// Accumulator start: `−bias·Σ` per lane.
    pub(crate) start: __m512i,
}

/// Loads the activation pair starting at `x` (two consecutive blocks).
#[inline(always)]
pub(crate) unsafe fn act_pair<W: Block32>(x: *const W::Act) -> ActPair {
    let size = size_of::<W::Act>();
    // SAFETY: `x` points at two consecutive activation blocks (the caller's
    // contract), 64 to 128 bytes, so the 64-byte loads from bytes 0 and
    // `2·size − 64` stay inside them; AVX-512 F/BW/DQ/VNNI/VBMI and F16C are
    // the caller's contract too.
    unsafe {
        debug_assert!((32..=64).contains(&size));
        debug_assert_eq!(
            (*x).values().as_ptr().cast::<u8>(),
            x.cast::<u8>().add(size - QK)
        );
        let raw = _mm512_loadu_si512(x.cast());
        // Each block's 32 values are its last 32 bytes: the first block's
        // from byte `size − 32` of `raw`, the second block's the last 32 bytes
        // of a load that ends with the pair; `vpermt2b` picks them.
        let values = _mm512_permutex2var_epi8(
            raw,
            idx_vec(&const { pair_values((size_of::<W::Act>() - QK) as u8) }),
            _mm512_loadu_si512(x.cast::<u8>().add(2 * size - 64).cast()),
        );
        let zero = _mm512_setzero_si512();
        let start = if W::OPERAND.bias() == 0 {
            zero
        } else {
            let bias_x = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(bias::<W>()), values);
            _mm512_sub_epi32(zero, bias_x)
        };
        ActPair { x: values, start }
    }
}

/// `vpermt2b` indices spreading a pair's nibble bytes over 64 lanes:
/// lanes 0–31 take the first block's 16 bytes twice (from byte `first` of
/// the first table; low then high nibbles), lanes 32–63 the second block's
/// (the second table's first 16 bytes, indices `64..`).
const fn q4_spread(first: u8) -> [u8; 64] {
    let mut idx = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        let byte = (i % 16) as u8;
        idx[i] = if i < 32 { first + byte } else { 64 + byte };
        i += 1;
    }
    idx
}

/// `vpermt2b` indices taking a pair's 64 values when the first block's
/// start at byte `first` of the first table and the second block's are the
/// last 32 bytes of the second table (indices `64..`): Q8_0 weights and
/// activations (`first` 2, second table from byte 4) and Q8_1 activations
/// (`first` 8, second table from byte 16).
pub(crate) const fn pair_values(first: u8) -> [u8; 64] {
    let mut idx = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        idx[i] = if i < 32 {
            i as u8 + first
        } else {
            64 + i as u8
        };
        i += 1;
    }
    idx
}

/// 64 bytes of indices as a vector.
///
/// # Safety
/// The CPU must support AVX-512 F.
#[inline(always)]
pub(crate) unsafe fn idx_vec(idx: &[u8; 64]) -> __m512i {
    // SAFETY: 64 readable bytes; AVX-512 F is the caller's contract.
    unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) }
}

/// The nibbles of a pair of blocks whose last 16 bytes are nibbles (Q4_0,
/// Q4_1, ...): the 64 nibbles as bytes `0..16` in weight order (the first
/// block's 32, then the second's).
///
/// # Safety
/// `pair` points at two consecutive blocks of 32 to 48 bytes together (every
/// load stays inside: 32 bytes from the start, 16 from the end); the CPU
/// must support AVX-512 F/BW/VBMI.
#[inline(always)]
pub(crate) unsafe fn nibble_pair<W>(pair: *const W) -> __m512i {
    // SAFETY: as this function's contract.
    unsafe {
        let p = pair.cast::<u8>();
        // Bytes 0..32 of the pair (scales, first block's nibbles) and the
        // second block's 16 nibble bytes at its end.
        let head = (size_of::<W>() - 16) as usize;
        let raw = _mm512_castsi256_si512(_mm256_loadu_si256(p.cast()));
        let tail = _mm512_castsi128_si512(_mm_loadu_si128(p.add(size_of::<W>() + head).cast()));
        let qs_idx = idx_vec(&const { q4_spread((size_of::<W>() - 16) as u8) });
        let qs = _mm512_permutex2var_epi8(raw, qs_idx, tail);
        // Low nibbles in lanes 0–15 and 32–47, high in 16–31, 48–63.
        let shifts = _mm512_set_epi64(
            0x0004_0004_0004_0004,
            0x0004_0004_0004_0004,
            0,
            0,
            0x0004_0004_0004_0004,
            0x0004_0004_0004_0004,
            0,
            0,
        );
        _mm512_and_si512(_mm512_srlv_epi16(qs, shifts), _mm512_set1_epi8(0x0F))
    }
}
