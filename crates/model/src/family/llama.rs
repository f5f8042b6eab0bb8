//! Llama (Touvron et al. 2023; SmolLM2 is one): RMSNorm, RoPE on every layer,
//! grouped-query attention, a SwiGLU MLP, optional biases
//! (`attention_bias`, `mlp_bias`).
//!
//! GGUF: llama.cpp's `llama` architecture. Its converter permutes the rows
//! of `attn_q`/`attn_k` for its interleaved RoPE (undone at load).

use super::{
    BlockSpec, Family, GgufNames, LLAMA_NAMES, MlpKind, NormKind, Positions, RopeSpec, inverse_sqrt,
};
use crate::config::{Architecture, ModelConfig};

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Llama,
    hf_model_type: "llama",
    hf_class: "LlamaForCausalLM",
    hf_names: Some(LLAMA_NAMES),
    gguf: Some(GgufNames {
        arch: "llama",
        block: &[LLAMA_GGUF_BLOCK],
        rope_permuted: true,
    }),
    block,
};

/// llama.cpp's block tensor names (`LLM_TENSOR_NAMES`) → the Llama layout's
/// HF names ([`LLAMA_NAMES`]), shared by the descendants stored the same way.
pub const LLAMA_GGUF_BLOCK: &[(&str, &str)] = &[
    ("attn_norm.weight", "input_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// The Llama block of `config` (also the base its descendants adjust).
pub fn block(config: &ModelConfig) -> BlockSpec {
    BlockSpec {
        norm: NormKind::Rms,
        qkv_bias: config.attention_bias,
        out_bias: config.attention_bias,
        qk_norm: false,
        mlp: MlpKind::SwiGlu,
        mlp_bias: config.mlp_bias,
        positions: Positions::Rotary(RopeSpec {
            theta: config.rope_theta,
            rotary_dim: config.head_dim,
        }),
        attention_scale: inverse_sqrt(config.head_dim),
        tied_head: config.tie_word_embeddings,
    }
}
