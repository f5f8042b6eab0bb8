//! Causal grouped-query attention over a KV cache against torch's
//! `scaled_dot_product_attention` (`fixtures/oracle/attention.safetensors`, written by
//! `scripts/fixtures/make_oracles.py`: f64 SDPA with `is_causal`, query head `h` reading
//! key/value head `h / (H/Hkv)` as transformers' `repeat_kv` does). Each case runs as one
//! prefill, as a prefill of the first part then the rest (a cached prefix), and one token at a
//! time (decode), on every SIMD path.

use safetensors::{Dtype, SafeTensors};
use smallmind_kernels::{available_paths, with_path};
use smallmind_ops::attention::{attention, write_kv};
use smallmind_ops::{AttentionScratch, AttentionShape, KvCacheLayer, KvCacheRef, MatMut, MatRef};
use smallmind_testkit::{fixture, max_abs_diff};

/// Attention output (convex mixes of N(0, 1) values) against torch's f64 SDPA rounded to f32,
/// absolute: twice the worst measured over every case, split and SIMD path (5.1e-7, scalar
/// prefill of `(6, 1, 32, 9)`; x86-64 V4/V3/scalar, `cargo test -p smallmind-ops --test oracle`).
const ATTENTION_ABS_TOL: f64 = 1e-6;

/// `(H, Hkv, D, T)` of each case, as named in the file.
const CASES: [(usize, usize, usize, usize); 4] = [
    (4, 2, 16, 70),
    (6, 1, 32, 9),
    (4, 4, 64, 5),
    (4, 1, 128, 12),
];

struct Case {
    shape: AttentionShape,
    t: usize,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    want: Vec<f32>,
}

fn read_case(st: &SafeTensors<'_>, (h, hkv, d, t): (usize, usize, usize, usize)) -> Case {
    let name = format!("h{h}_kv{hkv}_d{d}_t{t}");
    let f32s = |part: &str| -> Vec<f32> {
        let view = st
            .tensor(&format!("{name}_{part}"))
            .unwrap_or_else(|e| panic!("{name}_{part}: {e}"));
        assert_eq!(view.dtype(), Dtype::F32);
        smallmind_testkit::pod_vec(view.data())
    };
    Case {
        shape: AttentionShape::new(h, hkv, d).unwrap(),
        t,
        q: f32s("q"),
        k: f32s("k"),
        v: f32s("v"),
        want: f32s("out"),
    }
}

/// Feeds the case's tokens in chunks of the given sizes (each chunk: write its keys and values,
/// then attend with its queries) and returns the `(T, H·D)` output.
fn run_in_chunks(c: &Case, chunks: &[usize]) -> Vec<f32> {
    let (qd, kvd) = (c.shape.q_dim(), c.shape.kv_dim());
    let capacity = c.t + 3;
    let mut keys = vec![f32::NAN; c.shape.cache_len(capacity)];
    let mut values = vec![f32::NAN; c.shape.cache_len(capacity)];
    let mut out = vec![f32::NAN; c.t * qd];
    let mut pos0 = 0;
    for &len in chunks {
        let rows = pos0..pos0 + len;
        let mut layer = KvCacheLayer {
            keys: &mut keys,
            values: &mut values,
            capacity,
        };
        write_kv(
            &c.shape,
            MatRef::new(&c.k[rows.start * kvd..rows.end * kvd], len, kvd).unwrap(),
            MatRef::new(&c.v[rows.start * kvd..rows.end * kvd], len, kvd).unwrap(),
            pos0,
            &mut layer,
        )
        .unwrap();
        let mut scores = vec![f32::NAN; c.shape.scores_len(len, capacity)];
        let mut head_out = vec![f32::NAN; c.shape.head_out_len(len)];
        attention(
            &c.shape,
            MatRef::new(&c.q[rows.start * qd..rows.end * qd], len, qd).unwrap(),
            pos0,
            KvCacheRef {
                keys: &keys,
                values: &values,
                capacity,
            },
            AttentionScratch {
                scores: &mut scores,
                head_out: &mut head_out,
            },
            MatMut::new(&mut out[rows.start * qd..rows.end * qd], len, qd).unwrap(),
        )
        .unwrap();
        pos0 += len;
    }
    out
}

#[test]
fn attention_matches_torch_sdpa() {
    let path = fixture("oracle/attention.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for dims in CASES {
        let c = read_case(&st, dims);
        let first = (c.t / 2).saturating_sub(2).max(1);
        let splits = [
            ("prefill", vec![c.t]),
            ("prefix + rest", vec![first, c.t - first]),
            ("decode", vec![1; c.t]),
        ];
        for path in available_paths() {
            with_path(path, || {
                for (how, chunks) in &splits {
                    let got = run_in_chunks(&c, chunks);
                    max_abs_diff(&got, &c.want)
                        .assert_within(ATTENTION_ABS_TOL, &format!("{dims:?} {how} {path:?}"));
                }
            })
            .unwrap();
        }
    }
}
