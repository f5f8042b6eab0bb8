//! f16/bf16 → f32 conversion through tensors: exact for every bit pattern,
//! on both the contiguous (slice) path and the strided (per-element) path.

use half::{bf16, f16};
use smallmind_tensor::{DType, Tensor};

/// f16 bits → f32 from the IEEE 754 definition, independent of `half`.
fn f16_reference(bits: u16) -> f32 {
    let sign = if bits >> 15 == 1 { -1.0f64 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    let magnitude = match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
    };
    (sign * magnitude) as f32
}

/// bf16 bits → f32: bf16 is the top half of an f32.
fn bf16_reference(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

fn same_value(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn all_bits() -> Vec<u16> {
    (0..=u16::MAX).collect()
}

fn check_all(t: &Tensor, reference: impl Fn(u16) -> f32, order: &[u16]) {
    let got = t.to_f32_vec().unwrap();
    assert_eq!(got.len(), order.len());
    for (&bits, &v) in order.iter().zip(&got) {
        assert!(
            same_value(v, reference(bits)),
            "bits {bits:#06x}: got {v:e}, want {:e}",
            reference(bits)
        );
    }
}

#[test]
fn every_f16_converts_exactly() {
    let bits = all_bits();
    let values: Vec<f16> = bits.iter().map(|&b| f16::from_bits(b)).collect();
    let t = Tensor::from_slice(&[256, 256], &values).unwrap();
    assert_eq!(t.dtype(), DType::F16);
    check_all(&t, f16_reference, &bits);
    // Strided: the transpose reads element [i, j] = bits[j * 256 + i].
    let order: Vec<u16> = (0..256)
        .flat_map(|i| (0..256).map(move |j| (j * 256 + i) as u16))
        .collect();
    check_all(&t.transpose(0, 1).unwrap(), f16_reference, &order);
}

#[test]
fn every_bf16_converts_exactly() {
    let bits = all_bits();
    let values: Vec<bf16> = bits.iter().map(|&b| bf16::from_bits(b)).collect();
    let t = Tensor::from_slice(&[256, 256], &values).unwrap();
    assert_eq!(t.dtype(), DType::BF16);
    check_all(&t, bf16_reference, &bits);
    let order: Vec<u16> = (0..256)
        .flat_map(|i| (0..256).map(move |j| (j * 256 + i) as u16))
        .collect();
    check_all(&t.transpose(0, 1).unwrap(), bf16_reference, &order);
}

#[test]
fn representable_values_round_trip() {
    let values = [
        0.0f32,
        -0.0,
        1.0,
        -2.5,
        0.15625,
        1024.0,
        -65504.0,
        2f32.powi(-14),
        2f32.powi(-24),
    ];
    let h: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
    let t = Tensor::from_slice(&[values.len()], &h).unwrap();
    let got = t.to_f32_vec().unwrap();
    for (g, v) in got.iter().zip(values) {
        assert_eq!(g.to_bits(), v.to_bits());
    }
    let b_values = [
        0.0f32,
        -0.0,
        1.0,
        -2.5,
        3.0e38,
        1.0e-38,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let b: Vec<bf16> = b_values.iter().map(|&v| bf16::from_f32(v)).collect();
    let got = Tensor::from_slice(&[b_values.len()], &b)
        .unwrap()
        .to_f32_vec()
        .unwrap();
    for (g, v) in got.iter().zip(b_values) {
        assert_eq!(g.to_bits(), bf16::from_f32(v).to_f32().to_bits());
    }
    assert_eq!(got[2], 1.0);
    assert_eq!(got[3], -2.5);
}

#[test]
fn get_f32_and_copy_to_f32_agree_for_every_dtype() {
    let source: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.25).collect();
    let tensors = [
        Tensor::from_f32(&[3, 4, 5], &source).unwrap(),
        Tensor::from_slice(
            &[3, 4, 5],
            &source.iter().map(|&v| f16::from_f32(v)).collect::<Vec<_>>(),
        )
        .unwrap(),
        Tensor::from_slice(
            &[3, 4, 5],
            &source
                .iter()
                .map(|&v| bf16::from_f32(v))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    ];
    for t in &tensors {
        // Multiples of 0.25 in [-7.5, 7.25] are exact in all three types.
        assert_eq!(t.to_f32_vec().unwrap(), source, "{:?}", t.dtype());
        let view = t.permute(&[2, 0, 1]).unwrap().narrow(0, 1, 3).unwrap();
        let flat = view.to_f32_vec().unwrap();
        let mut n = 0;
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..4 {
                    assert_eq!(flat[n], view.get_f32(&[a, b, c]).unwrap());
                    assert_eq!(flat[n], source[b * 20 + c * 5 + a + 1]);
                    n += 1;
                }
            }
        }
        // Contiguous copies keep the dtype and the values.
        let c = view.to_contiguous().unwrap();
        assert_eq!(c.dtype(), t.dtype());
        assert!(c.is_contiguous());
        assert_eq!(c.to_f32_vec().unwrap(), flat);
    }
}
