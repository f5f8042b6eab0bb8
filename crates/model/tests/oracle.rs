//! Model formats that had no outside reference, against Hugging Face transformers
//! (`fixtures/oracle/`, written by `scripts/fixtures/make_oracles.py`; f32 forward, eager
//! attention, on exactly the values each file stores):
//! - a BF16 GGUF (`tiny-llama-bf16-gguf/`);
//! - an HF directory of f16 safetensors (`tiny-llama-f16/`);
//! - a Q4_K/Q6_K GGUF quantized by llama.cpp's `llama-quantize` (`tiny-llama-kquant/`), with f32
//!   activations, against transformers on gguf-py's dequantization of the same file.
//!
//! Each check compares the logits of one forward over 24 ids, then the greedy continuation
//! with the KV cache: at every step the logits and the picked id.

use std::path::Path;
use std::sync::Arc;

use safetensors::SafeTensors;
use smallmind_model::{Model, Session, SessionOptions, gguf, loader};
use smallmind_ops::ActivationPrecision;
use smallmind_testkit::{fixture, max_abs_diff};

// Tolerances: twice the worst error measured over the full-sequence logits and every greedy
// step, 1 and 2 threads (`cargo test -p smallmind-model --test oracle`; logits up to 18).

/// BF16 GGUF (weights widened exactly, f32 compute) against transformers: measured 1.4e-5.
const BF16_GGUF_ABS_TOL: f64 = 2.9e-5;
/// f16 safetensors against transformers: measured 1.9e-5.
const F16_HF_ABS_TOL: f64 = 3.8e-5;
/// Q4_K/Q6_K GGUF with f32 activations against transformers on the dequantized weights:
/// measured 7.6e-5 (this 256-wide model's logits reach 38).
const KQUANT_F32_ACT_ABS_TOL: f64 = 1.5e-4;

/// `expected.safetensors`: the ids, their logits and the greedy continuation.
struct Expected {
    /// `(24,)`.
    input_ids: Vec<u32>,
    /// `(24, V)`.
    logits: Vec<f32>,
    /// `(32,)`, continuing `input_ids[..8]`.
    greedy_ids: Vec<u32>,
    /// `(32, V)`: the logits each greedy id was picked from.
    greedy_logits: Vec<f32>,
}

fn read_expected(path: &Path) -> Expected {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let ids = |name: &str| -> Vec<u32> {
        let raw: Vec<i64> = smallmind_testkit::pod_vec(st.tensor(name).expect(name).data());
        raw.into_iter().map(|v| u32::try_from(v).unwrap()).collect()
    };
    let f32s = |name: &str| -> Vec<f32> {
        smallmind_testkit::pod_vec(st.tensor(name).expect(name).data())
    };
    Expected {
        input_ids: ids("input_ids"),
        logits: f32s("logits"),
        greedy_ids: ids("greedy_ids"),
        greedy_logits: f32s("greedy_logits"),
    }
}

fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// The full-sequence logits and every greedy step of `model` against `expected` (its folder's
/// `expected.safetensors`).
fn check(model: Model, folder: &str, activations: ActivationPrecision, tol: f64) {
    let model = Arc::new(model);
    let want = read_expected(&fixture(&format!("oracle/{folder}/expected.safetensors")));
    let v = model.config().vocab_size;
    for threads in [1, 2] {
        let options = SessionOptions {
            threads: Some(threads),
            activations,
            ..SessionOptions::default()
        };
        let what = format!("{folder}, {threads} threads");
        let mut s = Session::new(Arc::clone(&model), &options).unwrap();
        let mut logits = Vec::new();
        s.prefill_all_logits(&want.input_ids, &mut logits).unwrap();
        max_abs_diff(&logits, &want.logits).assert_within(tol, &format!("{what}: logits"));

        s.reset();
        let mut logits = s.prefill(&want.input_ids[..8]).unwrap().to_vec();
        for (step, &id) in want.greedy_ids.iter().enumerate() {
            let row = &want.greedy_logits[step * v..][..v];
            max_abs_diff(&logits, row).assert_within(tol, &format!("{what}: greedy step {step}"));
            assert_eq!(argmax(&logits), id, "{what}: greedy id {step}");
            logits = s.decode(id).unwrap().to_vec();
        }
    }
}

#[test]
fn bf16_gguf_matches_transformers() {
    let path = fixture("oracle/tiny-llama-bf16-gguf/tiny-llama-BF16.gguf");
    let model = gguf::load_gguf(path).expect("BF16 GGUF loads");
    check(
        model,
        "tiny-llama-bf16-gguf",
        ActivationPrecision::F32,
        BF16_GGUF_ABS_TOL,
    );
}

#[test]
fn f16_safetensors_dir_matches_transformers() {
    let model = loader::load_dir(fixture("oracle/tiny-llama-f16")).expect("f16 HF dir loads");
    check(
        model,
        "tiny-llama-f16",
        ActivationPrecision::F32,
        F16_HF_ABS_TOL,
    );
}

#[test]
fn kquant_gguf_with_f32_activations_matches_transformers() {
    let path = fixture("oracle/tiny-llama-kquant/tiny-llama-Q4_K_M.gguf");
    let model = gguf::load_gguf(path).expect("K-quant GGUF loads");
    check(
        model,
        "tiny-llama-kquant",
        ActivationPrecision::F32,
        KQUANT_F32_ACT_ABS_TOL,
    );
}
