//! Quantized weights with quantized activations (Q8_0 for Q8_0/Q4_0 weights, Q8_1 for Q4_1,
//! Q8_K for Q4_K/Q6_K), the llama.cpp way, against llama.cpp itself on the same files:
//! `fixtures/oracle/llamacpp/llamacpp-<TYPE>.safetensors` holds its logits (recorded by
//! `scripts/fixtures/make_oracles.py` with `scripts/fixtures/llama_oracle.cpp`: one thread, F32
//! KV cache, no flash attention) for 24 ids fed one token at a time (teacher forcing). Our
//! prefill over all of them and our decode, one id at a time, are both compared with it.

use std::sync::Arc;

use safetensors::SafeTensors;
use smallmind_model::{Session, SessionOptions, gguf};
use smallmind_ops::ActivationPrecision;
use smallmind_testkit::{fixture, max_abs_diff};

// Our Q8-activation logits (prefill over all 24 ids, and decode one id at a time) against
// llama.cpp's one-token-at-a-time logits on the same file, absolute (logits up to ~18, 38 for
// the K-quant model); tolerances are twice the measured error (`cargo test -p smallmind-model
// --test llamacpp_oracle`). Where they differ, and why:
// - Q4_K_M: the same arithmetic; measured 1.1e-5.
// - Q8_0, Q4_0: llama.cpp rounds the activations of F16 weights to f16 (its F16 `vec_dot_type`);
//   these files keep `ffn_down` (176 wide, not whole 32-blocks) in F16, which we multiply with
//   f32 activations. Measured 0.19 / 0.16 after this chaotic model amplifies it; with
//   `ffn_down` widened to F32 in both engines the same files agree to 1.9e-6 / 1.4e-6.
// - Q4_1: also that, plus ggml's Q8_1 activation blocks store `d` and `d·Σq` in f16 where
//   ours keep f32 (a direct ggml `mul_mat` on `fixtures/oracle/quant.safetensors` matches the
//   f16-scale product to 3.6e-7, ours the f32 one; they differ by 8.5e-4 of the row scale).
//   Measured 0.38, and 0.35 with `ffn_down` in F32. Rounding our Q8_1 scales to f16 in a local
//   experiment left 0.32, so part of this gap is not yet explained.
// llama.cpp's batch logits (one `llama_decode` over all ids, also in the file) differ from its
// own one-token logits by up to 0.11 (Q8_0) and 0.24 (Q4_K_M), so they are not compared.
const Q8_0_ABS_TOL: f64 = 0.38;
const Q4_0_ABS_TOL: f64 = 0.33;
const Q4_1_ABS_TOL: f64 = 0.76;
const Q4_K_M_ABS_TOL: f64 = 2.3e-5;

/// llama.cpp's recording for one file: ids and `(T, V)` decode logits.
struct Recorded {
    ids: Vec<u32>,
    decode: Vec<f32>,
}

fn recorded(ty: &str) -> Recorded {
    let path = fixture(&format!("oracle/llamacpp/llamacpp-{ty}.safetensors"));
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let f32s = |name: &str| -> Vec<f32> {
        smallmind_testkit::pod_vec(st.tensor(name).expect(name).data())
    };
    let ids: Vec<i64> = smallmind_testkit::pod_vec(st.tensor("input_ids").unwrap().data());
    Recorded {
        ids: ids.into_iter().map(|v| u32::try_from(v).unwrap()).collect(),
        decode: f32s("decode_logits"),
    }
}

fn check(ty: &str, model_path: &str, tol: f64) {
    let model = Arc::new(gguf::load_gguf(fixture(model_path)).expect("fixture loads"));
    let want = recorded(ty);
    let v = model.config().vocab_size;
    let options = SessionOptions {
        threads: Some(1),
        activations: ActivationPrecision::Quantized,
        ..SessionOptions::default()
    };
    let mut s = Session::new(model, &options).unwrap();
    let mut logits = Vec::new();
    s.prefill_all_logits(&want.ids, &mut logits).unwrap();
    max_abs_diff(&logits, &want.decode).assert_within(tol, &format!("{ty}: prefill logits"));
    s.reset();
    for (step, &id) in want.ids.iter().enumerate() {
        let got = s.decode(id).unwrap();
        max_abs_diff(got, &want.decode[step * v..][..v])
            .assert_within(tol, &format!("{ty}: decode step {step}"));
    }
}

#[test]
fn q8_0_file_matches_llama_cpp() {
    check("Q8_0", "tiny-llama-gguf/tiny-llama-Q8_0.gguf", Q8_0_ABS_TOL);
}

#[test]
fn q4_0_file_matches_llama_cpp() {
    check("Q4_0", "tiny-llama-gguf/tiny-llama-Q4_0.gguf", Q4_0_ABS_TOL);
}

#[test]
fn q4_1_file_matches_llama_cpp() {
    check("Q4_1", "tiny-llama-gguf/tiny-llama-Q4_1.gguf", Q4_1_ABS_TOL);
}

#[test]
fn q4_k_m_file_matches_llama_cpp() {
    check(
        "Q4_K_M",
        "oracle/tiny-llama-kquant/tiny-llama-Q4_K_M.gguf",
        Q4_K_M_ABS_TOL,
    );
}
