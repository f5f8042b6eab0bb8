//! Phi-3 / Phi-3.5 / Phi-4-mini (Abdin et al. 2024): the Llama block with
//! - one fused `C → q|k|v` projection (`self_attn.qkv_proj`, GGUF
//!   `attn_qkv`), run as one layer;
//! - one fused `C → gate|up` projection (`mlp.gate_up_proj`, GGUF `ffn_up`
//!   of `2F` rows: gate rows first), split at load into two row views;
//! - partial rotary (`partial_rotary_factor`, GGUF `rope.dimension_count`):
//!   the first `R` dims of each head rotate;
//! - LongRoPE (`rope_type: "longrope"`, formerly `su`; GGUF
//!   `rope_factors_{long,short}.weight`): two sets of per-frequency divisors
//!   and the attention factor `√(1 + ln(s)/ln(L₀))` on cos and sin, with
//!   `s = max_position_embeddings / L₀` and `L₀` the original context (see
//!   [`crate::config::LongRope`] for which set a session uses);
//! - an optional sliding window on every layer (`sliding_window`; Phi-3-mini
//!   has 2047). transformers applies it; llama.cpp reads
//!   `phi3.attention.sliding_window` but disables it. We apply it.
//!
//! GGUF: llama.cpp's `phi3` architecture. Q/K rows stay in HF order
//! (rotate-half RoPE). The converter stores the attention factor as
//! `phi3.rope.scaling.attn_factor` and `L₀` as
//! `phi3.rope.scaling.original_context_length`; `sliding_window = 0` means
//! none (Phi-4).

use super::{Family, GgufNames, HfNames, LLAMA_NAMES};
use crate::config::{Architecture, Keys, ModelConfig, parse_llama};
use crate::error::Result;
use crate::gguf::config::ArchKeys;

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Phi3,
    hf_model_type: "phi3",
    hf_class: "Phi3ForCausalLM",
    hf_names: Some(HfNames {
        fused_qkv: Some("self_attn.qkv_proj"),
        fused_gate_up: Some("mlp.gate_up_proj"),
        ..LLAMA_NAMES
    }),
    gguf: Some(GgufNames {
        arch: "phi3",
        block: &[PHI3_GGUF_BLOCK],
        rope_permuted: false,
        gains_plus_one: false,
    }),
    block: super::llama::block,
    parse_hf: Some(parse_hf),
    adjust_gguf,
};

/// llama.cpp's Phi-3 block tensors → HF names.
const PHI3_GGUF_BLOCK: &[(&str, &str)] = &[
    ("attn_norm.weight", "input_layernorm.weight"),
    ("attn_qkv.weight", "self_attn.qkv_proj.weight"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("ffn_up.weight", "mlp.gate_up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// The Llama keys (RoPE scaling, partial rotary included) plus
/// `sliding_window` (every layer local; `null`: none).
fn parse_hf(keys: &Keys<'_>) -> Result<ModelConfig> {
    let mut config = parse_llama(keys, Architecture::Phi3)?;
    config.extras.sliding_window = keys.usize_opt("sliding_window")?;
    Ok(config)
}

/// `phi3.attention.sliding_window` (absent or 0: none); the RoPE keys are
/// read for every architecture ([`ModelConfig::from_gguf`]).
fn adjust_gguf(keys: &ArchKeys<'_>, mut config: ModelConfig) -> Result<ModelConfig> {
    config.extras.sliding_window = keys.int_opt("attention.sliding_window")?.filter(|&w| w > 0);
    Ok(config)
}

/// LongRoPE's attention factor for a context `factor` times the original
/// `original_context`: `√(1 + ln(factor)/ln(original_context))`, 1 when the
/// context is not extended (transformers' `_compute_longrope_parameters`,
/// llama.cpp's converter).
pub fn longrope_attention_factor(factor: f32, original_context: usize) -> f32 {
    if factor <= 1.0 || original_context < 2 {
        return 1.0;
    }
    let (s, l) = (f64::from(factor), original_context as f64);
    (1.0 + s.ln() / l.ln()).sqrt() as f32
}
