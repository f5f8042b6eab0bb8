//! Conversions between f32 and the 16-bit float formats, over slices.
//!
//! - **f16** is IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits).
//! - **bf16** is bfloat16, the upper half of an f32 (1 sign, 8 exponent,
//!   7 mantissa bits).
//!
//! Both widenings (to f32) are exact, denormals included. Both narrowings
//! round to nearest, ties to even, like IEEE 754 `convertFormat` and like the
//! `half` crate: finite values too large for f16 become ±inf (at and above
//! 65520), tiny ones become f16 denormals or ±0; ±0 and ±inf are kept; NaN
//! stays NaN (quieted; the sign is kept, the payload may not be).
//!
//! The element types are [`half::f16`] and [`half::bf16`]. All kernels are
//! branch-free integer bit manipulation, written once inside a
//! [`pulp::WithSimd`] body so that, under the target features of the
//! dispatched path, LLVM turns each loop into packed AVX2/AVX-512 integer code
//! (`vpmovzxwd`, shifts, compares, blends, `vpmovdw`).
//!
//! Measured against `half`'s slice conversions (`HalfFloatSliceExt`, F16C four
//! lanes at a time for f16, scalar for bf16) on 1 Mi elements, Zen 4
//! (`cargo bench -p smallmind-kernels --bench small_tune -- convert`), median
//! µs, ours on V4 / V3 vs `half`: f16→f32 66 / 101 vs 133; f32→f16 80 / 213 vs
//! 134; bf16→f32 59 / 60 vs 144; f32→bf16 66 / 124 vs 276. So the portable code
//! wins on the best path for every direction; on an AVX2-only CPU, F16C would
//! still narrow f32→f16 about 1.6× faster than the V3 path.
//!
//! Formulas (bits of an f32 `x`, of a 16-bit `h`):
//! - bf16 → f32: `x = h << 16`.
//! - f32 → bf16: `h = (x + 0x7FFF + ((x >> 16) & 1)) >> 16` (adding just under
//!   half an ulp, plus one when the kept part is odd, gives ties-to-even); NaN
//!   becomes `(x >> 16) | 0x0040` (quiet bit set, so a payload living only in
//!   the low half cannot turn it into an infinity).
//! - f16 → f32: exponent-and-mantissa `em = h & 0x7FFF`; for finite `h`, the f32
//!   with bits `em << 13` times 2¹¹² is exactly the value (this also scales
//!   f16 denormals, which land as f32 denormals, into normal range); for
//!   `em ≥ 0x7C00` (inf/NaN) the result is `(em << 13) | 0x7F80_0000`; then
//!   the sign is OR-ed back.
//! - f32 → f16: for normal results, rebias the exponent and round the 13 lost
//!   mantissa bits to nearest-even with the same add-and-shift trick (a
//!   carry out of the mantissa correctly bumps the exponent, up to inf); for
//!   results below 2⁻¹⁴, add the magic constant 0.5 (exponent 126), which
//!   makes the FPU align and round the value (RNE) into the low mantissa bits.

use half::{bf16, f16};
use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::error::check_len;
use crate::parallel::{for_each_part_mut, plan_chunks};

// ---------------------------------------------------------------------------
// Per-element bit formulas (branch-free, so the loops vectorize)
// ---------------------------------------------------------------------------

/// bf16 bits → f32, exact.
#[inline(always)]
fn bf16_bits_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// f32 → bf16 bits, round to nearest even; NaN quieted.
#[inline(always)]
fn f32_to_bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let odd = (bits >> 16) & 1;
    let rounded = (bits.wrapping_add(0x7FFF + odd) >> 16) as u16;
    let quiet_nan = ((bits >> 16) | 0x0040) as u16;
    if x.is_nan() { quiet_nan } else { rounded }
}

/// 2¹¹², the ratio between an f16 value and the f32 read from its bits `<< 13`.
const F16_TO_F32_SCALE: f32 = 5.192_297e33;

/// f16 bits → f32, exact.
#[inline(always)]
fn f16_bits_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let em = h & 0x7FFF;
    let finite = (f32::from_bits(em << 13) * F16_TO_F32_SCALE).to_bits();
    let inf_or_nan = (em << 13) | 0x7F80_0000;
    let magnitude = if em >= 0x7C00 { inf_or_nan } else { finite };
    f32::from_bits(magnitude | sign)
}

/// |x| bits at and above which the f16 result is inf (or NaN): 65520 rounds
/// up to 2¹⁶, so test against 2¹⁶ after rounding instead (see below).
const F32_BITS_2POW16: u32 = (127 + 16) << 23;
/// |x| bits below which the f16 result is denormal or zero: 2⁻¹⁴.
const F32_BITS_F16_MIN_NORMAL: u32 = (127 - 14) << 23;
/// 0.5 as f32 bits: adding it to |x| < 2⁻¹⁴ leaves |x|·2²⁴ (rounded to
/// nearest even by the FPU) in the low mantissa bits.
const F32_BITS_HALF: u32 = 126 << 23;

/// f32 → f16 bits, round to nearest even; NaN quieted, overflow to ±inf.
#[inline(always)]
fn f32_to_f16_bits(x: f32) -> u16 {
    // Signed 32-bit lanes throughout: AVX2 has signed compares only, and `abs`
    // is non-negative, so signed and unsigned order agree.
    let bits = x.to_bits() as i32;
    let sign = (bits >> 16) & 0x8000;
    let abs = bits & 0x7FFF_FFFF;

    // Normal range: rebias the exponent (127 → 15) and round off 13 bits.
    let odd = (abs >> 13) & 1;
    let normal = abs
        .wrapping_sub((127 - 15) << 23)
        .wrapping_add(0x0FFF + odd)
        >> 13;
    // Denormal range: let the FPU round |x| into the low bits of 0.5 + |x|.
    let magic = f32::from_bits(F32_BITS_HALF);
    let denormal =
        ((f32::from_bits(abs as u32) + magic).to_bits() as i32).wrapping_sub(F32_BITS_HALF as i32);
    // Inf, NaN (quiet, keeping the top payload bits) and overflow.
    let nan = 0x7E00 | ((abs >> 13) & 0x01FF);
    let special = if abs > 0x7F80_0000 { nan } else { 0x7C00 };

    let magnitude = if abs >= F32_BITS_2POW16 as i32 {
        special
    } else if abs < F32_BITS_F16_MIN_NORMAL as i32 {
        denormal
    } else {
        normal
    };
    // The mask tells LLVM the lanes fit 16 bits (one saturating pack on AVX2).
    ((magnitude | sign) & 0xFFFF) as u16
}

// ---------------------------------------------------------------------------
// SIMD-path bodies
// ---------------------------------------------------------------------------

/// Which conversion a [`Convert`] runs.
#[derive(Clone, Copy)]
enum Narrow {
    F16,
    Bf16,
}

/// Widening passes over at least this many elements are split among workers
/// (the 16-bit prefill widens `256 × in` weights per GEMM block, 147 Ki
/// elements for SmolLM2's MLP). Provisional: a region on a spinning team costs
/// about a microsecond, and widening 64 Ki elements about ten on one core;
/// not yet timed on an idle machine.
pub const WIDEN_PAR_MIN_LEN: usize = 1 << 16;

/// Elements per part of a split widening (a multiple of every lane count,
/// and under half of [`WIDEN_PAR_MIN_LEN`], so a part never splits again).
const WIDEN_CHUNK: usize = 1 << 13;

/// Widen 16-bit floats (as bits) to f32.
struct Widen<'a> {
    format: Narrow,
    src: &'a [u16],
    dst: &'a mut [f32],
}

impl WithSimd for Widen<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let split = plan_chunks(self.dst.len(), WIDEN_CHUNK, WIDEN_PAR_MIN_LEN);
        if split.is_parallel() {
            let (format, src) = (self.format, self.src);
            for_each_part_mut(split, self.dst, |r, dst| {
                simd.vectorize(Widen {
                    format,
                    src: &src[r],
                    dst,
                });
            });
            return;
        }
        // Compiled with the target features of `S`; the bodies are branch-free
        // lane-wise maps, which LLVM vectorizes to the path's full width.
        match self.format {
            Narrow::F16 => {
                for (d, &s) in self.dst.iter_mut().zip(self.src) {
                    *d = f16_bits_to_f32(s);
                }
            }
            Narrow::Bf16 => {
                for (d, &s) in self.dst.iter_mut().zip(self.src) {
                    *d = bf16_bits_to_f32(s);
                }
            }
        }
    }
}

/// Narrow f32 to 16-bit floats (as bits).
struct Shorten<'a> {
    format: Narrow,
    src: &'a [f32],
    dst: &'a mut [u16],
}

impl WithSimd for Shorten<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        match self.format {
            Narrow::F16 => {
                for (d, &s) in self.dst.iter_mut().zip(self.src) {
                    *d = f32_to_f16_bits(s);
                }
            }
            Narrow::Bf16 => {
                for (d, &s) in self.dst.iter_mut().zip(self.src) {
                    *d = f32_to_bf16_bits(s);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Public kernels
// ---------------------------------------------------------------------------

/// Widens f16 to f32, exactly.
///
/// Errors: `LengthMismatch` if `dst.len() != src.len()`.
pub fn f16_to_f32(src: &[f16], dst: &mut [f32]) -> Result<(), KernelError> {
    check_len("f16_to_f32", "dst", src.len(), dst.len())?;
    let src: &[u16] = bytemuck::cast_slice(src);
    dispatch(Widen {
        format: Narrow::F16,
        src,
        dst,
    });
    Ok(())
}

/// Scalar twin of [`f16_to_f32`] (the `half` crate, one element at a time).
pub fn f16_to_f32_ref(src: &[f16], dst: &mut [f32]) -> Result<(), KernelError> {
    check_len("f16_to_f32", "dst", src.len(), dst.len())?;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
    Ok(())
}

/// Narrows f32 to f16, rounding to nearest even (see the module docs).
///
/// Errors: `LengthMismatch` if `dst.len() != src.len()`.
pub fn f32_to_f16(src: &[f32], dst: &mut [f16]) -> Result<(), KernelError> {
    check_len("f32_to_f16", "dst", src.len(), dst.len())?;
    let dst: &mut [u16] = bytemuck::cast_slice_mut(dst);
    dispatch(Shorten {
        format: Narrow::F16,
        src,
        dst,
    });
    Ok(())
}

/// Scalar twin of [`f32_to_f16`] (the `half` crate, one element at a time).
pub fn f32_to_f16_ref(src: &[f32], dst: &mut [f16]) -> Result<(), KernelError> {
    check_len("f32_to_f16", "dst", src.len(), dst.len())?;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(s);
    }
    Ok(())
}

/// Widens bf16 to f32, exactly.
///
/// Errors: `LengthMismatch` if `dst.len() != src.len()`.
pub fn bf16_to_f32(src: &[bf16], dst: &mut [f32]) -> Result<(), KernelError> {
    check_len("bf16_to_f32", "dst", src.len(), dst.len())?;
    let src: &[u16] = bytemuck::cast_slice(src);
    dispatch(Widen {
        format: Narrow::Bf16,
        src,
        dst,
    });
    Ok(())
}

/// Scalar twin of [`bf16_to_f32`] (the `half` crate, one element at a time).
pub fn bf16_to_f32_ref(src: &[bf16], dst: &mut [f32]) -> Result<(), KernelError> {
    check_len("bf16_to_f32", "dst", src.len(), dst.len())?;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f32();
    }
    Ok(())
}

/// Narrows f32 to bf16, rounding to nearest even (see the module docs).
///
/// Errors: `LengthMismatch` if `dst.len() != src.len()`.
pub fn f32_to_bf16(src: &[f32], dst: &mut [bf16]) -> Result<(), KernelError> {
    check_len("f32_to_bf16", "dst", src.len(), dst.len())?;
    let dst: &mut [u16] = bytemuck::cast_slice_mut(dst);
    dispatch(Shorten {
        format: Narrow::Bf16,
        src,
        dst,
    });
    Ok(())
}

/// Scalar twin of [`f32_to_bf16`] (the `half` crate, one element at a time).
pub fn f32_to_bf16_ref(src: &[f32], dst: &mut [bf16]) -> Result<(), KernelError> {
    check_len("f32_to_bf16", "dst", src.len(), dst.len())?;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = bf16::from_f32(s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every f16 bit pattern widens exactly like `half`.
    #[test]
    fn f16_widening_is_exact_for_all_bit_patterns() {
        for h in 0..=u16::MAX {
            let ours = f16_bits_to_f32(h);
            let theirs = f16::from_bits(h).to_f32();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{h:#06x}");
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{h:#06x}");
            }
        }
    }

    /// Narrowing matches `half` on a dense sweep of f32 bit patterns, including
    /// every pattern around the f16 denormal/normal/overflow boundaries.
    #[test]
    fn f16_narrowing_matches_half_on_a_sweep() {
        let check = |bits: u32| {
            let x = f32::from_bits(bits);
            let ours = f32_to_f16_bits(x);
            let theirs = f16::from_f32(x).to_bits();
            if x.is_nan() {
                assert!(f16::from_bits(ours).is_nan(), "{bits:#010x}");
                assert_eq!(ours & 0x8000, theirs & 0x8000);
            } else {
                assert_eq!(ours, theirs, "{bits:#010x} = {x:e}");
            }
        };
        for bits in (0..=u32::MAX).step_by(997) {
            check(bits);
        }
        for exponent in 100u32..=145 {
            for low in 0..0x4000 {
                check((exponent << 23) | (low * 0x1FF) & 0x7F_FFFF);
                check((exponent << 23) | low);
                check((exponent << 23) | (0x7F_FFFF - low));
            }
        }
    }

    #[test]
    fn bf16_narrowing_matches_half_on_a_sweep() {
        for bits in
            (0..=u32::MAX)
                .step_by(991)
                .chain([0x7F80_0001, 0xFF80_0001, 0x3F80_8000, 0x3F81_8000])
        {
            let x = f32::from_bits(bits);
            let ours = f32_to_bf16_bits(x);
            let theirs = bf16::from_f32(x).to_bits();
            if x.is_nan() {
                assert!(bf16::from_bits(ours).is_nan(), "{bits:#010x}");
            } else {
                assert_eq!(ours, theirs, "{bits:#010x}");
            }
        }
    }
}
