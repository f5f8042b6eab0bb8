//! Every model family matches Hugging Face transformers on its tiny random
//! fixture (`fixtures/families/<name>/`, made by
//! `scripts/fixtures/make_families.py`), loaded both from its safetensors
//! directory and from its F32 GGUF: logits of a 24-token prompt, the greedy
//! continuation decoded with the KV cache, cached = uncached, and 1 and 2
//! threads bit-identical. The Gemma 3 and Phi-3 fixtures' window (8) is
//! shorter than their prompt (24) and greedy run (40 positions), so their
//! local layers are checked past the window (without the window the
//! transformers logits differ by 4.6 for Gemma, 5.0 for Phi-3). Phi-3 also has partial rotary (12 of 16 dims),
//! fused QKV and gate|up, and LongRoPE with an original context of 4: the
//! sessions here (capacity 128) use its long factors, as transformers does
//! for every sequence longer than 4, and a session of capacity 4 its short
//! ones (`short_logits`). `qwen2_yarn` is Qwen2 with YaRN scaling.

mod common;

use std::sync::Arc;

use common::{Expected, argmax, session};
use smallmind_model::{Model, Session, SessionOptions, gguf, loader};
use smallmind_testkit::{fixture, max_abs_diff};

/// Absolute logit error against transformers (issue 14 asks for 1e-4).
/// Measured at most 4.5e-6 over the families, both sources, every position
/// and greedy step, on the v4, v3 and scalar paths (`SMALLMIND_SIMD=<path>
/// cargo test -p smallmind-model --test families -- --nocapture`, AMD EPYC
/// Zen 5, 2026-12-07); the logits reach ±5: about 2×.
const LOGIT_TOL: f64 = 1e-5;
/// Cached decode against a full recompute of the same positions. Measured at
/// most 5.4e-6 (same runs): about 2×.
const CACHE_TOL: f64 = 1e-5;

/// Phi-3's fixture has LongRoPE's attention factor √(1 + ln 32/ln 4) ≈ 1.87
/// on cos and sin, which scales every score by 3.5 and the rounding with
/// it: measured at most 1.1e-5 against transformers (greedy step 15) and
/// 9.7e-6 cached vs uncached, on the v4, v3 and scalar paths (same command
/// and machine, 2026-12-07): about 2×, still within the 1e-4.
const PHI3_LOGIT_TOL: f64 = 2.5e-5;
/// See [`PHI3_LOGIT_TOL`].
const PHI3_CACHE_TOL: f64 = 2e-5;

/// `(against transformers, cached vs uncached)` tolerances of a family.
fn tolerances(name: &str) -> (f64, f64) {
    match name {
        "phi3" => (PHI3_LOGIT_TOL, PHI3_CACHE_TOL),
        _ => (LOGIT_TOL, CACHE_TOL),
    }
}

/// The families with a fixture that this build runs.
const FAMILIES: &[&str] = &[
    "llama3",
    "qwen2",
    "qwen3",
    "gemma3",
    "mistral",
    "phi3",
    "qwen2_yarn",
];

/// Where a fixture's model comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    Safetensors,
    Gguf,
}

fn load(name: &str, source: Source) -> Arc<Model> {
    let dir = fixture(&format!("families/{name}"));
    let model = match source {
        Source::Safetensors => loader::load_dir(&dir),
        Source::Gguf => gguf::load_gguf(dir.join("model-F32.gguf")),
    };
    Arc::new(model.unwrap_or_else(|e| panic!("{name} from {source:?}: {e}")))
}

fn expected(name: &str) -> Expected {
    Expected::read_file(&fixture(&format!("families/{name}/expected.safetensors")))
}

fn each_model(mut f: impl FnMut(&str, Source, &Arc<Model>)) {
    for name in FAMILIES {
        for source in [Source::Safetensors, Source::Gguf] {
            f(name, source, &load(name, source));
        }
    }
}

#[test]
fn logits_match_transformers_from_both_sources() {
    each_model(|name, source, model| {
        let expected = expected(name);
        let v = model.config().vocab_size;
        let mut s = session(model, 1);
        let mut all = Vec::new();
        s.prefill_all_logits(&expected.input_ids, &mut all).unwrap();
        let what = format!("{name} from {source:?}");
        let worst = max_abs_diff(&all, &expected.logits);
        println!("{what}: every position {worst:?}");
        let tol = tolerances(name).0;
        worst.assert_within(tol, &what);
        s.reset();
        let last = s.prefill(&expected.input_ids).unwrap();
        let want_last = &expected.logits[expected.logits.len() - v..];
        max_abs_diff(last, want_last).assert_within(tol, &format!("{what}: last position"));
    });
}

#[test]
fn greedy_tokens_with_kv_cache_match_transformers() {
    each_model(|name, source, model| {
        let expected = expected(name);
        let v = model.config().vocab_size;
        let mut s = session(model, 1);
        let mut logits = s.prefill(&expected.input_ids[..8]).unwrap().to_vec();
        for (step, &want) in expected.greedy_ids.iter().enumerate() {
            let what = format!("{name} from {source:?}, greedy step {step}");
            let row = &expected.greedy_logits[step * v..(step + 1) * v];
            max_abs_diff(&logits, row).assert_within(tolerances(name).0, &what);
            let got = argmax(&logits);
            assert_eq!(got, want, "{what}");
            logits = s.decode(got).unwrap().to_vec();
        }
    });
}

#[test]
fn cached_decode_equals_uncached_recompute() {
    each_model(|name, source, model| {
        let expected = expected(name);
        let mut cached = session(model, 1);
        let mut fresh = session(model, 1);
        let mut tokens = expected.input_ids.clone();
        let mut logits = cached.prefill(&tokens).unwrap().to_vec();
        for step in 0..24 {
            fresh.reset();
            let recomputed = fresh.prefill(&tokens).unwrap();
            max_abs_diff(&logits, recomputed).assert_within(
                tolerances(name).1,
                &format!("{name} from {source:?}, step {step}: cached vs uncached"),
            );
            let next = argmax(&logits);
            tokens.push(next);
            logits = cached.decode(next).unwrap().to_vec();
        }
    });
}

#[test]
fn one_and_two_threads_are_bit_identical() {
    each_model(|name, source, model| {
        let trace = |threads| {
            let mut s = session(model, threads);
            let vocab = model.config().vocab_size as u32;
            let prompt: Vec<u32> = (0..60).map(|i| (i * 7 + 3) % vocab).collect();
            let mut all = Vec::new();
            s.prefill_all_logits(&prompt, &mut all).unwrap();
            let mut next = argmax(&all[all.len() - vocab as usize..]);
            for _ in 0..16 {
                let logits = s.decode(next).unwrap();
                all.extend_from_slice(logits);
                next = argmax(logits);
            }
            all
        };
        let (one, two) = (trace(1), trace(2));
        let same = one
            .iter()
            .zip(&two)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "{name} from {source:?}: 1-thread and 2-thread logits differ"
        );
    });
}

/// LongRoPE's short factors: a session that fits the original context (4)
/// matches transformers on a 4-token prompt, which it runs with them.
#[test]
fn phi3_short_factors_match_transformers_within_the_original_context() {
    let path = fixture("families/phi3/expected.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let want: Vec<f32> = st
        .tensor("short_logits")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let expected = expected("phi3");
    for source in [Source::Safetensors, Source::Gguf] {
        let model = load("phi3", source);
        let original = 4;
        let options = SessionOptions {
            threads: Some(1),
            capacity: Some(original),
            ..SessionOptions::default()
        };
        let mut s = Session::new(Arc::clone(&model), &options).unwrap();
        let mut all = Vec::new();
        s.prefill_all_logits(&expected.input_ids[..original], &mut all)
            .unwrap();
        max_abs_diff(&all, &want).assert_within(
            PHI3_LOGIT_TOL,
            &format!("phi3 from {source:?}, short factors"),
        );
        let mut long = session(&model, 1);
        let mut long_logits = Vec::new();
        long.prefill_all_logits(&expected.input_ids[..original], &mut long_logits)
            .unwrap();
        assert!(
            max_abs_diff(&long_logits, &want).error > 100.0 * LOGIT_TOL,
            "the long factors should give other logits, or this test checks nothing"
        );
    }
}
