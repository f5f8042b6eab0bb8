//! Llama GGUF files load into the same model as their Hugging Face
//! checkpoints: `fixtures/tiny-llama-gguf/` (made with gguf-py,
//! mimicking llama.cpp's converter; expected logits from transformers on the
//! weights read back from each file), the GGUF tokenizer, bad input, and the
//! real SmolLM2-135M GGUF files when present.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{Expected, argmax, fixture_dir, session};
use smallmind_formats::gguf::{GgmlType, GgufWriter, MetadataValue};
use smallmind_model::{Model, ModelConfig, ModelError, Session, SessionOptions, gguf, loader};
use smallmind_ops::ActivationPrecision;
use smallmind_testkit::models::{
    SMOLLM2_F16, SMOLLM2_F32, SMOLLM2_HF_DIR, SMOLLM2_Q4_1, model_file,
};
use smallmind_testkit::{max_abs_diff, max_rel_to_scale};
use smallmind_tokenizer::{EncodeOptions, PreTokenizer, Tokenizer};

/// Max abs logit error for the F32 file (issue 5).
/// Measured 2.4e-5 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test gguf -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const F32_ABS_TOL: f64 = 5e-5;
/// Max abs logit error for the F16 file, computed in f32 (issue 5).
/// Measured 2.1e-5 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test gguf -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const F16_ABS_TOL: f64 = 5e-5;
/// Quantized weights with f32 activations against "dequantize, then f32" (issue 5).
/// Measured 3.0e-5 (Q4_1) (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test gguf -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): about 2×.
const QUANT_F32_ACT_ABS_TOL: f64 = 6e-5;
/// Quantized weights with Q8-quantized activations: each activation moves by up to `|x|/254`
/// per element (`smallmind_kernels::quant`); this random 2-layer model amplifies that to a few
/// tenths of a logit, as the fixture README reports for llama.cpp (up to ~0.5).
/// Measured 0.61 (Q4_1 prefill; teacher-forced decode 0.53, Q8_0) (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_SIMD=<path> cargo test -p smallmind-model --test gguf -- --nocapture`, Intel Xeon Ice Lake, 2026-12-07): 1.6×: the error is the Q8 rounding itself, so only an outside Q8-activation reference (llama.cpp's logits) can make this much tighter.
const QUANT_Q8_ACT_ABS_TOL: f64 = 1.0;
/// Relative-to-scale error of the real F32 GGUF vs the same weights as safetensors: only the
/// load path differs (the GGUF's q/k rows are un-permuted by an exact copy), so the logits are
/// the same bits. Measured 0 (SMALLMIND_SIMD=v4, v3 and scalar; `SMALLMIND_MODELS=DIR
/// SMALLMIND_SIMD=<path> cargo test --release -p smallmind-model --test gguf smollm2_f32 --
/// --nocapture`, Intel Xeon Ice Lake, 2026-12-07).
const REAL_F32_REL_TOL: f64 = 0.0;

const FIXTURE: &str = "tiny-llama-gguf";

fn fixture_file(file: &str) -> PathBuf {
    fixture_dir(FIXTURE).join(file)
}

fn gguf_path(ty: &str) -> PathBuf {
    fixture_file(&format!("tiny-llama-{ty}.gguf"))
}

fn load(ty: &str) -> Arc<Model> {
    Arc::new(gguf::load_gguf(gguf_path(ty)).expect("fixture GGUF loads"))
}

/// `expected-<TYPE>.safetensors`.
fn expected(ty: &str) -> Expected {
    Expected::read_file(&fixture_file(&format!("expected-{ty}.safetensors")))
}

/// Full-sequence logits and the greedy continuation (with the KV cache) of
/// the fixture file `ty` against its expected file.
fn check_fixture(ty: &str, tol: f64) {
    check_fixture_with(ty, tol, ActivationPrecision::F32, true);
}

/// As [`check_fixture`] with quantized layers treating their inputs as `activations`. The
/// decode path is teacher-forced: each step is fed the expected greedy id and its logits are
/// compared with the expected ones, so every step is checked even where our own argmax would
/// differ. Our argmax must equal the expected id only when `greedy_ids` (Q8 activations
/// legitimately change it on this chaotic model, see the fixture README).
fn check_fixture_with(ty: &str, tol: f64, activations: ActivationPrecision, greedy_ids: bool) {
    let model = load(ty);
    let expected = expected(ty);
    let options = SessionOptions {
        threads: Some(1),
        activations,
        ..SessionOptions::default()
    };
    let mut s = Session::new(Arc::clone(&model), &options).unwrap();
    let mut logits = Vec::new();
    s.prefill_all_logits(&expected.input_ids, &mut logits)
        .unwrap();
    let what = format!("{ty} ({activations:?} activations)");
    max_abs_diff(&logits, &expected.logits)
        .assert_within(tol, &format!("{what}: full-sequence logits"));

    let v = model.config().vocab_size;
    s.reset();
    let mut logits = s.prefill(&expected.input_ids[..8]).unwrap().to_vec();
    assert_eq!(expected.greedy_ids.len(), expected.greedy_logits.len() / v);
    for (step, &want) in expected.greedy_ids.iter().enumerate() {
        max_abs_diff(&logits, &expected.greedy_logits[step * v..(step + 1) * v])
            .assert_within(tol, &format!("{what}: decode step {step}"));
        if greedy_ids {
            assert_eq!(argmax(&logits), want, "{what}: greedy token {step}");
        }
        logits = s.decode(want).unwrap().to_vec();
    }
}

#[test]
fn f32_file_matches_transformers() {
    check_fixture("F32", F32_ABS_TOL);
}

#[test]
fn f16_file_matches_transformers() {
    check_fixture("F16", F16_ABS_TOL);
}

#[test]
fn config_comes_from_the_llama_keys() {
    let file = gguf::open(gguf_path("F32")).unwrap();
    let c = ModelConfig::from_gguf(file.file()).unwrap();
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.num_layers, c.num_heads),
        (128, 64, 2, 4)
    );
    assert_eq!(
        (c.num_kv_heads, c.head_dim, c.intermediate_size),
        (2, 16, 176)
    );
    assert_eq!(c.max_position_embeddings, 256);
    assert_eq!((c.norm_eps, c.rope_theta), (1e-5, 10_000.0));
    assert!(c.tie_word_embeddings, "no output.weight: tied");
    assert_eq!(
        (c.bos_token_id, c.eos_token_ids.as_slice()),
        (Some(1), &[2][..])
    );
    // Same model as the HF fixture it was converted from.
    let hf = ModelConfig::from_hf_file(fixture_dir("tiny-llama").join("config.json")).unwrap();
    assert_eq!(
        (
            c.vocab_size,
            c.hidden_size,
            c.num_layers,
            c.num_heads,
            c.num_kv_heads
        ),
        (
            hf.vocab_size,
            hf.hidden_size,
            hf.num_layers,
            hf.num_heads,
            hf.num_kv_heads
        )
    );
}

/// Weights stay in the map except Q and K, which are copied once to undo
/// the RoPE row permutation.
#[test]
fn weights_are_used_in_place_except_q_and_k() {
    for ty in ["F32", "F16"] {
        let file = gguf::open(gguf_path(ty)).unwrap();
        let qk_bytes: u64 = file
            .tensors()
            .iter()
            .filter(|t| t.name().ends_with("attn_q.weight") || t.name().ends_with("attn_k.weight"))
            .map(|t| t.n_bytes())
            .sum();
        let all_bytes: u64 = file.tensors().iter().map(|t| t.n_bytes()).sum();
        let model = gguf::model_from_gguf(&file).unwrap();
        let (mapped, owned) = model.weight_bytes();
        assert_eq!(owned as u64, qk_bytes, "{ty}: owned bytes");
        assert_eq!((mapped + owned) as u64, all_bytes, "{ty}: mapped bytes");
    }
}

/// Q8_0, Q4_0 and Q4_1 files: exact (f32 activations) within 1e-4 of "dequantize, then f32"
/// with identical greedy ids; with Q8 activations within the documented rounding.
#[test]
fn quantized_files_match_their_dequantized_reference() {
    for ty in ["Q8_0", "Q4_0", "Q4_1"] {
        check_fixture_with(ty, QUANT_F32_ACT_ABS_TOL, ActivationPrecision::F32, true);
        check_fixture_with(
            ty,
            QUANT_Q8_ACT_ABS_TOL,
            ActivationPrecision::Quantized,
            false,
        );
    }
}

#[test]
fn tokenizer_reproduces_tokenizer_tests_json() {
    let file = gguf::open(gguf_path("F32")).unwrap();
    let tok = gguf::load_tokenizer(file.file()).unwrap();
    assert_eq!(tok.vocab_size(), 128);
    assert_eq!(tok.pre_tokenizer(), Some(PreTokenizer::Gpt2));
    assert_eq!(
        (tok.bos(), tok.eos(), tok.unk(), tok.pad()),
        (Some(1), Some(2), Some(0), Some(2))
    );
    assert!(!tok.add_bos() && !tok.add_eos());
    let cases: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture_file("tokenizer_tests.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cases.len(), 4);
    for (text, ids) in &cases {
        let want: Vec<u32> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text, EncodeOptions::PROMPT).unwrap();
        assert_eq!(got, want, "{text:?}");
        assert_eq!(tok.decode(&got).unwrap(), *text);
    }
}

// ---- bad input ---------------------------------------------------------

/// One tensor of a rebuilt file: name, dims (ne0 first), type, bytes.
type RawTensor = (String, Vec<u64>, GgmlType, Vec<u8>);

/// The F32 fixture rewritten with `edit` applied to its metadata and tensors.
fn rebuilt(
    edit: impl FnOnce(&mut Vec<(String, MetadataValue)>, &mut Vec<RawTensor>),
) -> gguf::SharedGguf {
    rebuilt_from(gguf_path("F32"), edit)
}

/// The GGUF at `path` rewritten with `edit` applied to its metadata and tensors.
fn rebuilt_from(
    path: PathBuf,
    edit: impl FnOnce(&mut Vec<(String, MetadataValue)>, &mut Vec<RawTensor>),
) -> gguf::SharedGguf {
    let file = gguf::open(path).unwrap();
    let mut metadata: Vec<(String, MetadataValue)> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    let mut tensors: Vec<RawTensor> = file
        .tensors()
        .iter()
        .map(|t| {
            (
                t.name().to_owned(),
                t.dims().to_vec(),
                t.ggml_type(),
                file.tensor_data(t).unwrap().to_vec(),
            )
        })
        .collect();
    edit(&mut metadata, &mut tensors);
    let mut w = GgufWriter::new();
    for (k, v) in metadata {
        w.add_metadata(k, v).unwrap();
    }
    for (name, dims, ty, data) in tensors {
        w.add_tensor(name, &dims, ty, data).unwrap();
    }
    gguf::from_bytes(w.to_bytes().unwrap()).unwrap()
}

fn set(md: &mut [(String, MetadataValue)], key: &str, value: MetadataValue) {
    let slot = md.iter_mut().find(|(k, _)| k == key).expect(key);
    slot.1 = value;
}

fn remove(md: &mut Vec<(String, MetadataValue)>, key: &str) {
    md.retain(|(k, _)| k != key);
}

fn model_error(file: &gguf::SharedGguf) -> ModelError {
    gguf::model_from_gguf(file).expect_err("loading must fail")
}

#[test]
fn a_rebuilt_file_still_loads() {
    // The editing helper itself is faithful (and in-memory bytes work).
    let file = rebuilt(|_, _| {});
    let model = Arc::new(gguf::model_from_gguf(&file).unwrap());
    let expected = expected("F32");
    let mut logits = Vec::new();
    session(&model, 1)
        .prefill_all_logits(&expected.input_ids, &mut logits)
        .unwrap();
    max_abs_diff(&logits, &expected.logits).assert_within(F32_ABS_TOL, "rebuilt F32");
}

#[test]
fn missing_block_count_is_named() {
    let file = rebuilt(|md, _| remove(md, "llama.block_count"));
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::Gguf(smallmind_formats::FormatError::MissingKey { key })
            if key == "llama.block_count"),
        "{err:?}"
    );
    assert!(err.to_string().contains("llama.block_count"), "{err}");
}

#[test]
fn other_architectures_are_refused_by_name() {
    let file = rebuilt(|md, _| {
        set(
            md,
            "general.architecture",
            MetadataValue::String("falcon".into()),
        )
    });
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::UnsupportedGgufArchitecture(a) if a == "falcon"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("`falcon` (supported: llama, qwen2"), "{text}");
}

#[test]
fn heads_that_do_not_divide_the_width_are_refused() {
    let file = rebuilt(|md, _| set(md, "llama.attention.head_count", MetadataValue::U32(3)));
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::InvalidMetadata { key, .. } if *key == "llama.attention.head_count"),
        "{err:?}"
    );
}

#[test]
fn a_wrong_rope_dimension_is_refused() {
    let file = rebuilt(|md, _| set(md, "llama.rope.dimension_count", MetadataValue::U32(8)));
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::InvalidMetadata { key, .. } if *key == "llama.rope.dimension_count"),
        "{err:?}"
    );
}

#[test]
fn unknown_rope_scaling_is_refused() {
    let file = rebuilt(|md, _| {
        md.push((
            "llama.rope.scaling.type".into(),
            MetadataValue::String("dynamic".into()),
        ))
    });
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::InvalidMetadata { key, .. } if *key == "llama.rope.scaling.type"),
        "{err:?}"
    );
}

/// Writers differ in integer and float widths; any integer or float type loads.
#[test]
fn other_integer_and_float_types_are_accepted() {
    let file = rebuilt(|md, _| {
        set(md, "llama.block_count", MetadataValue::U64(2));
        set(md, "llama.attention.head_count", MetadataValue::I32(4));
        set(md, "llama.context_length", MetadataValue::U16(256));
        set(
            md,
            "llama.attention.layer_norm_rms_epsilon",
            MetadataValue::F64(1e-5),
        );
        set(md, "llama.rope.freq_base", MetadataValue::F64(10_000.0));
        remove(md, "llama.vocab_size");
    });
    let model = gguf::model_from_gguf(&file).unwrap();
    let c = model.config();
    assert_eq!((c.num_layers, c.num_heads, c.vocab_size), (2, 4, 128));
    assert_eq!(c.norm_eps, 1e-5);
    let file = rebuilt(|md, _| set(md, "llama.block_count", MetadataValue::I32(-1)));
    assert!(matches!(
        model_error(&file),
        ModelError::Gguf(smallmind_formats::FormatError::ValueOutOfRange { .. })
    ));
}

#[test]
fn disagreeing_vocabulary_sizes_are_refused() {
    let file = rebuilt(|md, _| set(md, "llama.vocab_size", MetadataValue::U32(129)));
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::InvalidMetadata { key, .. } if *key == "llama.vocab_size"),
        "{err:?}"
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named() {
    // `(176, 64)` stored as `(64, 176)`: same bytes, transposed shape.
    let file = rebuilt(|_, tensors| {
        let t = tensors
            .iter_mut()
            .find(|t| t.0 == "blk.1.ffn_up.weight")
            .unwrap();
        t.1.reverse();
    });
    match model_error(&file) {
        ModelError::ShapeMismatch {
            name,
            expected,
            actual,
        } => {
            assert_eq!(name, "model.layers.1.mlp.up_proj.weight");
            assert_eq!((expected, actual), (vec![176, 64], vec![64, 176]));
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    // A wrongly shaped q projection is reported too (not permuted, not a panic).
    let file = rebuilt(|_, tensors| {
        let t = tensors
            .iter_mut()
            .find(|t| t.0 == "blk.0.attn_q.weight")
            .unwrap();
        t.1 = vec![32, 128];
    });
    assert!(matches!(
        model_error(&file),
        ModelError::ShapeMismatch { name, .. } if name == "model.layers.0.self_attn.q_proj.weight"
    ));
}

/// ggml block types of 256 values that the engine does not read (yet), with their block bytes.
const UNREAD_TYPES: [(GgmlType, u64); 2] = [(GgmlType::IQ1_S, 50), (GgmlType::IQ1_M, 56)];

#[test]
fn a_block_type_the_engine_does_not_read_is_named() {
    let path = fixture_dir("oracle/types").join("tiny-llama-Q4_K.gguf");
    for (ty, block_bytes) in UNREAD_TYPES {
        assert_eq!(ty.type_size(), block_bytes, "{ty}");
        let file = rebuilt_from(path.clone(), |_, tensors| {
            let t = tensors
                .iter_mut()
                .find(|t| t.0 == "blk.0.ffn_up.weight")
                .unwrap();
            let blocks = t.1.iter().product::<u64>() / 256;
            t.2 = ty;
            t.3 = vec![0; usize::try_from(blocks * block_bytes).unwrap()];
        });
        let err = model_error(&file);
        match &err {
            ModelError::UnsupportedDType {
                name,
                dtype,
                supported,
            } => {
                assert_eq!(name, "blk.0.ffn_up.weight");
                assert_eq!(dtype, ty.name());
                assert!(supported.contains("Q4_K") && supported.contains("IQ2_XS"));
            }
            other => panic!("{ty}: expected UnsupportedDType, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("blk.0.ffn_up.weight") && message.contains(ty.name()),
            "{message}"
        );
    }
}

#[test]
fn a_quantized_tensor_of_the_wrong_shape_is_named() {
    // Same bytes, the two axes swapped: the rows are still whole superblocks.
    let path = fixture_dir("oracle/types").join("tiny-llama-Q5_K.gguf");
    let file = rebuilt_from(path, |_, tensors| {
        let t = tensors
            .iter_mut()
            .find(|t| t.0 == "blk.0.attn_k.weight")
            .unwrap();
        assert_eq!(t.1, vec![256, 128]);
        t.1 = vec![512, 64];
    });
    assert!(matches!(
        model_error(&file),
        ModelError::ShapeMismatch { name, .. } if name == "model.layers.0.self_attn.k_proj.weight"
    ));
}

#[test]
fn missing_and_unknown_tensors_are_named() {
    let file = rebuilt(|_, tensors| tensors.retain(|t| t.0 != "blk.0.ffn_gate.weight"));
    assert!(matches!(
        model_error(&file),
        ModelError::MissingTensor { name } if name == "model.layers.0.mlp.gate_proj.weight"
    ));
    for extra in [
        "rope_freqs.weight",
        "blk.2.attn_q.weight",
        "blk.0.attn_q.bias",
    ] {
        let file = rebuilt(|_, tensors| {
            tensors.push((extra.to_owned(), vec![8], GgmlType::F32, vec![0; 32]));
        });
        assert!(
            matches!(model_error(&file), ModelError::UnsupportedGgufTensor { name, .. } if name == extra),
            "{extra}"
        );
    }
    // A precomputed rotary table is redundant and skipped.
    let file = rebuilt(|_, tensors| {
        tensors.push((
            "blk.0.attn_rot_embd.weight".into(),
            vec![8],
            GgmlType::F32,
            vec![0; 32],
        ));
    });
    gguf::model_from_gguf(&file).unwrap();
}

#[test]
fn an_untied_file_uses_its_output_weight() {
    // Add `output.weight` = 2 × token_embd: the logits double.
    let file = rebuilt(|_, tensors| {
        let embd = tensors.iter().find(|t| t.0 == "token_embd.weight").unwrap();
        let doubled: Vec<u8> = embd
            .3
            .chunks_exact(4)
            .flat_map(|b| (2.0 * f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes())
            .collect();
        let dims = embd.1.clone();
        tensors.push(("output.weight".into(), dims, GgmlType::F32, doubled));
    });
    let model = Arc::new(gguf::model_from_gguf(&file).unwrap());
    assert!(!model.config().tie_word_embeddings);
    let expected = expected("F32");
    let got = session(&model, 1)
        .prefill(&expected.input_ids[..8])
        .unwrap()
        .to_vec();
    let v = model.config().vocab_size;
    let want: Vec<f32> = expected.logits[7 * v..8 * v]
        .iter()
        .map(|x| 2.0 * x)
        .collect();
    max_abs_diff(&got, &want).assert_within(2.0 * F32_ABS_TOL, "doubled output.weight");
}

#[test]
fn tokenizer_bad_input_is_an_error() {
    let md_error = |edit: fn(&mut Vec<(String, MetadataValue)>)| {
        let file = rebuilt(|md, _| edit(md));
        gguf::load_tokenizer(file.file()).expect_err("must fail")
    };
    let err = md_error(|md| {
        set(
            md,
            "tokenizer.ggml.model",
            MetadataValue::String("bert".into()),
        )
    });
    assert!(matches!(err, ModelError::Tokenizer(_)), "{err:?}");
    assert!(err.to_string().contains("\"bert\""), "{err}");
    let err = md_error(|md| {
        set(
            md,
            "tokenizer.ggml.pre",
            MetadataValue::String("default".into()),
        )
    });
    assert!(matches!(err, ModelError::Tokenizer(_)), "{err:?}");
    assert!(err.to_string().contains("\"default\""), "{err}");
    let err = md_error(|md| remove(md, "tokenizer.ggml.merges"));
    assert!(err.to_string().contains("tokenizer.ggml.merges"), "{err}");
    let err = md_error(|md| set(md, "tokenizer.ggml.bos_token_id", MetadataValue::U32(500)));
    assert!(matches!(err, ModelError::Tokenizer(_)), "{err:?}");
}

#[test]
fn truncated_files_are_errors() {
    let bytes = std::fs::read(gguf_path("F32")).unwrap();
    for keep in [0, 3, 24, 1000, bytes.len() / 2, bytes.len() - 1] {
        let err = gguf::from_bytes(bytes[..keep].to_vec()).expect_err("truncated");
        assert!(matches!(err, ModelError::Gguf(_)), "{keep}: {err:?}");
    }
    let missing = gguf::load_gguf(fixture_file("no-such-file.gguf")).unwrap_err();
    assert!(matches!(missing, ModelError::Io { .. }));
}

/// `tensors` with every 2-D weight rounded to bf16, stored as `ty` (BF16, or
/// F32 holding the rounded values).
fn bf16_rounded(tensors: &mut [RawTensor], ty: GgmlType) {
    for (_, _, t, data) in tensors.iter_mut().filter(|t| t.1.len() == 2) {
        let rounded = data
            .chunks_exact(4)
            .map(|b| half::bf16::from_f32(f32::from_le_bytes(b.try_into().unwrap())));
        *data = match ty {
            GgmlType::BF16 => rounded.flat_map(|x| x.to_le_bytes()).collect(),
            _ => rounded.flat_map(|x| x.to_f32().to_le_bytes()).collect(),
        };
        *t = ty;
    }
}

#[test]
fn bf16_weights_equal_their_values_in_f32() {
    let bf16 = rebuilt(|_, tensors| bf16_rounded(tensors, GgmlType::BF16));
    let f32 = rebuilt(|_, tensors| bf16_rounded(tensors, GgmlType::F32));
    let prompt = expected("F32").input_ids;
    let logits = |file: &gguf::SharedGguf| {
        let model = Arc::new(gguf::model_from_gguf(file).unwrap());
        let mut out = Vec::new();
        session(&model, 1)
            .prefill_all_logits(&prompt, &mut out)
            .unwrap();
        (out, model.weight_bytes())
    };
    let ((a, (mapped, owned)), (b, _)) = (logits(&bf16), logits(&f32));
    max_abs_diff(&a, &b).assert_within(F32_ABS_TOL, "BF16 vs the same values in F32");
    // The 2-D weights stay bf16 (2 bytes each), used in place or as the q/k copies.
    let file_bytes: u64 = bf16.tensors().iter().map(|t| t.n_bytes()).sum();
    assert_eq!((mapped + owned) as u64, file_bytes);
}

/// With `general.alignment = 1` and an odd-sized header, f32 data is not
/// 4-byte aligned: such tensors are copied, not refused.
#[test]
fn unaligned_tensor_data_is_copied() {
    let expected = expected("F32");
    let mut tried_misaligned = false;
    for pad in 0..4 {
        let file = rebuilt(|md, _| {
            md.push(("general.alignment".into(), MetadataValue::U32(1)));
            md.push(("test.pad".into(), MetadataValue::String("x".repeat(pad))));
        });
        let misaligned =
            !(file.as_bytes().as_ptr() as usize + file.data_offset() as usize).is_multiple_of(4);
        let model = Arc::new(gguf::model_from_gguf(&file).unwrap());
        let (mapped, _) = model.weight_bytes();
        if misaligned {
            tried_misaligned = true;
            assert_eq!(mapped, 0, "pad {pad}: misaligned data cannot be mapped");
        }
        let mut logits = Vec::new();
        session(&model, 1)
            .prefill_all_logits(&expected.input_ids, &mut logits)
            .unwrap();
        max_abs_diff(&logits, &expected.logits).assert_within(F32_ABS_TOL, &format!("pad {pad}"));
    }
    assert!(tried_misaligned);
}

// ---- the real model ----------------------------------------------------

fn small_session(model: &Arc<Model>) -> Session {
    let options = SessionOptions {
        threads: Some(2),
        capacity: Some(64),
        ..SessionOptions::default()
    };
    Session::new(Arc::clone(model), &options).unwrap()
}

/// Greedy continuation of `prompt` for `n` tokens; returns the ids and every
/// step's logits.
fn greedy(model: &Arc<Model>, prompt: &[u32], n: usize) -> (Vec<u32>, Vec<f32>) {
    let mut s = small_session(model);
    let mut logits = s.prefill(prompt).unwrap().to_vec();
    let (mut ids, mut all) = (Vec::new(), Vec::new());
    for _ in 0..n {
        all.extend_from_slice(&logits);
        let next = argmax(&logits);
        ids.push(next);
        logits = s.decode(next).unwrap().to_vec();
    }
    (ids, all)
}

#[test]
fn smollm2_gguf_tokenizer_matches_tokenizer_json() {
    let Some(gguf_path) = model_file(SMOLLM2_Q4_1) else {
        return;
    };
    let json_path = smallmind_testkit::fixture("smollm2-tokenizer/tokenizer.json");
    let file = gguf::open(gguf_path).unwrap();
    assert_eq!(
        file.metadata().get_str("tokenizer.ggml.pre").unwrap(),
        "smollm"
    );
    let from_gguf = gguf::load_tokenizer(file.file()).unwrap();
    assert_eq!(from_gguf.pre_tokenizer(), Some(PreTokenizer::SmolLm));
    let from_json = Tokenizer::from_tokenizer_json_file(json_path).unwrap();
    assert_eq!(from_gguf.vocab_size(), from_json.vocab_size());
    let texts = [
        "The capital of France is",
        "Hello world! 123",
        "  multiple   spaces\tand\ttabs\n\n",
        "Café déjà vu — naïve façade 🙂🚀",
        "fn main() { println!(\"{}\", 3.14159); }",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    ];
    for text in texts {
        let a = from_gguf.encode(text, EncodeOptions::PROMPT).unwrap();
        let b = from_json.encode(text, EncodeOptions::PROMPT).unwrap();
        assert_eq!(a, b, "{text:?}");
        assert_eq!(from_gguf.decode(&a).unwrap(), text);
    }
    assert_eq!(
        from_gguf
            .encode("The capital of France is", EncodeOptions::PROMPT)
            .unwrap(),
        [504, 3575, 282, 4649, 314]
    );
    assert!(from_gguf.chat_template().is_some());
}

#[test]
fn smollm2_f32_gguf_decodes_like_the_safetensors_checkpoint() {
    let (Some(gguf_path), Some(hf_dir)) = (model_file(SMOLLM2_F32), model_file(SMOLLM2_HF_DIR))
    else {
        return;
    };
    let start = std::time::Instant::now();
    let (model, tok) = gguf::load_gguf_with_tokenizer(gguf_path).unwrap();
    eprintln!(
        "SmolLM2 f32 GGUF: model + tokenizer loaded in {:.0?}",
        start.elapsed()
    );
    let model = Arc::new(model);
    let hf = Arc::new(loader::load_dir(hf_dir).unwrap());
    let (g, h) = (model.config(), hf.config());
    assert_eq!(
        (
            g.vocab_size,
            g.hidden_size,
            g.num_layers,
            g.num_heads,
            g.num_kv_heads
        ),
        (
            h.vocab_size,
            h.hidden_size,
            h.num_layers,
            h.num_heads,
            h.num_kv_heads
        )
    );
    assert_eq!(
        (g.head_dim, g.intermediate_size, g.rope_theta, g.norm_eps),
        (h.head_dim, h.intermediate_size, h.rope_theta, h.norm_eps)
    );
    assert_eq!(g.tie_word_embeddings, h.tie_word_embeddings);
    let prompt = tok
        .encode("The capital of France is", EncodeOptions::PROMPT)
        .unwrap();
    let (gguf_ids, gguf_logits) = greedy(&model, &prompt, 8);
    let (hf_ids, hf_logits) = greedy(&hf, &prompt, 8);
    eprintln!(
        "SmolLM2 f32 GGUF vs safetensors: {:?} → {:?}",
        tok.decode(&gguf_ids).unwrap(),
        gguf_ids,
    );
    assert_eq!(gguf_ids, hf_ids);
    max_rel_to_scale(&gguf_logits, &hf_logits)
        .assert_within(REAL_F32_REL_TOL, "SmolLM2 f32 GGUF vs safetensors");
}

#[test]
fn smollm2_f16_gguf_loads_and_runs() {
    let Some(path) = model_file(SMOLLM2_F16) else {
        return;
    };
    let (model, tok) = gguf::load_gguf_with_tokenizer(path).unwrap();
    let model = Arc::new(model);
    let (mapped, owned) = model.weight_bytes();
    assert!(owned < mapped / 4, "mapped {mapped}, owned {owned}");
    let prompt = tok
        .encode("The capital of France is", EncodeOptions::PROMPT)
        .unwrap();
    let (ids, logits) = greedy(&model, &prompt, 4);
    assert!(logits.iter().all(|x| x.is_finite()));
    eprintln!(
        "SmolLM2 f16 GGUF: {:?} → {ids:?}",
        tok.decode(&ids).unwrap()
    );
}

/// The F32 GGUF of a `fixtures/families/` model.
fn family_gguf(name: &str) -> PathBuf {
    fixture_dir(&format!("families/{name}")).join("model-F32.gguf")
}

#[test]
fn family_keys_are_named_when_missing() {
    for (family, key) in [
        ("qwen2", "qwen2.embedding_length"),
        ("qwen3", "qwen3.attention.head_count"),
        ("gemma3", "gemma3.attention.sliding_window"),
        ("phi3", "phi3.rope.scaling.original_context_length"),
        ("qwen2_yarn", "qwen2.rope.scaling.factor"),
        ("qwen2_yarn", "qwen2.rope.scaling.original_context_length"),
    ] {
        let file = rebuilt_from(family_gguf(family), |md, _| remove(md, key));
        let err = model_error(&file);
        assert!(
            matches!(&err, ModelError::Gguf(smallmind_formats::FormatError::MissingKey { key: k })
                if k == key),
            "{family}: {err:?}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn a_tensor_of_another_family_is_named() {
    // `post_ffw_norm` is Gemma's; a Qwen2 file does not take it.
    let file = rebuilt_from(family_gguf("qwen2"), |_, tensors| {
        tensors.push((
            "blk.0.post_ffw_norm.weight".into(),
            vec![32],
            GgmlType::F32,
            vec![0; 128],
        ));
    });
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::UnsupportedGgufTensor { name, reason }
            if name == "blk.0.post_ffw_norm.weight" && reason.contains("qwen2")),
        "{err:?}"
    );
}

#[test]
fn phi3_missing_fused_and_longrope_tensors_are_named() {
    for (removed, named) in [
        (
            "blk.1.attn_qkv.weight",
            "model.layers.1.self_attn.qkv_proj.weight",
        ),
        (
            "blk.0.ffn_up.weight",
            "model.layers.0.mlp.gate_up_proj.weight",
        ),
        ("rope_factors_long.weight", "rope_factors_long.weight"),
        ("rope_factors_short.weight", "rope_factors_short.weight"),
    ] {
        let file = rebuilt_from(family_gguf("phi3"), |_, tensors| {
            tensors.retain(|t| t.0 != removed);
        });
        let err = model_error(&file);
        assert!(
            matches!(&err, ModelError::MissingTensor { name } if name.starts_with(named)),
            "without {removed}: {err:?}"
        );
    }
}

#[test]
fn phi3_longrope_factors_of_the_wrong_length_are_named() {
    // The fixture rotates 12 of 16 dims per head: 6 factors each.
    for name in ["rope_factors_short.weight", "rope_factors_long.weight"] {
        let file = rebuilt_from(family_gguf("phi3"), |_, tensors| {
            let t = tensors.iter_mut().find(|t| t.0 == name).unwrap();
            t.1 = vec![8];
            t.3 = 1f32.to_le_bytes().repeat(8);
        });
        let err = model_error(&file);
        assert!(
            matches!(&err, ModelError::UnsupportedGgufTensor { name: n, reason }
                if n == name && reason.contains("[6]")),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn phi3_rope_dimension_past_the_head_is_named() {
    for dims in [18, 7, 0] {
        let file = rebuilt_from(family_gguf("phi3"), |md, _| {
            set(md, "phi3.rope.dimension_count", MetadataValue::U32(dims))
        });
        let err = model_error(&file);
        assert!(
            matches!(&err, ModelError::InvalidMetadata { key, .. }
                if key == "phi3.rope.dimension_count"),
            "{dims} rotary dims: {err:?}"
        );
    }
}

#[test]
fn yarn_with_another_extrapolation_factor_is_refused() {
    let file = rebuilt_from(family_gguf("qwen2_yarn"), |md, _| {
        md.push((
            "qwen2.rope.scaling.yarn_ext_factor".into(),
            MetadataValue::F32(0.5),
        ))
    });
    let err = model_error(&file);
    assert!(
        matches!(&err, ModelError::InvalidMetadata { key, .. }
            if key == "qwen2.rope.scaling.yarn_ext_factor"),
        "{err:?}"
    );
}
