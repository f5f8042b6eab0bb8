//! `linear_many` (decode's q|k|v and gate|up in one region) and
//! `linear_columns` (q|k|v side by side in one matrix) give the bits of
//! one `linear` per layer: for f32, quantized (both activation precisions),
//! mixed and 16-bit groups, one row and several, on every SIMD path, on teams
//! of 1 to 3 workers and with every forced split from one part to one per row.

mod common;

use common::values;
use smallmind_kernels::gemv_half::bf16;
use smallmind_kernels::parallel::with_parts;
use smallmind_kernels::quant::{BlockQ4_0, BlockQ8_0, quantize};
use smallmind_kernels::{Team, available_paths, with_path};
use smallmind_ops::linear::{linear, linear_columns, linear_many};
use smallmind_ops::{ActivationPrecision, Linear, MatMut, MatRef, WeightData, WeightLayout};

/// Input features: whole 32-value blocks.
const K: usize = 64;
/// Output rows of the three layers: q-like, and two small k/v-like ones that
/// are not multiples of the quantized tile height.
const OUTS: [usize; 3] = [40, 13, 11];

/// How a group of layers is run.
#[derive(Clone, Copy, Debug)]
enum How {
    /// One `linear` per layer.
    EachLinear,
    /// `linear_many` into one matrix per layer.
    Many,
    /// `linear_columns` into one matrix, side by side.
    Columns,
}

/// Outputs of `layers` on `x` (`rows` rows), one matrix per layer.
fn outputs(layers: [&Linear<'_>; 3], x: &[f32], rows: usize, how: How) -> Vec<Vec<f32>> {
    let mut ys: Vec<Vec<f32>> = OUTS.iter().map(|&n| vec![0.0; rows * n]).collect();
    let scratch_len = layers.iter().map(|l| l.scratch_len(rows)).max().unwrap();
    let mut scratch = vec![0.0; scratch_len];
    let xv = MatRef::new(x, rows, K).unwrap();
    if let How::Columns = how {
        let width: usize = OUTS.iter().sum();
        let mut y = vec![f32::NAN; rows * width];
        linear_columns(
            layers,
            xv,
            MatMut::new(&mut y, rows, width).unwrap(),
            &mut scratch,
        )
        .unwrap();
        let mut start = 0;
        for (out, n) in ys.iter_mut().zip(OUTS) {
            for (r, row) in out.chunks_exact_mut(n).enumerate() {
                row.copy_from_slice(&y[r * width + start..][..n]);
            }
            start += n;
        }
        return ys;
    }
    let [a, b, c] = &mut ys[..] else {
        unreachable!()
    };
    let views = [(a, OUTS[0]), (b, OUTS[1]), (c, OUTS[2])]
        .map(|(y, n)| MatMut::new(y.as_mut_slice(), rows, n).unwrap());
    if let How::Many = how {
        linear_many(layers, xv, views, &mut scratch).unwrap();
    } else {
        for (layer, y) in layers.into_iter().zip(views) {
            linear(layer, xv, y, &mut scratch).unwrap();
        }
    }
    ys
}

fn bits(ys: &[Vec<f32>]) -> Vec<Vec<u32>> {
    ys.iter()
        .map(|y| y.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn linear_many_gives_the_bits_of_one_linear_per_layer() {
    let w: Vec<Vec<f32>> = OUTS
        .iter()
        .enumerate()
        .map(|(i, &n)| values(n * K, 10 + i as u64))
        .collect();
    let q4: Vec<Vec<BlockQ4_0>> = w
        .iter()
        .map(|w| {
            let mut b = vec![BlockQ4_0::default(); w.len() / 32];
            quantize(w, &mut b).unwrap();
            b
        })
        .collect();
    let q8: Vec<BlockQ8_0> = {
        let mut b = vec![BlockQ8_0::default(); w[2].len() / 32];
        quantize(&w[2], &mut b).unwrap();
        b
    };
    let halfs: Vec<Vec<bf16>> = w
        .iter()
        .map(|w| w.iter().map(|&v| bf16::from_f32(v)).collect())
        .collect();
    let f32s: Vec<Linear<'_>> = (0..3)
        .map(|i| Linear::new(&w[i], WeightLayout::OutIn, K, OUTS[i], None).unwrap())
        .collect();
    let quant = |i: usize, act| {
        Linear::half(WeightData::quantized(&q4[i]).unwrap(), K, OUTS[i], None)
            .unwrap()
            .with_activations(act)
    };
    let (qa, qf) = (ActivationPrecision::Quantized, ActivationPrecision::F32);
    let q4_q: Vec<Linear<'_>> = (0..3).map(|i| quant(i, qa)).collect();
    let q4_f: Vec<Linear<'_>> = (0..3).map(|i| quant(i, qf)).collect();
    // Two formats: one region with f32 activations, one linear each with Q8.
    let q8_layer = |act| {
        Linear::half(WeightData::quantized(&q8).unwrap(), K, OUTS[2], None)
            .unwrap()
            .with_activations(act)
    };
    let mixed_f = [q4_f[0], q4_f[1], q8_layer(qf)];
    let mixed_q = [q4_q[0], q4_q[1], q8_layer(qa)];
    let bf: Vec<Linear<'_>> = (0..3)
        .map(|i| Linear::half(WeightData::Bf16(&halfs[i]), K, OUTS[i], None).unwrap())
        .collect();
    let groups: [(&str, [&Linear<'_>; 3]); 6] = [
        ("f32", [&f32s[0], &f32s[1], &f32s[2]]),
        ("q4_0 q8 acts", [&q4_q[0], &q4_q[1], &q4_q[2]]),
        ("q4_0 f32 acts", [&q4_f[0], &q4_f[1], &q4_f[2]]),
        (
            "q4_0+q8_0 f32 acts",
            [&mixed_f[0], &mixed_f[1], &mixed_f[2]],
        ),
        ("q4_0+q8_0 q8 acts", [&mixed_q[0], &mixed_q[1], &mixed_q[2]]),
        ("bf16", [&bf[0], &bf[1], &bf[2]]),
    ];
    let teams: Vec<Team> = (1..=3).map(|n| Team::new(n, "many").unwrap()).collect();
    for path in available_paths() {
        with_path(path, || {
            for rows in [1, 3, 9] {
                let x = values(rows * K, 7);
                for (name, layers) in groups {
                    let want = bits(&outputs(layers, &x, rows, How::EachLinear));
                    assert!(
                        want.iter()
                            .flatten()
                            .all(|b| f32::from_bits(*b).is_finite())
                    );
                    for parts in 1..=OUTS.iter().sum() {
                        for (team, how) in teams
                            .iter()
                            .flat_map(|t| [(t, How::Many), (t, How::Columns)])
                        {
                            let got = team
                                .install(|| with_parts(parts, || outputs(layers, &x, rows, how)));
                            assert_eq!(
                                bits(&got),
                                want,
                                "{path} {name} {how:?}, {rows} rows, {parts} parts, {} workers",
                                team.workers()
                            );
                        }
                    }
                }
            }
        })
        .unwrap();
    }
}
