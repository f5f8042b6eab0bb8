//! The sampler's filters against Hugging Face transformers' logits processors and warpers
//! (`fixtures/oracle/sampler.json`, written by `scripts/fixtures/make_oracles.py`).
//!
//! Order. Ours is transformers' (`GenerationMixin._get_logits_processor`): repetition penalty,
//! then temperature, top-k, top-p, min-p (`RepetitionPenaltyLogitsProcessor`,
//! `TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`), so
//! the reference applies them in that order. llama.cpp's default chain differs: penalties,
//! top-k, top-p, min-p, and the temperature last, so there top-p and min-p see untempered
//! probabilities.
//!
//! For each case (random logits over 500 ids, recent ids with repeats, settings) the reference
//! gives the kept ids and their renormalised probabilities (computed in f64). Our candidates
//! (`Sampler::filter`) must be the same set, with weights that normalise to the same
//! probabilities. The generator draws the logits so that no token sits within 1e-5 of a cut, so f32
//! rounding cannot move one across.

use serde_json::Value;
use smallmind_model::sampler::{Sampler, SamplerConfig};
use smallmind_testkit::{fixture, max_abs_diff};

/// Our normalised candidate weights against transformers' softmax over the kept logits (f64),
/// absolute: twice the worst measured over the cases, 9.5e-8 (case 4; our `exp` is within 2e-7
/// relative and the logits are divided in f32; `cargo test -p smallmind-model --test
/// sampler_oracle`).
const PROB_ABS_TOL: f64 = 2e-7;

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn config(settings: &Value) -> SamplerConfig {
    let number = |name: &str| settings[name].as_f64().expect(name);
    SamplerConfig {
        temperature: number("temperature") as f32,
        top_k: number("top_k") as usize,
        top_p: number("top_p") as f32,
        min_p: number("min_p") as f32,
        repetition_penalty: number("repetition_penalty") as f32,
        repetition_window: number("repetition_window") as usize,
        seed: 0,
        ..SamplerConfig::default()
    }
}

#[test]
fn filters_match_transformers_warpers() {
    let text = std::fs::read_to_string(fixture("oracle/sampler.json")).unwrap();
    let oracle: Value = serde_json::from_str(&text).unwrap();
    let vocab = oracle["vocab_size"].as_u64().unwrap() as usize;
    let cases = oracle["cases"].as_array().unwrap();
    assert!(cases.len() >= 10, "the oracle has its cases");
    for (i, case) in cases.iter().enumerate() {
        let settings = &case["settings"];
        let logits: Vec<f32> = f64s(&case["logits"]).iter().map(|&x| x as f32).collect();
        let recent: Vec<u32> = f64s(&case["recent_tokens"])
            .iter()
            .map(|&x| x as u32)
            .collect();
        let mut sampler = Sampler::new(config(settings), vocab).unwrap();
        let mut got: Vec<(u32, f64)> = sampler
            .filter(&logits, &recent)
            .unwrap()
            .map(|c| (c.id, f64::from(c.weight)))
            .collect();
        let total: f64 = got.iter().map(|&(_, w)| w).sum();
        got.sort_by_key(|&(id, _)| id);
        let mut want: Vec<(u32, f64)> = f64s(&case["kept_ids"])
            .iter()
            .zip(f64s(&case["probs"]))
            .map(|(&id, p)| (id as u32, p))
            .collect();
        want.sort_by_key(|&(id, _)| id);
        let ids: Vec<u32> = got.iter().map(|&(id, _)| id).collect();
        let want_ids: Vec<u32> = want.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, want_ids, "case {i} ({settings}): kept ids");
        let probs: Vec<f64> = got.iter().map(|&(_, w)| w / total).collect();
        let want_probs: Vec<f64> = want.iter().map(|&(_, p)| p).collect();
        max_abs_diff(&probs, &want_probs).assert_within(
            PROB_ABS_TOL,
            &format!("case {i} ({settings}): probabilities"),
        );
    }
}
