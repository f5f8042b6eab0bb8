//! Batched decoding on the tiny Llama GGUF fixtures: a sequence's tokens are the same decoded
//! alone or among 7 others (batch invariance), greedy and seeded, on the quantized (Q8_0) and
//! the f32 paths; a batched row's logits match the session's own decode; bad batches are
//! errors that change nothing.

use std::sync::Arc;

use smallmind_kernels::Team;
use smallmind_model::sampler::{Sampler, SamplerConfig};
use smallmind_model::{BatchDecoder, Model, ModelError, Session, SessionOptions, gguf};
use smallmind_testkit::{fixture, max_abs_diff};

const SEQUENCES: usize = 8;
const STEPS: usize = 24;

fn model(file: &str) -> Arc<Model> {
    Arc::new(gguf::load_gguf(fixture(&format!("tiny-llama-gguf/{file}"))).unwrap())
}

fn options() -> SessionOptions {
    SessionOptions {
        threads: Some(1),
        capacity: Some(128),
        ..SessionOptions::default()
    }
}

/// Sequence `i`'s prompt: `5 + 3i` ordinary tokens (no control tokens), different per sequence.
fn prompt(i: usize) -> Vec<u32> {
    (0..5 + 3 * i as u32)
        .map(|j| 3 + (j * 7 + i as u32 * 13) % 120)
        .collect()
}

/// Prefills the prompts of `which`, then decodes `STEPS` tokens for all of them together through
/// one `BatchDecoder`; returns each sequence's tokens.
fn decode_together(model: &Arc<Model>, which: &[usize], sampling: &SamplerConfig) -> Vec<Vec<u32>> {
    let team = Arc::new(Team::new(1, "batch-test").unwrap());
    let vocab = model.config().vocab_size;
    let mut sessions: Vec<Session> = which
        .iter()
        .map(|_| Session::with_team(model.clone(), &options(), team.clone()).unwrap())
        .collect();
    let mut samplers: Vec<Sampler> = which
        .iter()
        .map(|&i| {
            let config = SamplerConfig {
                seed: sampling.seed + i as u64,
                ..sampling.clone()
            };
            Sampler::new(config, vocab).unwrap()
        })
        .collect();
    let mut histories: Vec<Vec<u32>> = which.iter().map(|&i| prompt(i)).collect();
    let mut next: Vec<u32> = Vec::new();
    for ((session, sampler), history) in sessions.iter_mut().zip(&mut samplers).zip(&histories) {
        let logits = session.prefill(history).unwrap();
        next.push(sampler.sample(logits, history).unwrap());
    }
    let mut decoder = BatchDecoder::new(model.clone(), &options(), SEQUENCES).unwrap();
    for _ in 0..STEPS {
        let mut refs: Vec<&mut Session> = sessions.iter_mut().collect();
        let logits = decoder.decode(&mut refs, &next).unwrap();
        for (row, history) in histories.iter_mut().enumerate() {
            history.push(next[row]);
            let row_logits = &logits[row * vocab..(row + 1) * vocab];
            next[row] = samplers[row].sample(row_logits, history).unwrap();
        }
    }
    which
        .iter()
        .zip(histories)
        .map(|(&i, history)| history[prompt(i).len()..].to_vec())
        .collect()
}

fn check_invariance(file: &str, sampling: &SamplerConfig) {
    let model = model(file);
    let all: Vec<usize> = (0..SEQUENCES).collect();
    let together = decode_together(&model, &all, sampling);
    for i in all {
        let alone = decode_together(&model, &[i], sampling);
        assert_eq!(alone[0], together[i], "{file}, sequence {i}, {sampling:?}");
    }
}

fn seeded() -> SamplerConfig {
    SamplerConfig {
        temperature: 0.8,
        top_k: 40,
        seed: 1234,
        ..SamplerConfig::default()
    }
}

#[test]
fn a_sequence_decodes_the_same_alone_or_among_seven_others_q8_0() {
    check_invariance("tiny-llama-Q8_0.gguf", &SamplerConfig::greedy());
    check_invariance("tiny-llama-Q8_0.gguf", &seeded());
}

#[test]
fn a_sequence_decodes_the_same_alone_or_among_seven_others_f32() {
    check_invariance("tiny-llama-F32.gguf", &SamplerConfig::greedy());
    check_invariance("tiny-llama-F32.gguf", &seeded());
}

/// The batched row against `Session::decode` on a twin session, for every row of a batch of 8.
fn batched_logits_error(file: &str) -> f64 {
    let model = model(file);
    let vocab = model.config().vocab_size;
    let mut batched: Vec<Session> = (0..SEQUENCES)
        .map(|_| Session::new(model.clone(), &options()).unwrap())
        .collect();
    let mut twins: Vec<Session> = (0..SEQUENCES)
        .map(|_| Session::new(model.clone(), &options()).unwrap())
        .collect();
    for (i, (a, b)) in batched.iter_mut().zip(&mut twins).enumerate() {
        a.prefill(&prompt(i)).unwrap();
        b.prefill(&prompt(i)).unwrap();
    }
    let tokens: Vec<u32> = (0..SEQUENCES as u32).map(|i| 10 + i).collect();
    let mut decoder = BatchDecoder::new(model.clone(), &options(), SEQUENCES).unwrap();
    let mut refs: Vec<&mut Session> = batched.iter_mut().collect();
    let logits = decoder.decode(&mut refs, &tokens).unwrap().to_vec();
    let mut worst = 0.0f64;
    for (i, twin) in twins.iter_mut().enumerate() {
        let want = twin.decode(tokens[i]).unwrap();
        let got = &logits[i * vocab..(i + 1) * vocab];
        worst = worst.max(max_abs_diff(got, want).error);
        assert_eq!(batched[i].position(), twin.position());
    }
    worst
}

#[test]
fn a_batched_row_matches_the_sessions_own_decode() {
    // The quantized file's rows are bit-identical (its 2-D weights are Q8_0 and F16: the
    // quantized GEMM equals its GEMV, and the 16-bit layers of the fixture take the per-row
    // path at these sizes). The f32 file's one-row decode runs the f32 GEMV and the batch the
    // f32 GEMM, which groups its sums differently.
    for (file, tolerance) in [
        ("tiny-llama-Q8_0.gguf", Q8_0_TOLERANCE),
        ("tiny-llama-F32.gguf", F32_TOLERANCE),
    ] {
        let error = batched_logits_error(file);
        eprintln!("{file}: max |batched - decode| logit {error:e}");
        assert!(
            error <= tolerance,
            "{file}: max |Δlogit| {error} > {tolerance}"
        );
    }
}

/// Measured 0 on the v4, v3 and scalar paths.
const Q8_0_TOLERANCE: f64 = 0.0;
/// Measured 1.41e-5 (v4), 0.95e-5 (v3), 1.47e-5 (scalar): about 2×.
const F32_TOLERANCE: f64 = 3e-5;

#[test]
fn bad_batches_are_errors_that_change_nothing() {
    let model = model("tiny-llama-Q8_0.gguf");
    let other = self::model("tiny-llama-F32.gguf");
    let mut decoder = BatchDecoder::new(model.clone(), &options(), 2).unwrap();
    let mut a = Session::new(model.clone(), &options()).unwrap();
    let mut b = Session::new(model.clone(), &options()).unwrap();
    let mut c = Session::new(model.clone(), &options()).unwrap();
    let mut foreign = Session::new(other, &options()).unwrap();
    a.prefill(&[5, 6]).unwrap();
    let setting = |e: ModelError| match e {
        ModelError::InvalidSetting { name, reason } => format!("{name}: {reason}"),
        other => panic!("{other}"),
    };
    let e = decoder.decode(&mut [&mut a, &mut b], &[7]).unwrap_err();
    assert!(setting(e).contains("2 sessions and 1 tokens"));
    let e = decoder
        .decode(&mut [&mut a, &mut b, &mut c], &[7, 8, 9])
        .unwrap_err();
    assert!(setting(e).contains("1 to 2"));
    let e = decoder
        .decode(&mut [&mut a, &mut foreign], &[7, 8])
        .unwrap_err();
    assert!(setting(e).contains("session 1 runs another model"));
    let e = decoder
        .decode(&mut [&mut a, &mut b], &[7, 9999])
        .unwrap_err();
    assert!(
        matches!(e, ModelError::TokenOutOfRange { token: 9999, .. }),
        "{e}"
    );
    assert_eq!((a.position(), b.position()), (2, 0));
    let mut full = Session::new(
        model.clone(),
        &SessionOptions {
            capacity: Some(2),
            ..options()
        },
    )
    .unwrap();
    full.prefill(&[5, 6]).unwrap();
    let e = decoder
        .decode(&mut [&mut a, &mut full], &[7, 8])
        .unwrap_err();
    assert!(matches!(e, ModelError::ContextOverflow { .. }), "{e}");
    assert_eq!(a.position(), 2);
    assert!(BatchDecoder::new(model, &options(), 0).is_err());
}
