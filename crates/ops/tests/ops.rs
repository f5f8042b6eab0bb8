//! Ops against their scalar twins: linear (both layouts, strided views,
//! accumulate) and attention (MHA, GQA, MQA; prefill across several query
//! tiles, continuation after a cached prefix, decode), on every SIMD path.

mod common;

use common::values;
use smallmind_testkit::max_abs_diff;

use proptest::prelude::*;
use smallmind_kernels::{available_paths, with_path};
use smallmind_ops::attention::{attention, attention_ref, write_kv};
use smallmind_ops::linear::{linear, linear_accumulate, linear_ref};
use smallmind_ops::{
    AttentionScratch, AttentionShape, KvCacheLayer, KvCacheRef, Linear, MatMut, MatRef,
    WeightLayout,
};

/// Linear vs its f64 twin, relative to the output scale `max(1, max |want|)`.
/// Measured 7.3e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-ops --test ops -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const LINEAR_TOL: f64 = 1.5e-6;
/// Attention vs its f64 twin, absolute (outputs are convex mixes of values in [-1, 1]).
/// Measured 1.5e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-ops --test ops -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const ATTENTION_TOL: f64 = 3e-7;
/// A linear written into a strided view of a fused output vs its twin alone, absolute.
/// Measured 2.4e-7 (every path: v4, v3, scalar; `cargo test -p smallmind-ops --test ops -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const FUSED_VIEW_TOL: f64 = 5e-7;

fn for_each_path(f: impl Fn()) {
    for path in available_paths() {
        with_path(path, &f).unwrap();
    }
}

fn check_linear(t: usize, inf: usize, outf: usize, layout: WeightLayout, bias: bool, seed: u64) {
    let w = values(inf * outf, seed);
    let b = values(outf, seed + 1);
    let x = values(t * inf, seed + 2);
    let layer = Linear::new(&w, layout, inf, outf, bias.then_some(&b[..])).unwrap();
    let mut want = vec![0.0; t * outf];
    linear_ref(
        &layer,
        MatRef::new(&x, t, inf).unwrap(),
        MatMut::new(&mut want, t, outf).unwrap(),
    )
    .unwrap();
    let scale = want.iter().fold(1f64, |m, v| m.max(f64::from(v.abs())));
    for_each_path(|| {
        let mut got = vec![f32::NAN; t * outf];
        linear(
            &layer,
            MatRef::new(&x, t, inf).unwrap(),
            MatMut::new(&mut got, t, outf).unwrap(),
            &mut [],
        )
        .unwrap();
        max_abs_diff(&got, &want).assert_within(
            LINEAR_TOL * scale,
            &format!("linear {t}x{inf}->{outf} {layout:?}"),
        );
        // Accumulating onto the same output doubles it.
        linear_accumulate(
            &layer,
            MatRef::new(&x, t, inf).unwrap(),
            MatMut::new(&mut got, t, outf).unwrap(),
            &mut [],
        )
        .unwrap();
        let doubled: Vec<f32> = want.iter().map(|v| 2.0 * v).collect();
        max_abs_diff(&got, &doubled).assert_within(2.0 * LINEAR_TOL * scale, "accumulated");
    });
}

#[test]
fn linear_matches_reference_on_edge_shapes() {
    for (t, inf, outf) in [
        (1, 1, 1),
        (1, 17, 33),
        (3, 64, 64),
        (7, 65, 129),
        (130, 96, 40),
        (1, 576, 1536),
    ] {
        for layout in [WeightLayout::OutIn, WeightLayout::InOut] {
            for bias in [false, true] {
                check_linear(t, inf, outf, layout, bias, (t * 31 + inf + outf) as u64);
            }
        }
    }
}

/// 16-bit weights read in place: one row (GEMV) and several rows (widened
/// blocks + GEMM, more than one block), overwrite and accumulate.
#[test]
fn half_weight_linear_matches_reference() {
    use smallmind_ops::WeightData;
    use smallmind_ops::linear::HALF_BLOCK_ROWS;
    let (inf, outf) = (96, HALF_BLOCK_ROWS + 37);
    let w = values(inf * outf, 3);
    let wb: Vec<half::bf16> = w.iter().map(|&v| half::bf16::from_f32(v)).collect();
    let wh: Vec<half::f16> = w.iter().map(|&v| half::f16::from_f32(v)).collect();
    let b = values(outf, 4);
    for data in [WeightData::Bf16(&wb), WeightData::F16(&wh)] {
        let layer = Linear::half(data, inf, outf, Some(&b)).unwrap();
        for t in [1, 3, 70] {
            let x = values(t * inf, t as u64);
            let mut want = vec![0.0; t * outf];
            let xr = MatRef::new(&x, t, inf).unwrap();
            linear_ref(&layer, xr, MatMut::new(&mut want, t, outf).unwrap()).unwrap();
            let scale = want.iter().fold(1f64, |m, v| m.max(f64::from(v.abs())));
            let mut scratch = vec![0.0; layer.scratch_len(t)];
            for_each_path(|| {
                let mut got = vec![f32::NAN; t * outf];
                let mut scratch = scratch.clone();
                linear(
                    &layer,
                    xr,
                    MatMut::new(&mut got, t, outf).unwrap(),
                    &mut scratch,
                )
                .unwrap();
                max_abs_diff(&got, &want)
                    .assert_within(LINEAR_TOL * scale, &format!("{data:?} t={t}"));
                linear_accumulate(
                    &layer,
                    xr,
                    MatMut::new(&mut got, t, outf).unwrap(),
                    &mut scratch,
                )
                .unwrap();
                let doubled: Vec<f32> = want.iter().map(|v| 2.0 * v).collect();
                max_abs_diff(&got, &doubled).assert_within(2.0 * LINEAR_TOL * scale, "accumulated");
            });
            // Too little scratch is an error, not a panic.
            scratch.truncate(layer.scratch_len(t) - 1);
            let mut y = vec![0.0; t * outf];
            assert!(
                linear(
                    &layer,
                    xr,
                    MatMut::new(&mut y, t, outf).unwrap(),
                    &mut scratch
                )
                .is_err()
            );
        }
    }
}

#[test]
fn linear_writes_a_strided_column_block() {
    // Three layers writing the q|k|v column blocks of one (T, 24) buffer.
    let (t, c, width) = (5, 8, 24);
    let x = values(t * c, 7);
    let mut fused = vec![0.0; t * width];
    let mut separate = Vec::new();
    for (i, start) in [0, 8, 16].into_iter().enumerate() {
        let w = values(8 * c, 10 + i as u64);
        let layer = Linear::new(&w, WeightLayout::OutIn, c, 8, None).unwrap();
        let view = MatMut::strided(&mut fused[start..], t, 8, width).unwrap();
        linear(&layer, MatRef::new(&x, t, c).unwrap(), view, &mut []).unwrap();
        let mut alone = vec![0.0; t * 8];
        linear_ref(
            &layer,
            MatRef::new(&x, t, c).unwrap(),
            MatMut::new(&mut alone, t, 8).unwrap(),
        )
        .unwrap();
        separate.push(alone);
    }
    for r in 0..t {
        for (i, alone) in separate.iter().enumerate() {
            let got = &fused[r * width + 8 * i..r * width + 8 * i + 8];
            max_abs_diff(got, &alone[r * 8..r * 8 + 8])
                .assert_within(FUSED_VIEW_TOL, &format!("row {r} part {i}"));
        }
    }
}

#[test]
fn linear_rejects_mismatched_shapes() {
    let w = vec![0.0; 12];
    assert!(Linear::new(&w, WeightLayout::OutIn, 4, 4, None).is_err());
    let layer = Linear::new(&w, WeightLayout::OutIn, 4, 3, None).unwrap();
    let x = vec![0.0; 8];
    let mut y = vec![0.0; 8];
    let err = linear(
        &layer,
        MatRef::new(&x, 2, 4).unwrap(),
        MatMut::new(&mut y, 2, 4).unwrap(),
        &mut [],
    );
    assert!(err.is_err());
}

/// Runs `t` new tokens after `pos0` cached ones through both attentions.
fn check_attention(h: usize, hkv: usize, d: usize, pos0: usize, t: usize, seed: u64) {
    check_attention_window(h, hkv, d, pos0, t, seed, None);
}

/// As [`check_attention`], with a sliding window.
fn check_attention_window(
    h: usize,
    hkv: usize,
    d: usize,
    pos0: usize,
    t: usize,
    seed: u64,
    window: Option<usize>,
) {
    let mut shape = AttentionShape::new(h, hkv, d).unwrap();
    shape.window = window;
    let capacity = pos0 + t + 3;
    let total = pos0 + t;
    let keys_rows = values(total * shape.kv_dim(), seed);
    let values_rows = values(total * shape.kv_dim(), seed + 1);
    let q = values(t * shape.q_dim(), seed + 2);
    let mut kc = vec![0.0; shape.cache_len(capacity)];
    let mut vc = vec![0.0; shape.cache_len(capacity)];
    let mut layer = KvCacheLayer {
        keys: &mut kc,
        values: &mut vc,
        capacity,
    };
    write_kv(
        &shape,
        MatRef::new(&keys_rows, total, shape.kv_dim()).unwrap(),
        MatRef::new(&values_rows, total, shape.kv_dim()).unwrap(),
        0,
        &mut layer,
    )
    .unwrap();
    let cache = KvCacheRef {
        keys: &kc,
        values: &vc,
        capacity,
    };
    let qd = shape.q_dim();
    let mut want = vec![0.0; t * qd];
    attention_ref(
        &shape,
        MatRef::new(&q, t, qd).unwrap(),
        pos0,
        cache,
        MatMut::new(&mut want, t, qd).unwrap(),
    )
    .unwrap();
    for_each_path(|| {
        let mut scores = vec![f32::NAN; shape.scores_len(t, capacity)];
        let mut head_out = vec![f32::NAN; shape.head_out_len(t)];
        let mut got = vec![f32::NAN; t * qd];
        let scratch = AttentionScratch {
            scores: &mut scores,
            head_out: &mut head_out,
        };
        attention(
            &shape,
            MatRef::new(&q, t, qd).unwrap(),
            pos0,
            cache,
            scratch,
            MatMut::new(&mut got, t, qd).unwrap(),
        )
        .unwrap();
        max_abs_diff(&got, &want).assert_within(
            ATTENTION_TOL,
            &format!("attention H{h} Hkv{hkv} D{d} pos0 {pos0} T {t} window {window:?}"),
        );
    });
}

#[test]
fn windowed_attention_matches_reference() {
    for (h, hkv, d) in [(4, 2, 16), (4, 1, 32)] {
        for window in [1, 3, 8, 64] {
            for (pos0, t) in [
                (0, 1),
                (0, 7),
                (5, 1),
                (0, 65),
                (3, 130),
                (100, 1),
                (40, 17),
            ] {
                let seed = (h * 100 + pos0 * 7 + t + window) as u64;
                check_attention_window(h, hkv, d, pos0, t, seed, Some(window));
            }
        }
    }
}

/// The reference's window is the one transformers masks with: the query at
/// `p` sees keys `p − window < j ≤ p`. Checked against plain causal
/// attention over a cache that holds only those keys.
#[test]
fn a_window_sees_exactly_its_last_keys() {
    let (h, hkv, d, window, p) = (2, 1, 8, 5, 20);
    let mut shape = AttentionShape::new(h, hkv, d).unwrap();
    let kv = shape.kv_dim();
    let keys = values((p + 1) * kv, 11);
    let vals = values((p + 1) * kv, 12);
    let q = values(shape.q_dim(), 13);
    let run = |shape: &AttentionShape, keys: &[f32], vals: &[f32], pos: usize| {
        let n = keys.len() / kv;
        let (mut kc, mut vc) = (vec![0.0; shape.cache_len(n)], vec![0.0; shape.cache_len(n)]);
        let mut layer = KvCacheLayer {
            keys: &mut kc,
            values: &mut vc,
            capacity: n,
        };
        let rows = |x| MatRef::new(x, n, kv).unwrap();
        write_kv(shape, rows(keys), rows(vals), 0, &mut layer).unwrap();
        let cache = KvCacheRef {
            keys: &kc,
            values: &vc,
            capacity: n,
        };
        let mut out = vec![0.0; shape.q_dim()];
        let qd = shape.q_dim();
        let out_view = MatMut::new(&mut out, 1, qd).unwrap();
        attention_ref(shape, MatRef::new(&q, 1, qd).unwrap(), pos, cache, out_view).unwrap();
        out
    };
    let plain = AttentionShape::new(h, hkv, d).unwrap();
    let tail = (p + 1 - window) * kv..;
    let want = run(&plain, &keys[tail.clone()], &vals[tail], window - 1);
    shape.window = Some(window);
    let got = run(&shape, &keys, &vals, p);
    assert_eq!(got, want);
    let all = run(&plain, &keys, &vals, p);
    assert_ne!(all, want, "the window must change the result");
}

#[test]
fn attention_matches_reference() {
    for (h, hkv, d) in [(4, 4, 16), (4, 2, 16), (9, 3, 64), (6, 1, 32)] {
        for (pos0, t) in [
            (0, 1),
            (0, 7),
            (5, 1),
            (0, 64),
            (0, 65),
            (3, 130),
            (100, 1),
            (40, 17),
        ] {
            check_attention(h, hkv, d, pos0, t, (h * 100 + pos0 * 7 + t) as u64);
        }
    }
}

#[test]
fn attention_rejects_bad_geometry() {
    assert!(AttentionShape::new(4, 3, 16).is_err());
    assert!(AttentionShape::new(0, 1, 16).is_err());
    let shape = AttentionShape::new(2, 1, 4).unwrap();
    let kc = vec![0.0; shape.cache_len(4)];
    let q = vec![0.0; 8];
    let mut out = vec![0.0; 8];
    let (mut scores, mut head_out) = (vec![0.0; 64], vec![0.0; 64]);
    // Five positions do not fit a cache of four.
    let err = attention(
        &shape,
        MatRef::new(&q, 1, 8).unwrap(),
        4,
        KvCacheRef {
            keys: &kc,
            values: &kc,
            capacity: 4,
        },
        AttentionScratch {
            scores: &mut scores,
            head_out: &mut head_out,
        },
        MatMut::new(&mut out, 1, 8).unwrap(),
    );
    assert!(err.is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn attention_matches_reference_on_random_shapes(
        hkv in 1usize..4, group in 1usize..4, half_d in 1usize..20, pos0 in 0usize..40, t in 1usize..80, seed in 0u64..1000,
    ) {
        check_attention(hkv * group, hkv, 2 * half_d, pos0, t, seed);
    }

    #[test]
    fn linear_matches_reference_on_random_shapes(
        t in 1usize..40, inf in 1usize..100, outf in 1usize..100, out_in in any::<bool>(), bias in any::<bool>(), seed in 0u64..1000,
    ) {
        let layout = if out_in { WeightLayout::OutIn } else { WeightLayout::InOut };
        check_linear(t, inf, outf, layout, bias, seed);
    }
}
