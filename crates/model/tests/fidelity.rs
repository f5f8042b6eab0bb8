//! The models match Hugging Face transformers (fixtures made with
//! transformers 5.23 / PyTorch in float32): full-sequence logits, the greedy
//! continuation decoded with the KV cache, cached = uncached at every step,
//! and bit-identical results at 1 and 2 threads.

mod common;

use common::{Expected, argmax, load, session};
use smallmind_model::{PRESET_SEED, Preset};
use smallmind_testkit::max_rel_to_scale;

/// Logit error relative to the logit scale for f32 checkpoints (issue 3).
/// Measured 2.3e-6 (tiny-gpt2) (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test fidelity -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const F32_TOL: f64 = 5e-6;
/// The same for the bf16 checkpoint computed in f32 (issue 3).
/// Measured 1.4e-6 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test fidelity -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const BF16_TOL: f64 = 3e-6;
/// Cached decode vs a full recompute of the same positions.
/// Measured 1.9e-6 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test fidelity -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const CACHE_TOL: f64 = 4e-6;

const FIXTURES: [(&str, f64); 3] = [
    ("tiny-gpt2", F32_TOL),
    ("tiny-llama", F32_TOL),
    ("tiny-llama-bf16", BF16_TOL),
];

#[test]
fn full_sequence_logits_match_transformers() {
    for (name, tol) in FIXTURES {
        let model = load(name);
        let expected = Expected::read(name);
        let mut s = session(&model, 1);
        let mut logits = Vec::new();
        s.prefill_all_logits(&expected.input_ids, &mut logits)
            .unwrap();
        max_rel_to_scale(&logits, &expected.logits).assert_within(tol, name);
    }
}

#[test]
fn greedy_tokens_with_kv_cache_match_transformers() {
    for (name, tol) in FIXTURES {
        let model = load(name);
        let expected = Expected::read(name);
        let v = model.config().vocab_size;
        let mut s = session(&model, 1);
        let mut logits = s.prefill(&expected.input_ids[..8]).unwrap().to_vec();
        for (step, &want) in expected.greedy_ids.iter().enumerate() {
            let row = &expected.greedy_logits[step * v..(step + 1) * v];
            max_rel_to_scale(&logits, row).assert_within(tol, &format!("{name} step {step}"));
            let got = argmax(&logits);
            assert_eq!(got, want, "{name}: greedy token {step}");
            logits = s.decode(got).unwrap().to_vec();
        }
    }
}

#[test]
fn cached_decode_equals_uncached_recompute_at_every_step() {
    for (name, _) in FIXTURES {
        let model = load(name);
        let expected = Expected::read(name);
        let mut cached = session(&model, 1);
        let mut fresh = session(&model, 1);
        let mut tokens = expected.input_ids[..4].to_vec();
        let mut logits = cached.prefill(&tokens).unwrap().to_vec();
        for step in 0..40 {
            fresh.reset();
            let recomputed = fresh.prefill(&tokens).unwrap();
            max_rel_to_scale(&logits, recomputed).assert_within(
                CACHE_TOL,
                &format!("{name} step {step}: cached vs uncached"),
            );
            let next = argmax(&logits);
            tokens.push(next);
            logits = cached.decode(next).unwrap().to_vec();
        }
    }
}

/// Prefill of a long prompt and 16 decode steps, all logits kept.
fn trace(
    model: &std::sync::Arc<smallmind_model::Model>,
    threads: usize,
    prompt: &[u32],
) -> Vec<f32> {
    let mut s = session(model, threads);
    let mut all = Vec::new();
    s.prefill_all_logits(prompt, &mut all).unwrap();
    let mut next = argmax(&all[all.len() - model.config().vocab_size..]);
    for _ in 0..16 {
        let logits = s.decode(next).unwrap();
        all.extend_from_slice(logits);
        next = argmax(logits);
    }
    all
}

#[test]
fn one_and_two_threads_are_bit_identical() {
    let fixtures = FIXTURES.map(|(name, _)| (name, load(name)));
    // M-medium is large enough for the GEMMs, GEMVs and attention heads to
    // split across threads.
    let medium = (
        "M-medium",
        std::sync::Arc::new(Preset::Medium.model(PRESET_SEED).unwrap()),
    );
    for (name, model) in fixtures.into_iter().chain([medium]) {
        let vocab = model.config().vocab_size as u32;
        let prompt: Vec<u32> = (0..100).map(|i| (i * 7 + 3) % vocab).collect();
        let one = trace(&model, 1, &prompt);
        let two = trace(&model, 2, &prompt);
        let same = one
            .iter()
            .zip(&two)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: 1-thread and 2-thread logits differ");
    }
}

/// Processes that keep every core busy until dropped (`sh` spinning).
#[cfg(unix)]
struct BusyCores(Vec<std::process::Child>);

#[cfg(unix)]
impl BusyCores {
    fn start() -> BusyCores {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        BusyCores(
            (0..cores)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("spawn a busy `sh`")
                })
                .collect(),
        )
    }
}

#[cfg(unix)]
impl Drop for BusyCores {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The team's bounded spin must not turn into a livelock or a different
/// split's bits when other processes hold every core.
#[cfg(unix)]
#[test]
fn one_and_two_threads_are_bit_identical_while_other_processes_fill_every_core() {
    let model = std::sync::Arc::new(Preset::Medium.model(PRESET_SEED).unwrap());
    let vocab = model.config().vocab_size as u32;
    let prompt: Vec<u32> = (0..100).map(|i| (i * 7 + 3) % vocab).collect();
    let one = trace(&model, 1, &prompt);
    let busy = BusyCores::start();
    let loaded = [trace(&model, 2, &prompt), trace(&model, 1, &prompt)];
    drop(busy);
    for (threads, logits) in [2, 1].iter().zip(&loaded) {
        let same = one
            .iter()
            .zip(logits)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same && one.len() == logits.len(),
            "{threads} thread(s) under load differ"
        );
    }
}

#[test]
fn chunked_prefill_matches_transformers() {
    for (name, tol) in FIXTURES {
        let model = load(name);
        let expected = Expected::read(name);
        let options = smallmind_model::SessionOptions {
            threads: Some(1),
            max_batch: 5,
            ..Default::default()
        };
        let mut s = smallmind_model::Session::new(model.clone(), &options).unwrap();
        let mut logits = Vec::new();
        s.prefill_all_logits(&expected.input_ids, &mut logits)
            .unwrap();
        max_rel_to_scale(&logits, &expected.logits)
            .assert_within(tol, &format!("{name}: chunks of 5"));
    }
}
