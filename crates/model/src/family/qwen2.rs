//! Qwen2 / Qwen2.5 (Qwen team 2024): the Llama block with biases on the Q, K
//! and V projections (never on the output projection), usually θ = 1e6.
//!
//! GGUF: llama.cpp's `qwen2` architecture, the Llama names plus
//! `attn_{q,k,v}.bias`; Q/K rows stay in HF order (rotate-half RoPE).

use super::llama::LLAMA_GGUF_BLOCK;
use super::{BlockSpec, Family, GgufNames, LLAMA_NAMES};
use crate::config::{Architecture, ModelConfig};

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Qwen2,
    hf_model_type: "qwen2",
    hf_class: "Qwen2ForCausalLM",
    hf_names: Some(LLAMA_NAMES),
    gguf: Some(GgufNames {
        arch: "qwen2",
        block: &[LLAMA_GGUF_BLOCK, QKV_BIASES],
        rope_permuted: false,
        gains_plus_one: false,
    }),
    block,
    parse_hf: None,
    adjust_gguf: super::keep_gguf_config,
};

/// The bias tensors of the Q, K, V projections.
pub const QKV_BIASES: &[(&str, &str)] = &[
    ("attn_q.bias", "self_attn.q_proj.bias"),
    ("attn_k.bias", "self_attn.k_proj.bias"),
    ("attn_v.bias", "self_attn.v_proj.bias"),
];

fn block(config: &ModelConfig) -> BlockSpec {
    BlockSpec {
        qkv_bias: true,
        out_bias: false,
        ..super::llama::block(config)
    }
}
