//! Gemma 3 (Gemma Team 2025), text part: the Llama layout with
//! - a GeGLU MLP (tanh GELU, `gelu_pytorch_tanh`) and embeddings × `√C`;
//! - RMSNorm gains applied as `1 + w`, and four norms per block: before and
//!   after attention, before and after the MLP (the "after" ones on the
//!   sub-layer's output, before its residual add);
//! - a per-head RMSNorm on Q and K (QK-norm, also `1 + w`);
//! - scores scaled by `query_pre_attn_scalar^(−1/2)`;
//! - interleaved local (sliding-window) and global layers, each kind with
//!   its own RoPE base (`rope_parameters.{sliding,full}_attention`).
//!
//! `config.json` (`model_type: gemma3_text`): `layer_types` lists each
//! layer's kind (older configs: `sliding_window_pattern`, every n-th layer
//! global). GGUF (llama.cpp's `gemma3`): norm gains are stored with the +1
//! baked in; llama.cpp fixes the pattern (5 local, 1 global), the local base
//! (10000) and the score scale (`1/√head_dim`, all sizes but 27B), and reads
//! the window from `gemma3.attention.sliding_window`.

use smallmind_ops::mlp::GateActivation;

use super::{BlockSpec, Family, GgufNames, LLAMA_NAMES, MlpKind};
use crate::config::{
    Activation, Architecture, FamilyParams, Keys, ModelConfig, clip, invalid, rope_divisors,
};
use crate::error::{ModelError, Result};
use crate::gguf::config::ArchKeys;

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Gemma3,
    hf_model_type: "gemma3_text",
    hf_class: "Gemma3ForCausalLM",
    hf_names: Some(super::HfNames {
        mlp_norm: "pre_feedforward_layernorm",
        ..LLAMA_NAMES
    }),
    gguf: Some(GgufNames {
        arch: "gemma3",
        block: &[GEMMA3_GGUF_BLOCK],
        rope_permuted: false,
        gains_plus_one: true,
    }),
    block,
    parse_hf: Some(parse_hf),
    adjust_gguf,
};

/// llama.cpp's Gemma 3 block tensors → HF names.
const GEMMA3_GGUF_BLOCK: &[(&str, &str)] = &[
    ("attn_norm.weight", "input_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_q_norm.weight", "self_attn.q_norm.weight"),
    ("attn_k_norm.weight", "self_attn.k_norm.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    (
        "post_attention_norm.weight",
        "post_attention_layernorm.weight",
    ),
    ("ffn_norm.weight", "pre_feedforward_layernorm.weight"),
    ("post_ffw_norm.weight", "post_feedforward_layernorm.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// Every `n`-th layer is global in llama.cpp's Gemma 3 (and in transformers'
/// default `sliding_window_pattern`).
const PATTERN: usize = 6;
/// The local layers' RoPE base llama.cpp uses for Gemma 3 (HF's default).
const LOCAL_ROPE_THETA: f32 = 10_000.0;

fn block(config: &ModelConfig) -> BlockSpec {
    BlockSpec {
        qk_norm: true,
        mlp: MlpKind::Gated(GateActivation::GeluTanh),
        norm_plus_one: true,
        post_norms: true,
        embedding_scale: Some((config.hidden_size as f32).sqrt()),
        ..super::llama::block(config)
    }
}

/// `layers` layers with every `pattern`-th one global.
fn local_pattern(layers: usize, pattern: usize) -> Vec<bool> {
    (0..layers)
        .map(|i| pattern == 0 || i % pattern < pattern - 1)
        .collect()
}

/// The Gemma 3 keys of `config.json` (transformers' `Gemma3TextConfig`;
/// defaults are its defaults).
fn parse_hf(keys: &Keys<'_>) -> Result<ModelConfig> {
    for key in ["final_logit_softcapping", "attn_logit_softcapping"] {
        if keys.get(key).is_some() {
            return Err(invalid(
                key,
                "soft-capping is not implemented (Gemma 3 has none: null)".into(),
            ));
        }
    }
    let num_layers = keys.usize_req("num_hidden_layers")?;
    let num_heads = keys.usize_req("num_attention_heads")?;
    let head_dim = keys.usize_opt("head_dim")?.unwrap_or(256);
    let activation = match keys
        .str_opt("hidden_activation")?
        .unwrap_or("gelu_pytorch_tanh")
    {
        "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Activation::GeluTanh,
        other => {
            return Err(invalid(
                "hidden_activation",
                format!(
                    "`{}` is not supported (supported: gelu_pytorch_tanh)",
                    clip(other)
                ),
            ));
        }
    };
    let (global, local) = ropes(keys, head_dim)?;
    Ok(ModelConfig {
        architecture: Architecture::Gemma3,
        vocab_size: keys.usize_req("vocab_size")?,
        hidden_size: keys.usize_req("hidden_size")?,
        num_layers,
        num_heads,
        num_kv_heads: keys.usize_opt("num_key_value_heads")?.unwrap_or(num_heads),
        head_dim,
        intermediate_size: keys.usize_req("intermediate_size")?,
        max_position_embeddings: keys.usize_req("max_position_embeddings")?,
        norm_eps: keys.f32_opt("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: global.0,
        activation,
        tie_word_embeddings: keys.bool_opt("tie_word_embeddings")?.unwrap_or(true),
        attention_bias: keys.bool_opt("attention_bias")?.unwrap_or(false),
        mlp_bias: false,
        bos_token_id: keys.bos_token_id()?,
        eos_token_ids: keys.eos_token_ids()?,
        extras: FamilyParams {
            rope_divisors: global.1,
            sliding_window: Some(keys.usize_opt("sliding_window")?.unwrap_or(4096)),
            local_layers: layer_types(keys, num_layers)?,
            local_rope_theta: Some(local),
            query_pre_attn_scalar: Some(keys.f32_opt("query_pre_attn_scalar")?.unwrap_or(256.0)),
            ..FamilyParams::default()
        },
    })
}

/// `((θ, divisors) of the global layers, θ of the local ones)`: from
/// `rope_parameters.{full,sliding}_attention` (transformers 5), else
/// `rope_theta` (1e6), `rope_scaling` and `rope_local_base_freq` (1e4).
fn ropes(keys: &Keys<'_>, head_dim: usize) -> Result<((f32, Vec<f32>), f32)> {
    let Some(params) = keys.object_opt("rope_parameters")? else {
        let theta = keys.f32_opt("rope_theta")?.unwrap_or(1e6);
        let divisors = match keys.object_opt("rope_scaling")? {
            Some(scaling) => rope_divisors("rope_scaling", &scaling, keys, theta, head_dim)?,
            None => Vec::new(),
        };
        let local = keys
            .f32_opt("rope_local_base_freq")?
            .unwrap_or(LOCAL_ROPE_THETA);
        return Ok(((theta, divisors), local));
    };
    let full = params
        .object_opt("full_attention")?
        .ok_or(ModelError::MissingConfigKey {
            key: "full_attention",
        })?;
    let theta = full.f32_opt("rope_theta")?.unwrap_or(1e6);
    let divisors = rope_divisors("full_attention", &full, keys, theta, head_dim)?;
    let local = match params.object_opt("sliding_attention")? {
        Some(sliding) => {
            let local = sliding.f32_opt("rope_theta")?.unwrap_or(LOCAL_ROPE_THETA);
            if !rope_divisors("sliding_attention", &sliding, keys, local, head_dim)?.is_empty() {
                return Err(invalid(
                    "sliding_attention",
                    "scaled RoPE on the local layers is not supported".into(),
                ));
            }
            local
        }
        None => LOCAL_ROPE_THETA,
    };
    Ok(((theta, divisors), local))
}

/// Which layers are local: `layer_types` (`sliding_attention` /
/// `full_attention`, one per layer), else `sliding_window_pattern` (6).
fn layer_types(keys: &Keys<'_>, num_layers: usize) -> Result<Vec<bool>> {
    const KEY: &str = "layer_types";
    let Some(list) = keys.get(KEY) else {
        let pattern = keys.usize_opt("sliding_window_pattern")?.unwrap_or(PATTERN);
        return Ok(local_pattern(num_layers, pattern));
    };
    let items = list
        .as_array()
        .ok_or_else(|| invalid(KEY, "expected an array of layer types".into()))?;
    if items.len() != num_layers {
        return Err(invalid(
            KEY,
            format!("{} entries for {num_layers} layers", items.len()),
        ));
    }
    items
        .iter()
        .map(|item| match item.as_str() {
            Some("sliding_attention") => Ok(true),
            Some("full_attention") => Ok(false),
            _ => Err(invalid(
                KEY,
                format!("{item} is not `sliding_attention` or `full_attention`"),
            )),
        })
        .collect()
}

/// The Gemma 3 specifics llama.cpp reads or fixes (see the module docs).
fn adjust_gguf(keys: &ArchKeys<'_>, mut config: ModelConfig) -> Result<ModelConfig> {
    let window = keys.int("attention.sliding_window")?;
    config.activation = Activation::GeluTanh;
    config.extras = FamilyParams {
        sliding_window: Some(window),
        local_layers: local_pattern(config.num_layers, PATTERN),
        local_rope_theta: Some(LOCAL_ROPE_THETA),
        query_pre_attn_scalar: Some(config.head_dim as f32),
        ..config.extras
    };
    Ok(config)
}
