//! `ModelConfig`: parsing Hugging Face `config.json` (GPT-2 and Llama
//! families), validation and parameter counts, over the shared fixtures and
//! inline configs.

use proptest::prelude::*;
use serde_json::{Value, json};
use smallmind_model::{Activation, Architecture, FamilyParams, ModelConfig, ModelError, Result};

const TINY_GPT2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny-gpt2");
const TINY_LLAMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny-llama");
const TINY_LLAMA_BF16: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/tiny-llama-bf16"
);

/// Sum of the element counts of every tensor in a fixture's `model.safetensors`.
fn safetensors_numel(dir: &str) -> usize {
    let bytes = std::fs::read(format!("{dir}/model.safetensors")).expect("fixture weights");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    file.tensors()
        .iter()
        .map(|(_, view)| view.shape().iter().product::<usize>())
        .sum()
}

// `ModelError` is the crate's own error type, returned as is by the API under test.
#[allow(clippy::result_large_err)]
fn parse(value: &Value) -> Result<ModelConfig> {
    ModelConfig::from_hf_json(&value.to_string())
}

/// Asserts `InvalidConfig` for `key`, with a reason containing `needle`.
fn assert_invalid(result: Result<ModelConfig>, key: &str, needle: &str) {
    match result {
        Err(ModelError::InvalidConfig { key: k, reason }) => {
            assert_eq!(k, key, "reason: {reason}");
            assert!(
                reason.contains(needle),
                "reason `{reason}` lacks `{needle}`"
            );
        }
        other => panic!("expected InvalidConfig({key}), got {other:?}"),
    }
}

fn assert_missing(result: Result<ModelConfig>, key: &str) {
    match result {
        Err(ModelError::MissingConfigKey { key: k }) => assert_eq!(k, key),
        other => panic!("expected MissingConfigKey({key}), got {other:?}"),
    }
}

/// A minimal valid Llama config (the tiny-llama shape, transformers-4 style).
fn llama_json() -> Value {
    json!({
        "model_type": "llama",
        "vocab_size": 128,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 176,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu"
    })
}

/// A minimal valid GPT-2 config (the tiny-gpt2 shape).
fn gpt2_json() -> Value {
    json!({
        "model_type": "gpt2",
        "vocab_size": 96,
        "n_embd": 64,
        "n_layer": 2,
        "n_head": 4,
        "n_positions": 128,
        "n_inner": null,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

#[test]
fn tiny_gpt2_fixture() {
    let config = ModelConfig::from_hf_file(format!("{TINY_GPT2}/config.json")).unwrap();
    let expected = ModelConfig {
        architecture: Architecture::Gpt2,
        vocab_size: 96,
        hidden_size: 64,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 4,
        head_dim: 16,
        intermediate_size: 256,
        max_position_embeddings: 128,
        norm_eps: 1e-5,
        rope_theta: 10_000.0,
        activation: Activation::GeluTanh,
        tie_word_embeddings: true,
        attention_bias: true,
        mlp_bias: true,
        bos_token_id: Some(95),
        eos_token_ids: vec![95],
        extras: FamilyParams::default(),
    };
    assert_eq!(config, expected);
    assert_eq!(config.param_count(), 114_432);
    assert_eq!(config.param_count(), safetensors_numel(TINY_GPT2));
    assert_eq!(
        (config.q_dim(), config.kv_dim(), config.kv_group_size()),
        (64, 64, 1)
    );
}

#[test]
fn tiny_llama_fixtures() {
    for dir in [TINY_LLAMA, TINY_LLAMA_BF16] {
        let config = ModelConfig::from_hf_file(format!("{dir}/config.json")).unwrap();
        let expected = ModelConfig {
            architecture: Architecture::Llama,
            vocab_size: 128,
            hidden_size: 64,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: 16,
            intermediate_size: 176,
            max_position_embeddings: 256,
            norm_eps: 1e-5,
            rope_theta: 10_000.0,
            activation: Activation::Silu,
            tie_word_embeddings: true,
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: Some(1),
            eos_token_ids: vec![2],
            extras: FamilyParams::default(),
        };
        assert_eq!(config, expected, "{dir}");
        assert_eq!(config.param_count(), 100_672);
        assert_eq!(config.param_count(), safetensors_numel(dir), "{dir}");
        assert_eq!(
            (config.q_dim(), config.kv_dim(), config.kv_group_size()),
            (64, 32, 2)
        );
    }
}

#[test]
fn smollm2_135m_instruct() {
    let config = parse(&json!({
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": 64,
        "hidden_act": "silu",
        "hidden_size": 576,
        "initializer_range": 0.041666666666666664,
        "intermediate_size": 1536,
        "is_llama_config": true,
        "max_position_embeddings": 8192,
        "mlp_bias": false,
        "model_type": "llama",
        "num_attention_heads": 9,
        "num_hidden_layers": 30,
        "num_key_value_heads": 3,
        "pad_token_id": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_interleaved": false,
        "rope_scaling": null,
        "rope_theta": 100000,
        "tie_word_embeddings": true,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.42.3",
        "use_cache": true,
        "vocab_size": 49152
    }))
    .unwrap();
    assert_eq!(config.architecture, Architecture::Llama);
    assert_eq!((config.hidden_size, config.num_layers), (576, 30));
    assert_eq!(
        (config.num_heads, config.num_kv_heads, config.head_dim),
        (9, 3, 64)
    );
    assert_eq!((config.intermediate_size, config.vocab_size), (1536, 49152));
    assert_eq!(config.max_position_embeddings, 8192);
    assert_eq!(config.rope_theta, 100_000.0);
    assert_eq!(config.norm_eps, 1e-5);
    assert!(config.tie_word_embeddings);
    assert_eq!(
        (config.q_dim(), config.kv_dim(), config.kv_group_size()),
        (576, 192, 3)
    );
    // 134.5 M, as WORKLOADS.md lists for M-smollm2.
    assert_eq!(config.param_count(), 134_515_008);
}

#[test]
fn from_hf_file_io_error_names_the_path() {
    let path = format!("{TINY_GPT2}/no-such-config.json");
    match ModelConfig::from_hf_file(&path) {
        Err(err @ ModelError::Io { .. }) => {
            assert!(err.to_string().contains("no-such-config.json"), "{err}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn malformed_json_and_non_objects() {
    assert!(matches!(
        ModelConfig::from_hf_json("{\"model_type\": "),
        Err(ModelError::ConfigJson(_))
    ));
    assert!(matches!(
        ModelConfig::from_hf_json(""),
        Err(ModelError::ConfigJson(_))
    ));
    assert_invalid(ModelConfig::from_hf_json("[1, 2]"), "config.json", "array");
    assert_invalid(ModelConfig::from_hf_json("42"), "config.json", "number");
}

#[test]
fn llama_top_level_rope_theta_and_defaults() {
    let config = parse(&with(
        without(llama_json(), "rms_norm_eps"),
        "rope_theta",
        json!(500000),
    ))
    .unwrap();
    assert_eq!(config.rope_theta, 500_000.0);
    assert_eq!(config.norm_eps, 1e-6, "HF LlamaConfig default rms_norm_eps");
    assert!(
        !config.tie_word_embeddings,
        "HF LlamaConfig default: untied"
    );
    assert!(!config.attention_bias && !config.mlp_bias);
    assert_eq!(config.head_dim, 16, "hidden_size / heads");
    assert_eq!(config.bos_token_id, None);
    assert!(config.eos_token_ids.is_empty());

    let no_rope = parse(&without(llama_json(), "rope_theta")).unwrap();
    assert_eq!(no_rope.rope_theta, 10_000.0);
    let no_act = parse(&without(llama_json(), "hidden_act")).unwrap();
    assert_eq!(no_act.activation, Activation::Silu);
    let no_kv = parse(&without(llama_json(), "num_key_value_heads")).unwrap();
    assert_eq!(no_kv.num_kv_heads, 4);
    let null_kv = parse(&with(llama_json(), "num_key_value_heads", Value::Null)).unwrap();
    assert_eq!(null_kv.num_kv_heads, 4);
}

#[test]
fn llama_rope_parameters() {
    let v5 = without(llama_json(), "rope_theta");
    let config = parse(&with(
        v5.clone(),
        "rope_parameters",
        json!({"rope_theta": 250000.0, "rope_type": "default"}),
    ))
    .unwrap();
    assert_eq!(config.rope_theta, 250_000.0);
    // rope_parameters wins over a stale top-level rope_theta.
    let both = with(
        llama_json(),
        "rope_parameters",
        json!({"rope_theta": 1234.0, "rope_type": "default"}),
    );
    assert_eq!(parse(&both).unwrap().rope_theta, 1234.0);
    // rope_parameters without a theta falls back to the top level.
    let bare = with(
        llama_json(),
        "rope_parameters",
        json!({"rope_type": "default"}),
    );
    assert_eq!(parse(&bare).unwrap().rope_theta, 10_000.0);
    // A default rope_scaling is accepted.
    let scaling = with(
        llama_json(),
        "rope_scaling",
        json!({"rope_type": "default"}),
    );
    assert_eq!(parse(&scaling).unwrap().rope_theta, 10_000.0);
}

#[test]
fn llama_scaled_rope_becomes_frequency_divisors() {
    // Llama 3.2's published parameters; head_dim 16 here, so 8 frequencies.
    let llama3 = json!({"rope_theta": 500000.0, "rope_type": "llama3", "factor": 32.0,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192});
    let config = parse(&with(llama_json(), "rope_parameters", llama3.clone())).unwrap();
    assert_eq!(config.rope_theta, 500_000.0);
    let divisors = &config.extras.rope_divisors;
    assert_eq!(divisors.len(), config.head_dim / 2);
    // The shortest wavelengths are kept, the longest divided by the factor.
    assert_eq!(divisors[0], 1.0);
    assert_eq!(divisors[divisors.len() - 1], 32.0);
    let old_style = with(
        with(llama_json(), "rope_theta", json!(500000.0)),
        "rope_scaling",
        llama3.clone(),
    );
    assert_eq!(parse(&old_style).unwrap(), config);
    let mut missing = llama3;
    missing.as_object_mut().unwrap().remove("low_freq_factor");
    assert_missing(
        parse(&with(llama_json(), "rope_parameters", missing)),
        "low_freq_factor",
    );
    let linear = json!({"type": "linear", "factor": 2.0});
    let config = parse(&with(llama_json(), "rope_scaling", linear)).unwrap();
    assert_eq!(config.extras.rope_divisors, vec![2.0; config.head_dim / 2]);
}

#[test]
fn llama_unknown_rope_is_rejected() {
    let dynamic = json!({"rope_type": "dynamic", "factor": 4.0});
    assert_invalid(
        parse(&with(llama_json(), "rope_parameters", dynamic)),
        "rope_parameters",
        "dynamic",
    );
    assert_invalid(
        parse(&with(llama_json(), "rope_parameters", json!(5))),
        "rope_parameters",
        "object",
    );
}

#[test]
fn eos_token_id_int_or_list() {
    let list = parse(&with(llama_json(), "eos_token_id", json!([2, 7, 9]))).unwrap();
    assert_eq!(list.eos_token_ids, vec![2, 7, 9]);
    let one = parse(&with(llama_json(), "eos_token_id", json!(5))).unwrap();
    assert_eq!(one.eos_token_ids, vec![5]);
    let null = parse(&with(llama_json(), "eos_token_id", Value::Null)).unwrap();
    assert!(null.eos_token_ids.is_empty());
    assert_invalid(
        parse(&with(llama_json(), "eos_token_id", json!([2, -1]))),
        "eos_token_id",
        "-1",
    );
    assert_invalid(
        parse(&with(llama_json(), "eos_token_id", json!("2"))),
        "eos_token_id",
        "string",
    );
    assert_invalid(
        parse(&with(llama_json(), "bos_token_id", json!(1.5))),
        "bos_token_id",
        "1.5",
    );
}

#[test]
fn missing_keys_are_named() {
    for key in [
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
        "max_position_embeddings",
    ] {
        let result = parse(&without(llama_json(), key));
        assert_missing(result, key);
        // null counts as absent
        assert_missing(parse(&with(llama_json(), key, Value::Null)), key);
    }
    for key in ["n_embd", "n_layer", "n_head", "vocab_size"] {
        assert_missing(parse(&without(gpt2_json(), key)), key);
    }
    assert_missing(parse(&without(gpt2_json(), "n_positions")), "n_positions");
    assert_missing(parse(&json!({"vocab_size": 3})), "model_type");
    let err = parse(&without(llama_json(), "hidden_size")).unwrap_err();
    assert!(err.to_string().contains("hidden_size"), "{err}");
}

#[test]
fn unsupported_architectures() {
    for name in ["falcon", "olmo", "bert"] {
        match parse(&with(llama_json(), "model_type", json!(name))) {
            Err(err @ ModelError::UnsupportedArchitecture(_)) => {
                let text = err.to_string();
                assert!(text.contains(&format!("`{name}`")), "{text}");
                assert!(text.contains("(supported: gpt2, llama, "), "{text}");
            }
            other => panic!("expected UnsupportedArchitecture({name}), got {other:?}"),
        }
    }
    let by_class = with(
        without(llama_json(), "model_type"),
        "architectures",
        json!(["FalconForCausalLM"]),
    );
    match parse(&by_class) {
        Err(err @ ModelError::UnsupportedArchitecture(_)) => {
            assert!(err.to_string().contains("FalconForCausalLM"))
        }
        other => panic!("expected UnsupportedArchitecture, got {other:?}"),
    }
    assert_invalid(
        parse(&with(llama_json(), "model_type", json!(3))),
        "model_type",
        "number",
    );
}

#[test]
fn architecture_from_architectures_list() {
    let llama = with(
        without(llama_json(), "model_type"),
        "architectures",
        json!(["LlamaForCausalLM"]),
    );
    assert_eq!(parse(&llama).unwrap().architecture, Architecture::Llama);
    let gpt2 = with(
        without(gpt2_json(), "model_type"),
        "architectures",
        json!(["GPT2LMHeadModel"]),
    );
    assert_eq!(parse(&gpt2).unwrap().architecture, Architecture::Gpt2);
}

#[test]
fn gpt2_activations() {
    for (name, act) in [
        ("gelu_new", Activation::GeluTanh),
        ("gelu_pytorch_tanh", Activation::GeluTanh),
        ("gelu_fast", Activation::GeluTanh),
        ("gelu", Activation::GeluErf),
    ] {
        let config = parse(&with(gpt2_json(), "activation_function", json!(name))).unwrap();
        assert_eq!(config.activation, act, "{name}");
    }
    for bad in ["relu", "swish", "silu", "quick_gelu"] {
        assert_invalid(
            parse(&with(gpt2_json(), "activation_function", json!(bad))),
            "activation_function",
            bad,
        );
    }
    assert_invalid(
        parse(&with(llama_json(), "hidden_act", json!("gelu"))),
        "hidden_act",
        "gelu",
    );
}

#[test]
fn gpt2_defaults_and_alternatives() {
    let bare = without(
        without(
            without(gpt2_json(), "activation_function"),
            "layer_norm_epsilon",
        ),
        "n_inner",
    );
    let config = parse(&bare).unwrap();
    assert_eq!(config.activation, Activation::GeluTanh);
    assert_eq!(config.norm_eps, 1e-5);
    assert_eq!(config.intermediate_size, 256);
    assert!(config.tie_word_embeddings, "GPT-2 ties by default");
    assert!(config.attention_bias && config.mlp_bias);

    let n_ctx = with(without(gpt2_json(), "n_positions"), "n_ctx", json!(512));
    assert_eq!(parse(&n_ctx).unwrap().max_position_embeddings, 512);
    let inner = parse(&with(gpt2_json(), "n_inner", json!(100))).unwrap();
    assert_eq!(inner.intermediate_size, 100);
    let untied = parse(&with(gpt2_json(), "tie_word_embeddings", json!(false))).unwrap();
    assert_eq!(untied.param_count(), 114_432 + 96 * 64);

    assert_invalid(
        parse(&with(
            gpt2_json(),
            "scale_attn_by_inverse_layer_idx",
            json!(true),
        )),
        "scale_attn_by_inverse_layer_idx",
        "not supported",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "scale_attn_weights", json!(false))),
        "scale_attn_weights",
        "not supported",
    );
}

#[test]
fn heads_must_divide() {
    assert_invalid(
        parse(&with(llama_json(), "num_key_value_heads", json!(3))),
        "num_key_value_heads",
        "multiple",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "n_head", json!(5))),
        "n_head",
        "divisible",
    );
    assert_invalid(
        parse(&with(llama_json(), "num_attention_heads", json!(5))),
        "num_attention_heads",
        "divisible",
    );
    // An explicit head_dim frees the Llama width from heads · head_dim.
    let wide = with(
        with(llama_json(), "num_attention_heads", json!(5)),
        "head_dim",
        json!(8),
    );
    let wide = with(wide, "num_key_value_heads", json!(5));
    let config = parse(&wide).unwrap();
    assert_eq!((config.q_dim(), config.kv_dim()), (40, 40));
    assert_invalid(
        parse(&with(llama_json(), "head_dim", json!(15))),
        "head_dim",
        "odd",
    );
}

#[test]
fn zero_negative_and_mistyped_values() {
    assert_invalid(
        parse(&with(llama_json(), "vocab_size", json!(0))),
        "vocab_size",
        "at least 1",
    );
    assert_invalid(
        parse(&with(llama_json(), "hidden_size", json!(0))),
        "hidden_size",
        "at least 1",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "n_embd", json!(0))),
        "n_embd",
        "at least 1",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "n_layer", json!(0))),
        "n_layer",
        "at least 1",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "n_head", json!(0))),
        "n_head",
        "at least 1",
    );
    assert_invalid(
        parse(&with(llama_json(), "num_attention_heads", json!(0))),
        "num_attention_heads",
        "at least 1",
    );
    assert_invalid(
        parse(&with(llama_json(), "num_key_value_heads", json!(0))),
        "num_key_value_heads",
        "at least 1",
    );
    assert_invalid(
        parse(&with(llama_json(), "intermediate_size", json!(0))),
        "intermediate_size",
        "at least 1",
    );
    assert_invalid(
        parse(&with(llama_json(), "max_position_embeddings", json!(0))),
        "max_position_embeddings",
        "at least 1",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "n_inner", json!(0))),
        "n_inner",
        "at least 1",
    );
    assert_invalid(
        parse(&with(llama_json(), "rms_norm_eps", json!(0.0))),
        "rms_norm_eps",
        "> 0",
    );
    assert_invalid(
        parse(&with(llama_json(), "rms_norm_eps", json!(-1e-5))),
        "rms_norm_eps",
        "> 0",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "layer_norm_epsilon", json!(0))),
        "layer_norm_epsilon",
        "> 0",
    );
    assert_invalid(
        parse(&with(gpt2_json(), "layer_norm_epsilon", json!(1e300))),
        "layer_norm_epsilon",
        "f32",
    );
    assert_invalid(
        parse(&with(llama_json(), "rope_theta", json!(-5.0))),
        "rope_theta",
        "> 0",
    );
    assert_invalid(
        parse(&with(llama_json(), "rope_theta", json!(0))),
        "rope_theta",
        "> 0",
    );
    assert_invalid(
        parse(&with(llama_json(), "hidden_size", json!(-64))),
        "hidden_size",
        "-64",
    );
    assert_invalid(
        parse(&with(llama_json(), "hidden_size", json!(64.5))),
        "hidden_size",
        "64.5",
    );
    assert_invalid(
        parse(&with(llama_json(), "hidden_size", json!("64"))),
        "hidden_size",
        "string",
    );
    assert_invalid(
        parse(&with(llama_json(), "tie_word_embeddings", json!("yes"))),
        "tie_word_embeddings",
        "boolean",
    );
    assert_invalid(
        parse(&with(llama_json(), "hidden_act", json!(["silu"]))),
        "hidden_act",
        "array",
    );
}

#[test]
fn huge_sizes_do_not_overflow() {
    let huge = with(
        with(gpt2_json(), "vocab_size", json!(1u64 << 31)),
        "n_embd",
        json!(1u64 << 40),
    );
    let huge = with(huge, "n_head", json!(1));
    assert_invalid(parse(&huge), "n_embd", "overflow");
    let endless = with(llama_json(), "max_position_embeddings", json!(1u64 << 62));
    assert_invalid(parse(&endless), "max_position_embeddings", "overflow");
    let too_many_tokens = with(gpt2_json(), "vocab_size", json!((1u64 << 32) + 1));
    assert_invalid(parse(&too_many_tokens), "vocab_size", "u32");
    let big_gpt2_width = with(
        with(gpt2_json(), "n_embd", json!(u64::MAX)),
        "n_head",
        json!(1),
    );
    assert_invalid(parse(&big_gpt2_width), "n_embd", "too large");
}

#[test]
fn llama_biases_count() {
    let base = parse(&llama_json()).unwrap();
    let biased = parse(&with(
        with(llama_json(), "attention_bias", json!(true)),
        "mlp_bias",
        json!(true),
    ))
    .unwrap();
    let (d, f, layers) = (64, 176, 2);
    let per_layer = (base.q_dim() + 2 * base.kv_dim() + d) + (2 * f + d);
    assert_eq!(
        biased.param_count(),
        base.param_count() + layers * per_layer
    );
    // untied llama_json: + lm_head
    assert_eq!(base.param_count(), 100_672 + 128 * 64);
}

#[test]
fn validate_rejects_hand_built_configs() {
    let good = parse(&llama_json()).unwrap();
    good.validate().unwrap();
    let mut bad = good.clone();
    bad.head_dim = 0;
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidConfig {
            key: "head_dim",
            ..
        })
    ));
    let mut bad = good.clone();
    bad.activation = Activation::GeluErf;
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidConfig {
            key: "hidden_act",
            ..
        })
    ));
    let mut bad = good.clone();
    bad.norm_eps = f32::NAN;
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidConfig {
            key: "rms_norm_eps",
            ..
        })
    ));

    let gpt2 = parse(&gpt2_json()).unwrap();
    let mut bad = gpt2.clone();
    bad.num_kv_heads = 2;
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidConfig { key: "n_head", .. })
    ));
    let mut bad = gpt2.clone();
    bad.mlp_bias = false;
    assert!(bad.validate().is_err());
    let mut bad = gpt2.clone();
    bad.activation = Activation::Silu;
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidConfig {
            key: "activation_function",
            ..
        })
    ));
    let mut bad = gpt2;
    bad.num_kv_heads = 0;
    assert_eq!(bad.kv_group_size(), 0);
    assert!(bad.validate().is_err());
}

/// Any JSON value, with numbers biased toward the edges that matter here.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(2),
            Just(3),
            Just(64),
            Just(u64::MAX),
            Just(1 << 32),
            any::<u64>()
        ]
        .prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(0.0f64),
            Just(-1.0),
            Just(1e-5),
            Just(1e300),
            any::<f64>().prop_filter("finite", |x| x.is_finite())
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("gpt2"),
            Just("llama"),
            Just("silu"),
            Just("gelu_new"),
            Just("gelu"),
            Just("relu"),
            Just("default"),
            Just("llama3"),
            Just("linear"),
            Just("GPT2LMHeadModel"),
            Just("LlamaForCausalLM"),
            Just("")
        ]
        .prop_map(Value::from),
        ".{0,60}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(config_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys the parser reads, plus arbitrary ones.
fn config_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "model_type",
            "architectures",
            "vocab_size",
            "n_embd",
            "n_layer",
            "n_head",
            "n_positions",
            "n_ctx",
            "n_inner",
            "layer_norm_epsilon",
            "activation_function",
            "tie_word_embeddings",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "intermediate_size",
            "max_position_embeddings",
            "rms_norm_eps",
            "rope_theta",
            "rope_parameters",
            "rope_scaling",
            "rope_type",
            "type",
            "hidden_act",
            "attention_bias",
            "mlp_bias",
            "bos_token_id",
            "eos_token_id",
            "scale_attn_weights",
            "scale_attn_by_inverse_layer_idx",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

/// After a successful parse, the config is valid and its count exact.
fn check_ok(result: Result<ModelConfig>) {
    if let Ok(config) = result {
        config.validate().unwrap();
        assert!(config.param_count() < usize::MAX);
        // The full-context KV cache size is computable without overflow.
        let kv = config.num_layers * config.max_position_embeddings * config.kv_dim();
        assert!(kv.checked_mul(2).is_some());
        assert_eq!(
            config.num_heads,
            config.kv_group_size() * config.num_kv_heads
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_objects_never_panic(map in prop::collection::btree_map(config_key(), json_value(), 0..20)) {
        let value = Value::Object(map.into_iter().collect());
        check_ok(parse(&value));
    }

    #[test]
    fn mutated_valid_configs_never_panic(
        llama in any::<bool>(),
        edits in prop::collection::vec((config_key(), prop::option::of(json_value())), 0..5),
    ) {
        let mut value = if llama { llama_json() } else { gpt2_json() };
        let object = value.as_object_mut().unwrap();
        for (key, edit) in edits {
            match edit {
                Some(v) => { object.insert(key, v); }
                None => { object.remove(&key); }
            }
        }
        check_ok(parse(&value));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        check_ok(ModelConfig::from_hf_json(&text));
    }
}

#[test]
fn messages_read_well() {
    let cases = [
        parse(&without(llama_json(), "hidden_size")).unwrap_err(),
        parse(&with(gpt2_json(), "activation_function", json!("relu"))).unwrap_err(),
        parse(&with(llama_json(), "num_key_value_heads", json!(3))).unwrap_err(),
        parse(&with(
            llama_json(),
            "rope_parameters",
            json!({"rope_type": "llama3"}),
        ))
        .unwrap_err(),
        parse(&with(llama_json(), "model_type", json!("falcon"))).unwrap_err(),
        parse(&with(llama_json(), "hidden_size", json!("x".repeat(500)))).unwrap_err(),
        parse(&with(llama_json(), "hidden_act", json!("é".repeat(500)))).unwrap_err(),
        parse(&with(llama_json(), "model_type", json!("m".repeat(500)))).unwrap_err(),
        parse(&with(
            llama_json(),
            "rope_scaling",
            json!({"type": "y".repeat(500)}),
        ))
        .unwrap_err(),
    ];
    for err in &cases {
        let msg = err.to_string();
        println!("{msg}");
        assert!(msg.len() < 200, "{msg}");
    }
}

/// The Gemma 3 fixture's `config.json`.
fn gemma3_json() -> Value {
    let path = smallmind_testkit::fixture("families/gemma3/config.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn gemma3_config_reads_its_layers_and_refuses_what_it_does_not_run() {
    let config = parse(&gemma3_json()).unwrap();
    assert_eq!(config.architecture, Architecture::Gemma3);
    assert_eq!(config.extras.sliding_window, Some(8));
    assert_eq!(
        config.extras.local_layers,
        [true, true, true, true, true, false]
    );
    assert_eq!(config.extras.local_rope_theta, Some(10_000.0));
    assert_eq!(config.rope_theta, 1e6);
    assert_eq!(config.extras.query_pre_attn_scalar, Some(16.0));
    // Older configs: a pattern instead of the list (every 3rd layer global here).
    let older = with(
        without(gemma3_json(), "layer_types"),
        "sliding_window_pattern",
        json!(3),
    );
    let older = parse(&older).unwrap();
    assert_eq!(
        older.extras.local_layers,
        [true, true, false, true, true, false]
    );
    assert_invalid(
        parse(&with(gemma3_json(), "final_logit_softcapping", json!(30.0))),
        "final_logit_softcapping",
        "soft-capping",
    );
    assert_invalid(
        parse(&with(
            gemma3_json(),
            "layer_types",
            json!(["full_attention"]),
        )),
        "layer_types",
        "1 entries for 6 layers",
    );
    assert_missing(parse(&without(gemma3_json(), "hidden_size")), "hidden_size");
}

/// The Phi-3 fixture's `config.json`.
fn phi3_json() -> Value {
    let path = smallmind_testkit::fixture("families/phi3/config.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn phi3_partial_rotary_and_longrope() {
    let config = parse(&phi3_json()).unwrap();
    assert_eq!(config.architecture, Architecture::Phi3);
    assert_eq!((config.head_dim, config.rotary_dim()), (16, 12));
    assert_eq!(config.extras.rope_divisors, [1.0, 1.1, 1.3, 1.6, 2.0, 2.5]);
    let long = config.extras.rope_long.as_ref().unwrap();
    assert_eq!(long.long_divisors, [1.0, 1.5, 2.5, 4.0, 7.0, 11.0]);
    assert_eq!(long.original_context, 4);
    // √(1 + ln(128/4)/ln 4), transformers' default attention factor.
    let want = (1.0 + 32f64.ln() / 4f64.ln()).sqrt();
    let got = f64::from(config.extras.rope_attention_factor.unwrap());
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    assert_eq!(config.extras.sliding_window, Some(8));
}

#[test]
fn phi3_bad_rope_is_named() {
    let edit = |key: &str, value: Value| {
        let mut json = phi3_json();
        json["rope_parameters"][key] = value;
        json
    };
    assert_invalid(
        parse(&edit("short_factor", json!([1.0, 2.0]))),
        "short_factor",
        "need 6",
    );
    assert_invalid(
        parse(&edit("long_factor", json!(vec![1.0; 8]))),
        "long_factor",
        "need 6",
    );
    assert_invalid(
        parse(&edit("long_factor", json!("x"))),
        "long_factor",
        "array",
    );
    assert_invalid(
        parse(&edit(
            "short_factor",
            json!([1.0, 1.0, 1.0, 1.0, 1.0, -1.0]),
        )),
        "short_factor",
        "> 0",
    );
    assert_invalid(
        parse(&edit("partial_rotary_factor", json!(1.5))),
        "partial_rotary_factor",
        "(0, 1]",
    );
    // 16 · 0.1 = 1 rotary dim: odd.
    let partial = json!({"rope_type": "default", "partial_rotary_factor": 0.1});
    assert_invalid(
        parse(&with(
            with(llama_json(), "rope_parameters", partial),
            "head_dim",
            json!(16),
        )),
        "partial_rotary_factor",
        "even",
    );
    let mut json = phi3_json();
    json["rope_parameters"]
        .as_object_mut()
        .unwrap()
        .remove("long_factor");
    assert_missing(parse(&json), "long_factor");
    let mut json = phi3_json();
    json["rope_parameters"]
        .as_object_mut()
        .unwrap()
        .remove("original_max_position_embeddings");
    json.as_object_mut()
        .unwrap()
        .remove("original_max_position_embeddings");
    assert_missing(parse(&json), "original_max_position_embeddings");
}

#[test]
fn yarn_divisors_ramp_between_kept_and_divided() {
    let yarn = json!({
        "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
        "original_max_position_embeddings": 32, "beta_fast": 8.0, "beta_slow": 0.5
    });
    let json = with(
        with(llama_json(), "rope_parameters", yarn.clone()),
        "head_dim",
        json!(16),
    );
    let config = parse(&json).unwrap();
    // low = ⌊16·ln(32/(8·2π))/(2 ln 1e4)⌋ → 0, high = ⌈16·ln(32/(0.5·2π))/(2 ln 1e4)⌉ = 3:
    // the ramp is 0, 1/3, 2/3, then 1 (divided by 4) from frequency 3 on.
    let ramp = |r: f32| 1.0 / ((1.0 - r) + r / 4.0);
    let want = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0, 1.0, 1.0, 1.0].map(ramp);
    for (i, (g, w)) in config.extras.rope_divisors.iter().zip(want).enumerate() {
        assert!((g - w).abs() < 1e-6, "frequency {i}: {g} vs {w}");
    }
    let factor = config.extras.rope_attention_factor.unwrap();
    assert!((factor - (0.1 * 4f32.ln() + 1.0)).abs() < 1e-6, "{factor}");
    let mut missing = yarn;
    missing.as_object_mut().unwrap().remove("factor");
    assert_missing(
        parse(&with(llama_json(), "rope_parameters", missing)),
        "factor",
    );
}
