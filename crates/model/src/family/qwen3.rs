//! Qwen3 (Qwen team 2025): the Llama block with an RMSNorm over each query
//! and key head before RoPE (QK-norm), and a `head_dim` of its own
//! (`num_heads · head_dim` need not equal the width). `attention_bias`
//! applies to all four projections, as in Llama.
//!
//! GGUF: llama.cpp's `qwen3` architecture, the Llama names plus
//! `attn_{q,k}_norm.weight` (width `{arch}.attention.key_length`); Q/K rows
//! stay in HF order.

use super::llama::LLAMA_GGUF_BLOCK;
use super::{BlockSpec, Family, GgufNames, LLAMA_NAMES};
use crate::config::{Architecture, ModelConfig};

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Qwen3,
    hf_model_type: "qwen3",
    hf_class: "Qwen3ForCausalLM",
    hf_names: Some(LLAMA_NAMES),
    gguf: Some(GgufNames {
        arch: "qwen3",
        block: &[LLAMA_GGUF_BLOCK, QK_NORMS],
        rope_permuted: false,
        gains_plus_one: false,
    }),
    block,
    parse_hf: None,
    adjust_gguf: super::keep_gguf_config,
};

/// The per-head Q and K norm gains, `(head_dim,)` each.
pub const QK_NORMS: &[(&str, &str)] = &[
    ("attn_q_norm.weight", "self_attn.q_norm.weight"),
    ("attn_k_norm.weight", "self_attn.k_norm.weight"),
];

fn block(config: &ModelConfig) -> BlockSpec {
    BlockSpec {
        qk_norm: true,
        ..super::llama::block(config)
    }
}
