//! The real Gemma 3 270M Q4_K_M GGUF (a base model; Q5_0, Q8_0, Q4_K and Q6_K tensors) through
//! the library, on the exact path (f32 activations, what `smallmind generate --exact` runs),
//! against transformers' GGUF loader (dequantize, then float32):
//! `fixtures/gemma3-270m/expected.json`, made by `scripts/fixtures/gemma3_270m_reference.py`.
//! One prompt (625 tokens) is longer than the model's 512-position sliding window. Skipped
//! (visibly) where `SMALLMIND_MODELS` lacks the file.

use std::sync::Arc;

use serde_json::Value;
use smallmind::model::{Session, SessionOptions};
use smallmind::{ActivationPrecision, GenerateOptions};
use smallmind_testkit::models::{GEMMA3_270M_Q4_K_M, model_file};
use smallmind_testkit::{fixture, max_abs_diff};

/// Logit error against transformers at the 512 recorded ids of each prompt's last position
/// (issue 14 asks for 1e-3). Measured at most 4.1e-5 over the four prompts, 625 tokens the
/// worst (`SMALLMIND_MODELS=DIR cargo test -p smallmind --test gemma3 -- --nocapture`, SIMD
/// V4, AMD EPYC Zen 5, 2026-12-07): about 2×.
const LOGIT_TOL: f64 = 1e-4;

struct Case {
    prompt: String,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    greedy_text: String,
    logit_ids: Vec<usize>,
    logits: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let path = fixture("gemma3-270m/expected.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
            .collect()
    };
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            prompt: c["prompt"].as_str().unwrap().to_owned(),
            prompt_ids: ids(&c["prompt_ids"]),
            greedy_ids: ids(&c["greedy_ids"]),
            greedy_text: c["greedy_text"].as_str().unwrap().to_owned(),
            logit_ids: ids(&c["logit_ids"])
                .into_iter()
                .map(|i| i as usize)
                .collect(),
            logits: c["logits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn exact_options() -> SessionOptions {
    SessionOptions {
        capacity: Some(768),
        activations: ActivationPrecision::F32,
        ..SessionOptions::default()
    }
}

#[test]
fn gemma3_270m_exact_path_matches_transformers() {
    let Some(path) = model_file(GEMMA3_270M_Q4_K_M) else {
        return;
    };
    let model = smallmind::load(path).unwrap();
    let cases = cases();
    assert!(
        cases.iter().any(|c| c.prompt_ids.len() > 512),
        "a prompt past the window"
    );
    for case in &cases {
        let what = format!("prompt of {} tokens", case.prompt_ids.len());
        assert_eq!(
            model.encode(&case.prompt).unwrap(),
            case.prompt_ids,
            "{what}: prompt ids"
        );
        // Last-position logits, straight from the token-level session.
        let mut session = Session::new(Arc::clone(model.model()), &exact_options()).unwrap();
        let logits = session.prefill(&case.prompt_ids).unwrap();
        let got: Vec<f32> = case.logit_ids.iter().map(|&i| logits[i]).collect();
        max_abs_diff(&got, &case.logits).assert_within(LOGIT_TOL, &format!("{what}: logits"));
        // Greedy text through the text API, as `smallmind generate --temperature 0 --exact`.
        let mut text = model.session(&exact_options()).unwrap();
        let options = GenerateOptions::default()
            .temperature(0.0)
            .max_tokens(case.greedy_ids.len())
            .stop_tokens([]);
        let generation = text.generate(&case.prompt, &options).unwrap();
        let completion = generation.complete().unwrap();
        assert_eq!(completion.text, case.greedy_text, "{what}: greedy text");
    }
}
