//! GPT-2 (Radford et al. 2019): LayerNorm with biases, learned positions, a
//! fused `c_attn` (Conv1D `[in, out]`) projection, a GELU MLP. Its tensors
//! keep their own names (`transformer.h.N.…`, built in `weights.rs`); it has
//! no GGUF form here.

use super::{BlockSpec, Family, MlpKind, NormKind, Positions, inverse_sqrt};
use crate::config::{Activation, Architecture, ModelConfig};
use smallmind_ops::mlp::Gelu;

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Gpt2,
    hf_model_type: "gpt2",
    hf_class: "GPT2LMHeadModel",
    hf_names: None,
    gguf: None,
    block,
    parse_hf: None,
    adjust_gguf: super::keep_gguf_config,
};

fn block(config: &ModelConfig) -> BlockSpec {
    let gelu = match config.activation {
        Activation::GeluErf => Gelu::Erf,
        // `validate` admits only the two GELU forms for GPT-2.
        Activation::GeluTanh | Activation::Silu => Gelu::Tanh,
    };
    BlockSpec {
        norm: NormKind::Layer,
        qkv_bias: true,
        out_bias: true,
        qk_norm: false,
        mlp: MlpKind::Plain(gelu),
        mlp_bias: true,
        positions: Positions::Learned,
        attention_scale: inverse_sqrt(config.head_dim),
        tied_head: config.tie_word_embeddings,
        norm_plus_one: false,
        post_norms: false,
        embedding_scale: None,
        local: None,
    }
}
