//! Conformance suite for `smallmind_kernels::convert`, run on every SIMD path.

mod common;

use common::{Rng, edge_lengths, for_each_path};
use half::{bf16, f16};
use proptest::prelude::*;
use smallmind_kernels::{KernelError, SimdPath, convert};

/// Conversions are exact (widening) or correctly rounded (narrowing): the
/// kernels must equal the `half` crate's scalar conversions bit for bit, except
/// that any NaN may stand for any NaN of the same sign.
const CONVERT_ULP_TOL: u16 = 0;

fn same_f32(a: f32, b: f32) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan() && a.is_sign_negative() == b.is_sign_negative();
    }
    a.to_bits() == b.to_bits()
}

// The tolerance is a named constant that happens to be zero (exact).
#[allow(clippy::absurd_extreme_comparisons)]
fn assert_f16s(actual: &[f16], expected: &[f16], src: &[f32], path: SimdPath) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let ok = if e.is_nan() {
            a.is_nan() && a.is_sign_negative() == e.is_sign_negative()
        } else {
            a.to_bits().abs_diff(e.to_bits()) <= CONVERT_ULP_TOL
        };
        assert!(
            ok,
            "f32_to_f16 on {path}: [{i}] {:e} -> {:#06x}, expected {:#06x}",
            src[i],
            a.to_bits(),
            e.to_bits()
        );
    }
}

// The tolerance is a named constant that happens to be zero (exact).
#[allow(clippy::absurd_extreme_comparisons)]
fn assert_bf16s(actual: &[bf16], expected: &[bf16], src: &[f32], path: SimdPath) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let ok = if e.is_nan() {
            a.is_nan() && a.is_sign_negative() == e.is_sign_negative()
        } else {
            a.to_bits().abs_diff(e.to_bits()) <= CONVERT_ULP_TOL
        };
        assert!(
            ok,
            "f32_to_bf16 on {path}: [{i}] {:e} -> {:#06x}, expected {:#06x}",
            src[i],
            a.to_bits(),
            e.to_bits()
        );
    }
}

/// Narrows `src` both ways, checks against the twins, then widens back.
fn check_all(src: &[f32], path: SimdPath) {
    let n = src.len();
    let mut h = vec![f16::ZERO; n];
    let mut h_ref = vec![f16::ZERO; n];
    convert::f32_to_f16(src, &mut h).unwrap();
    convert::f32_to_f16_ref(src, &mut h_ref).unwrap();
    assert_f16s(&h, &h_ref, src, path);

    let mut b = vec![bf16::ZERO; n];
    let mut b_ref = vec![bf16::ZERO; n];
    convert::f32_to_bf16(src, &mut b).unwrap();
    convert::f32_to_bf16_ref(src, &mut b_ref).unwrap();
    assert_bf16s(&b, &b_ref, src, path);

    let mut wide = vec![0.0f32; n];
    let mut wide_ref = vec![0.0f32; n];
    convert::f16_to_f32(&h_ref, &mut wide).unwrap();
    convert::f16_to_f32_ref(&h_ref, &mut wide_ref).unwrap();
    for i in 0..n {
        assert!(
            same_f32(wide[i], wide_ref[i]),
            "f16_to_f32 on {path}: [{i}] {} vs {}",
            wide[i],
            wide_ref[i]
        );
    }
    convert::bf16_to_f32(&b_ref, &mut wide).unwrap();
    convert::bf16_to_f32_ref(&b_ref, &mut wide_ref).unwrap();
    for i in 0..n {
        assert!(
            same_f32(wide[i], wide_ref[i]),
            "bf16_to_f32 on {path}: [{i}] {} vs {}",
            wide[i],
            wide_ref[i]
        );
    }
}

#[test]
fn conversions_match_ref_on_edge_lengths() {
    for_each_path(|path| {
        let mut rng = Rng::new(3);
        for n in edge_lengths() {
            // Spread over many binades, including f16 overflow and denormals.
            let src: Vec<f32> = (0..n)
                .map(|_| rng.next_f32() * 2f32.powi((rng.next_f32() * 40.0) as i32))
                .collect();
            check_all(&src, path);
        }
    });
}

#[test]
fn every_f16_and_bf16_bit_pattern_round_trips() {
    let all: Vec<u16> = (0..=u16::MAX).collect();
    let halves: Vec<f16> = all.iter().map(|&b| f16::from_bits(b)).collect();
    let brains: Vec<bf16> = all.iter().map(|&b| bf16::from_bits(b)).collect();
    for_each_path(|path| {
        let mut wide = vec![0.0f32; all.len()];
        let mut back = vec![f16::ZERO; all.len()];
        convert::f16_to_f32(&halves, &mut wide).unwrap();
        convert::f32_to_f16(&wide, &mut back).unwrap();
        for (i, (&h, &r)) in halves.iter().zip(&back).enumerate() {
            assert_eq!(
                wide[i].to_bits(),
                if h.is_nan() {
                    wide[i].to_bits()
                } else {
                    h.to_f32().to_bits()
                }
            );
            if h.is_nan() {
                assert!(wide[i].is_nan() && r.is_nan(), "f16 NaN {i:#06x} on {path}");
            } else {
                assert_eq!(r.to_bits(), h.to_bits(), "f16 {i:#06x} on {path}");
            }
        }
        let mut back = vec![bf16::ZERO; all.len()];
        convert::bf16_to_f32(&brains, &mut wide).unwrap();
        convert::f32_to_bf16(&wide, &mut back).unwrap();
        for (i, (&h, &r)) in brains.iter().zip(&back).enumerate() {
            if h.is_nan() {
                assert!(
                    wide[i].is_nan() && r.is_nan(),
                    "bf16 NaN {i:#06x} on {path}"
                );
            } else {
                assert_eq!(wide[i].to_bits(), u32::from(h.to_bits()) << 16);
                assert_eq!(r.to_bits(), h.to_bits(), "bf16 {i:#06x} on {path}");
            }
        }
    });
}

/// `(input, expected f16 bits)`: signed zeros, infinities, NaN, the largest
/// finite value and the overflow threshold, the smallest denormal, and exact
/// ties in the normal and denormal ranges (ties go to the even neighbour).
fn f16_cases() -> Vec<(f32, u16)> {
    let tiny = 2f32.powi(-24); // smallest f16 denormal
    vec![
        (0.0, 0x0000),
        (-0.0, 0x8000),
        (f32::INFINITY, 0x7C00),
        (f32::NEG_INFINITY, 0xFC00),
        (65504.0, 0x7BFF),
        (-65504.0, 0xFBFF),
        (65519.996, 0x7BFF),
        (65520.0, 0x7C00),
        (f32::MAX, 0x7C00),
        (-f32::MAX, 0xFC00),
        (tiny, 0x0001),
        (-tiny, 0x8001),
        (tiny * 0.5, 0x0000),                  // tie between 0 and 1 → 0
        (tiny * 0.500_001, 0x0001),            // just above the tie
        (tiny * 1.5, 0x0002),                  // tie between 1 and 2 → 2
        (tiny * 2.5, 0x0002),                  // tie between 2 and 3 → 2
        (f32::from_bits(1), 0x0000),           // f32 denormal underflows
        (2f32.powi(-14), 0x0400),              // smallest normal
        (2f32.powi(-14) - tiny * 0.5, 0x0400), // tie at the denormal/normal edge → even (0x400)
        (1.0 + 2f32.powi(-11), 0x3C00),        // tie → even (1.0)
        (1.0 + 3.0 * 2f32.powi(-11), 0x3C02),  // tie → even (up)
        (1.0 + 2f32.powi(-11) + 2f32.powi(-20), 0x3C01),
        (0.1, 0x2E66),
    ]
}

/// `(input, expected bf16 bits)`, as for f16.
fn bf16_cases() -> Vec<(f32, u16)> {
    vec![
        (0.0, 0x0000),
        (-0.0, 0x8000),
        (f32::INFINITY, 0x7F80),
        (f32::NEG_INFINITY, 0xFF80),
        (f32::from_bits(0x7F7F_0000), 0x7F7F), // largest finite bf16
        (f32::MAX, 0x7F80),                    // rounds up to inf
        (f32::from_bits(1), 0x0000),           // smallest f32 denormal → 0
        (f32::from_bits(0x0001_0000), 0x0001), // smallest bf16 denormal
        (f32::from_bits(0x0000_8000), 0x0000), // tie → even (0)
        (f32::from_bits(0x0001_8000), 0x0002), // tie → even (up)
        (1.0 + 2f32.powi(-8), 0x3F80),         // tie → even (1.0)
        (1.0 + 3.0 * 2f32.powi(-8), 0x3F82),   // tie → even (up)
        (f32::from_bits(0x3F80_8001), 0x3F81), // just above the tie
    ]
}

#[test]
fn special_values_and_ties_round_to_nearest_even() {
    for_each_path(|path| {
        for (x, bits) in f16_cases() {
            let mut out = [f16::ZERO];
            convert::f32_to_f16(&[x], &mut out).unwrap();
            assert_eq!(out[0].to_bits(), bits, "f16({x:e}) on {path}");
            let mut back = [0.0f32];
            convert::f16_to_f32(&out, &mut back).unwrap();
            assert_eq!(
                back[0].to_bits(),
                f16::from_bits(bits).to_f32().to_bits(),
                "widen {bits:#06x} on {path}"
            );
        }
        for (x, bits) in bf16_cases() {
            let mut out = [bf16::ZERO];
            convert::f32_to_bf16(&[x], &mut out).unwrap();
            assert_eq!(out[0].to_bits(), bits, "bf16({x:e}) on {path}");
        }
        // NaN stays NaN, of either sign, quiet or signalling, in head and tail.
        let nans = [
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7F80_0001),
            f32::from_bits(0xFF80_0001),
            f32::from_bits(0x7FC0_0000),
        ];
        let src: Vec<f32> = nans.iter().copied().cycle().take(37).collect();
        let mut h = vec![f16::ZERO; src.len()];
        let mut b = vec![bf16::ZERO; src.len()];
        convert::f32_to_f16(&src, &mut h).unwrap();
        convert::f32_to_bf16(&src, &mut b).unwrap();
        for i in 0..src.len() {
            assert!(
                h[i].is_nan() && h[i].is_sign_negative() == src[i].is_sign_negative(),
                "f16 NaN {i} on {path}"
            );
            assert!(
                b[i].is_nan() && b[i].is_sign_negative() == src[i].is_sign_negative(),
                "bf16 NaN {i} on {path}"
            );
        }
    });
}

#[test]
fn length_mismatches_are_errors() {
    let src = [1.0f32; 4];
    let is_mismatch =
        |r: Result<(), KernelError>| matches!(r, Err(KernelError::LengthMismatch { .. }));
    for_each_path(|_| {
        assert!(is_mismatch(convert::f32_to_f16(&src, &mut [f16::ZERO; 3])));
        assert!(is_mismatch(convert::f32_to_bf16(
            &src,
            &mut [bf16::ZERO; 5]
        )));
        assert!(is_mismatch(convert::f16_to_f32(
            &[f16::ZERO; 3],
            &mut [0.0; 4]
        )));
        assert!(is_mismatch(convert::bf16_to_f32(
            &[bf16::ZERO; 3],
            &mut [0.0; 4]
        )));
        assert!(is_mismatch(convert::f32_to_f16_ref(
            &src,
            &mut [f16::ZERO; 3]
        )));
        assert!(is_mismatch(convert::bf16_to_f32_ref(
            &[bf16::ZERO; 3],
            &mut [0.0; 4]
        )));
        assert!(convert::f32_to_f16(&[], &mut []).is_ok());
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proptest_any_bit_pattern_matches_ref(bits in prop::collection::vec(any::<u32>(), 0..300)) {
        let src: Vec<f32> = bits.into_iter().map(f32::from_bits).collect();
        for_each_path(|path| check_all(&src, path));
    }
}
