//! `attention_decode` against its f64 oracle on every SIMD path, against the
//! per-head GEMV form it replaces (the same bits), across every split of its
//! key/value heads, and on bad arguments.

mod common;

use common::{Rng, for_each_path};
use smallmind_kernels::attention::{DecodeAttention, attention_decode, attention_decode_ref};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::parallel::with_parts;
use smallmind_kernels::softmax::softmax_row_inplace;
use smallmind_kernels::{KernelError, Team};
use smallmind_testkit::max_abs_diff;

/// Outputs and probabilities against the f64 oracle: measured at most 1.2e-7
/// on every path (values and queries in [-1, 1)); about twice that.
const TOL: f64 = 2.5e-7;

/// A cache of `kv_heads` heads of `capacity` rows, `q` for `kv_heads·group`
/// query heads, and a geometry attending to `keys`.
struct Case {
    a: DecodeAttention,
    q: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl Case {
    fn new(kv_heads: usize, group: usize, d: usize, keys: std::ops::Range<usize>) -> Case {
        let capacity = keys.end + 3;
        let mut rng = Rng::new((kv_heads * 1000 + group * 100 + d + keys.end) as u64);
        let a = DecodeAttention {
            kv_heads,
            group,
            head_dim: d,
            scale: 1.0 / (d as f32).sqrt(),
            kv_stride: capacity * d,
            keys,
        };
        Case {
            q: rng.vec(a.heads() * d, 1.0),
            keys: rng.vec(kv_heads * capacity * d, 1.0),
            values: rng.vec(kv_heads * capacity * d, 1.0),
            a,
        }
    }

    /// `(out, probabilities)` of the kernel under test.
    fn run(&self) -> (Vec<f32>, Vec<f32>) {
        let mut scores = vec![f32::NAN; self.a.heads() * self.a.len() + 5];
        let mut out = vec![f32::NAN; self.a.heads() * self.a.head_dim];
        attention_decode(
            &self.a,
            &self.q,
            &self.keys,
            &self.values,
            &mut scores,
            &mut out,
        )
        .unwrap();
        scores.truncate(self.a.heads() * self.a.len());
        (out, scores)
    }

    fn oracle(&self) -> (Vec<f32>, Vec<f32>) {
        let mut scores = vec![f32::NAN; self.a.heads() * self.a.len()];
        let mut out = vec![f32::NAN; self.a.heads() * self.a.head_dim];
        attention_decode_ref(
            &self.a,
            &self.q,
            &self.keys,
            &self.values,
            &mut scores,
            &mut out,
        )
        .unwrap();
        (out, scores)
    }

    /// The per-head form: for each query head, a GEMV of scores, a softmax
    /// and a GEMV over the values.
    fn per_head(&self) -> Vec<f32> {
        let a = &self.a;
        let (d, n) = (a.head_dim, a.len());
        let mut out = vec![f32::NAN; a.heads() * d];
        let mut s = vec![0.0; n];
        for h in 0..a.heads() {
            let start = (h / a.group) * a.kv_stride + a.keys.start * d;
            let rows = start..start + n * d;
            let qk = Gemm::new(1, n, d).transpose_b().alpha(a.scale).ldb(d);
            gemm(
                &qk,
                &self.q[h * d..(h + 1) * d],
                &self.keys[rows.clone()],
                &mut s,
            )
            .unwrap();
            softmax_row_inplace(&mut s, n).unwrap();
            let pv = Gemm::new(1, d, n);
            gemm(&pv, &s, &self.values[rows], &mut out[h * d..(h + 1) * d]).unwrap();
        }
        out
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (kv_heads, group) in [(1, 1), (1, 4), (3, 3), (2, 1), (4, 2)] {
        for d in [1, 7, 16, 64, 80] {
            for keys in [0..1, 0..9, 5..70, 0..33] {
                cases.push(Case::new(kv_heads, group, d, keys));
            }
        }
    }
    cases
}

#[test]
fn attention_decode_matches_its_f64_oracle_on_every_path() {
    let cases = cases();
    for_each_path(|path| {
        let mut worst = 0.0f64;
        for case in &cases {
            let (out, probs) = case.run();
            let (want_out, want_probs) = case.oracle();
            let err = max_abs_diff(&out, &want_out)
                .error
                .max(max_abs_diff(&probs, &want_probs).error);
            assert!(err <= TOL, "{path:?} {:?}: {err:e}", case.a);
            worst = worst.max(err);
        }
        eprintln!("attention_decode {path:?}: worst {worst:e} (tolerance {TOL:e})");
    });
}

#[test]
fn attention_decode_gives_the_bits_of_the_per_head_gemvs_for_vector_wide_heads() {
    for_each_path(|path| {
        for case in cases().iter().filter(|c| c.a.head_dim % 16 == 0) {
            let (out, _) = case.run();
            let want = case.per_head();
            let same = out
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{path:?} {:?}", case.a);
        }
    });
}

#[test]
fn every_split_of_the_key_value_heads_gives_the_serial_bits() {
    let teams: Vec<Team> = (1..=3).map(|w| Team::new(w, "attn").unwrap()).collect();
    for_each_path(|path| {
        for case in cases() {
            let serial = teams[0].install(|| with_parts(1, || case.run()));
            for team in &teams {
                for parts in 1..=case.a.kv_heads {
                    let split = team.install(|| with_parts(parts, || case.run()));
                    assert_eq!(
                        bits(&split.0),
                        bits(&serial.0),
                        "{path:?} {} workers, {parts} parts, {:?}",
                        team.workers(),
                        case.a
                    );
                }
            }
            let rayon = with_parts(case.a.kv_heads, || case.run());
            assert_eq!(
                bits(&rayon.0),
                bits(&serial.0),
                "{path:?} rayon {:?}",
                case.a
            );
        }
    });
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn no_keys_gives_a_zero_output() {
    let case = Case::new(2, 2, 8, 4..4);
    let (out, _) = case.run();
    assert!(out.iter().all(|&x| x == 0.0), "{out:?}");
}

#[test]
fn bad_arguments_are_named() {
    let case = Case::new(2, 2, 8, 0..5);
    let mut scores = vec![0.0; 20];
    let mut out = vec![0.0; 32];
    let call =
        |a: &DecodeAttention, q: &[f32], keys: &[f32], scores: &mut [f32], out: &mut [f32]| {
            attention_decode(a, q, keys, &case.values, scores, out)
        };
    let short_q = call(&case.a, &case.q[1..], &case.keys, &mut scores, &mut out);
    assert!(
        matches!(
            short_q,
            Err(KernelError::LengthMismatch { operand: "q", .. })
        ),
        "{short_q:?}"
    );
    let short_scores = call(&case.a, &case.q, &case.keys, &mut scores[..19], &mut out);
    assert!(
        matches!(
            short_scores,
            Err(KernelError::BufferTooSmall {
                operand: "scores",
                ..
            })
        ),
        "{short_scores:?}"
    );
    let short_keys = call(&case.a, &case.q, &case.keys[..10], &mut scores, &mut out);
    assert!(
        matches!(
            short_keys,
            Err(KernelError::BufferTooSmall {
                operand: "keys",
                ..
            })
        ),
        "{short_keys:?}"
    );
    let past_stride = DecodeAttention {
        keys: 0..9,
        ..case.a.clone()
    };
    let err = call(&past_stride, &case.q, &case.keys, &mut [0.0; 40], &mut out);
    assert!(
        matches!(
            err,
            Err(KernelError::InvalidDimension {
                dim: "keys.end",
                ..
            })
        ),
        "{err:?}"
    );
    let no_width = DecodeAttention {
        head_dim: 0,
        ..case.a.clone()
    };
    let err = call(&no_width, &[], &case.keys, &mut scores, &mut []);
    assert!(
        matches!(
            err,
            Err(KernelError::InvalidDimension {
                dim: "head_dim",
                ..
            })
        ),
        "{err:?}"
    );
}
