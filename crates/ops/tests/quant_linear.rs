//! Linear layers on ggml block-quantized weights (Q8_0, Q4_0, Q4_1) against the scalar twin on
//! the dequantized weights: exact up to f32 sums on the f32-activation path, within the
//! documented rounding of Q8 activations on the quantized path. One and several rows, strided
//! output, accumulation and bias, on every SIMD path; and quantized embedding rows.

mod common;

use common::values;
use smallmind_testkit::max_scaled_diff;

use smallmind_kernels::quant::{BlockQ4_0, BlockQ4_1, BlockQ8_0, dequantize, quantize};
use smallmind_kernels::{available_paths, with_path};
use smallmind_ops::embedding::embed;
use smallmind_ops::linear::{linear, linear_accumulate, linear_ref};
use smallmind_ops::{ActivationPrecision, Linear, MatMut, MatRef, WeightData};

/// f32-activation path vs the f64 twin, relative to `Σ|w·x|` of the output.
/// Measured 9.5e-8 (every path: v4, v3, scalar; `cargo test -p smallmind-ops --test quant_linear -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const F32_PATH_TOL: f64 = 2e-7;
/// Q8-activation path: each activation moves by at most `amax/254` (+ scale rounding), so an
/// output moves by at most `Σ_j |w_j|·amax/254`; this factor covers the f16 scale rounding.
/// Measured 0.23 of the documented bound (every path: v4, v3, scalar; `cargo test -p smallmind-ops --test quant_linear -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const Q8_ACT_SLACK: f64 = 0.5;

/// One quantized weight in every format, `(n, k)`.
struct Weights {
    q8_0: Vec<BlockQ8_0>,
    q4_0: Vec<BlockQ4_0>,
    q4_1: Vec<BlockQ4_1>,
}

fn weights(n: usize, k: usize, seed: u64) -> Weights {
    let w = values(n * k, seed);
    let blocks = n * k / 32;
    let mut out = Weights {
        q8_0: vec![BlockQ8_0::default(); blocks],
        q4_0: vec![BlockQ4_0::default(); blocks],
        q4_1: vec![BlockQ4_1::default(); blocks],
    };
    quantize::<BlockQ8_0>(&w, &mut out.q8_0).unwrap();
    quantize::<BlockQ4_0>(&w, &mut out.q4_0).unwrap();
    quantize::<BlockQ4_1>(&w, &mut out.q4_1).unwrap();
    out
}

/// `y` of `(rows, ld)` from `layer`, through `apply`, starting from `init`.
fn run(
    layer: &Linear<'_>,
    x: &[f32],
    rows: usize,
    ld: usize,
    init: &[f32],
    accumulate: bool,
) -> Vec<f32> {
    let (k, n) = (layer.in_features, layer.out_features);
    let mut y = init.to_vec();
    let mut scratch = vec![0.0; layer.scratch_len(rows)];
    let xv = MatRef::new(x, rows, k).unwrap();
    let yv = MatMut::strided(&mut y, rows, n, ld).unwrap();
    if accumulate {
        linear_accumulate(layer, xv, yv, &mut scratch).unwrap();
    } else {
        linear(layer, xv, yv, &mut scratch).unwrap();
    }
    y
}

fn check(weight: WeightData<'_>, rows: usize, k: usize, n: usize, ld: usize, accumulate: bool) {
    let bias = values(n, 7);
    let x = values(rows * k, 3);
    let init = values(rows * ld, 5);
    let layer = Linear::half(weight, k, n, Some(&bias)).unwrap();
    let mut want = init.clone();
    linear_ref(
        &layer,
        MatRef::new(&x, rows, k).unwrap(),
        MatMut::strided(&mut want, rows, n, ld).unwrap(),
    )
    .unwrap();
    if accumulate {
        for r in 0..rows {
            for j in 0..n {
                want[r * ld + j] += init[r * ld + j];
            }
        }
    }
    // Σ_i |w[j, i]| per output j, the scale of both error bounds: W·I gives the dense weight.
    let probe = Linear::half(weight, k, n, None).unwrap();
    let identity: Vec<f32> = (0..k * k)
        .map(|i| f32::from(u8::from(i % (k + 1) == 0)))
        .collect();
    let mut dense_t = vec![0.0; k * n];
    linear_ref(
        &probe,
        MatRef::new(&identity, k, k).unwrap(),
        MatMut::new(&mut dense_t, k, n).unwrap(),
    )
    .unwrap();
    let sums: Vec<f32> = (0..n)
        .map(|j| (0..k).map(|i| dense_t[i * n + j].abs()).sum())
        .collect();
    for precision in [ActivationPrecision::F32, ActivationPrecision::Quantized] {
        let got = run(
            &layer.with_activations(precision),
            &x,
            rows,
            ld,
            &init,
            accumulate,
        );
        for r in 0..rows {
            let amax = x[r * k..(r + 1) * k]
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            for j in n..ld {
                assert_eq!(
                    got[r * ld + j],
                    init[r * ld + j],
                    "column {j} past the output was written"
                );
            }
            // Per output, the size its error is measured against.
            let (scale, tol): (Vec<f32>, f64) = match precision {
                ActivationPrecision::F32 => (sums.iter().map(|s| s + 1.0).collect(), F32_PATH_TOL),
                ActivationPrecision::Quantized => (
                    sums.iter()
                        .map(|s| s * amax / 254.0 + 1e-5 / Q8_ACT_SLACK as f32)
                        .collect(),
                    Q8_ACT_SLACK,
                ),
            };
            let row = r * ld..r * ld + n;
            max_scaled_diff(&got[row.clone()], &want[row], &scale)
                .assert_within(tol, &format!("{precision:?} row {r}"));
        }
    }
}

#[test]
fn quantized_linear_matches_the_dequantized_reference() {
    for path in available_paths() {
        with_path(path, || {
            for &(rows, k, n) in &[
                (1, 32, 1),
                (1, 64, 17),
                (3, 96, 33),
                (17, 128, 64),
                (5, 64, 65),
            ] {
                let w = weights(n, k, (rows * k + n) as u64);
                for (ld, accumulate) in [(n, false), (n + 3, false), (n, true), (n + 5, true)] {
                    check(
                        WeightData::quantized(&w.q8_0).unwrap(),
                        rows,
                        k,
                        n,
                        ld,
                        accumulate,
                    );
                    check(
                        WeightData::quantized(&w.q4_0).unwrap(),
                        rows,
                        k,
                        n,
                        ld,
                        accumulate,
                    );
                    check(
                        WeightData::quantized(&w.q4_1).unwrap(),
                        rows,
                        k,
                        n,
                        ld,
                        accumulate,
                    );
                }
            }
        })
        .unwrap();
    }
}

#[test]
fn quantized_layers_reject_partial_blocks_and_wrong_lengths() {
    let w = weights(4, 64, 1);
    assert!(
        Linear::half(WeightData::quantized(&w.q8_0).unwrap(), 48, 4, None).is_err(),
        "48 is not whole blocks"
    );
    assert!(
        Linear::half(WeightData::quantized(&w.q8_0).unwrap(), 64, 5, None).is_err(),
        "5 rows of 64 is too many"
    );
    let layer = Linear::half(WeightData::quantized(&w.q4_1).unwrap(), 64, 4, None).unwrap();
    let (x, mut y) = (vec![0.0; 2 * 64], vec![0.0; 2 * 4]);
    let mut short = vec![0.0; layer.scratch_len(2) - 1];
    let err = linear(
        &layer,
        MatRef::new(&x, 2, 64).unwrap(),
        MatMut::new(&mut y, 2, 4).unwrap(),
        &mut short,
    );
    assert!(err.is_err());
}

#[test]
fn quantized_embedding_rows_are_dequantized() {
    let (vocab, c) = (5, 64);
    let w = weights(vocab, c, 9);
    let mut out = vec![0.0; 2 * c];
    embed(
        WeightData::quantized(&w.q8_0).unwrap(),
        None,
        &[4, 1],
        0,
        MatMut::new(&mut out, 2, c).unwrap(),
    )
    .unwrap();
    let mut want = vec![0.0; c];
    dequantize::<BlockQ8_0>(&w.q8_0[4 * 2..5 * 2], &mut want).unwrap();
    assert_eq!(&out[..c], &want[..]);
    let mut bad = vec![0.0; 48];
    assert!(
        embed(
            WeightData::quantized(&w.q8_0).unwrap(),
            None,
            &[0],
            0,
            MatMut::new(&mut bad, 1, 48).unwrap()
        )
        .is_err()
    );
}
