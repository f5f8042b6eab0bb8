//! Llama (Touvron et al. 2023; SmolLM2 is one): RMSNorm, RoPE on every layer,
//! grouped-query attention, a SwiGLU MLP, optional biases
//! (`attention_bias`, `mlp_bias`).
//!
//! GGUF: llama.cpp's `llama` architecture. Its converter permutes the rows
//! of `attn_q`/`attn_k` for its interleaved RoPE (undone at load).

use super::{
    BlockSpec, Family, GgufNames, LLAMA_NAMES, LocalAttention, MlpKind, NormKind, Positions,
    RopeSpec, inverse_sqrt,
};
use crate::config::{Activation, Architecture, ModelConfig};
use crate::error::Result;
use crate::gguf::config::ArchKeys;
use smallmind_ops::mlp::GateActivation;

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
        gains_plus_one: false,
    }),
    block,
    parse_hf: None,
    adjust_gguf,
};

/// The optional `llama.attention.sliding_window` (Mistral converted to
/// `llama`; see [`super::mistral`]): every layer local.
fn adjust_gguf(keys: &ArchKeys<'_>, mut config: ModelConfig) -> Result<ModelConfig> {
    config.extras.sliding_window = keys.int_opt("attention.sliding_window")?;
    Ok(config)
}

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

/// The Llama block of `config` (also the base its descendants adjust): the
/// window, local θ and score scale of [`crate::FamilyParams`] apply to any
/// family in the Llama layout.
pub fn block(config: &ModelConfig) -> BlockSpec {
    BlockSpec {
        norm: NormKind::Rms,
        qkv_bias: config.attention_bias,
        out_bias: config.attention_bias,
        qk_norm: false,
        mlp: MlpKind::Gated(match config.activation {
            Activation::GeluTanh => GateActivation::GeluTanh,
            // `validate` admits only SiLU and tanh GELU for gated MLPs.
            Activation::Silu | Activation::GeluErf => GateActivation::Silu,
        }),
        mlp_bias: config.mlp_bias,
        positions: Positions::Rotary(RopeSpec {
            theta: config.rope_theta,
            rotary_dim: config.rotary_dim(),
            divisors: config.extras.rope_divisors.clone(),
            long: config.extras.rope_long.clone(),
            attention_factor: config.extras.rope_attention_factor.unwrap_or(1.0),
        }),
        attention_scale: match config.extras.query_pre_attn_scalar {
            Some(scalar) => 1.0 / scalar.sqrt(),
            None => inverse_sqrt(config.head_dim),
        },
        tied_head: config.tie_word_embeddings,
        norm_plus_one: false,
        post_norms: false,
        embedding_scale: None,
        local: config.extras.sliding_window.map(|window| LocalAttention {
            window,
            layers: match &config.extras.local_layers {
                every if every.is_empty() => vec![true; config.num_layers],
                some => some.clone(),
            },
            rope: config.extras.local_rope_theta.map(|theta| RopeSpec {
                theta,
                rotary_dim: config.rotary_dim(),
                divisors: Vec::new(),
                long: None,
                attention_factor: 1.0,
            }),
        }),
    }
}

/// Llama 3.1's RoPE scaling parameters (`rope_type: "llama3"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3Scaling {
    /// How much longer the new context is (`factor`).
    pub factor: f32,
    /// Wavelengths beyond `original_context / low_freq_factor` are divided by `factor`.
    pub low_freq_factor: f32,
    /// Wavelengths below `original_context / high_freq_factor` are kept.
    pub high_freq_factor: f32,
    /// The context the model was first trained on (`original_max_position_embeddings`).
    pub original_context: f32,
}

/// The divisor of each RoPE frequency `θ^(−2i/D)` under Llama 3.1's scaling:
/// 1 for short wavelengths `2π/f`, `factor` for long ones, and in between
/// `1 / ((1 − s)/factor + s)` with `s = (original/λ − low) / (high − low)`,
/// the smooth blend transformers' `_compute_llama3_parameters` applies
/// (the same values llama.cpp's converter stores as `rope_freqs.weight`).
pub fn llama3_divisors(theta: f32, head_dim: usize, scaling: &Llama3Scaling) -> Vec<f32> {
    let Llama3Scaling {
        factor,
        low_freq_factor: low,
        high_freq_factor: high,
        original_context: original,
    } = *scaling;
    let (low_wavelen, high_wavelen) = (original / low, original / high);
    (0..head_dim / 2)
        .map(|i| {
            let freq = f64::from(theta).powf(-2.0 * i as f64 / head_dim as f64);
            let wavelen = (2.0 * std::f64::consts::PI / freq) as f32;
            if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect()
}

/// YaRN's parameters (Peng et al. 2023, `rope_type: "yarn"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Yarn {
    /// How much longer the new context is (`factor`, GGUF `rope.scaling.factor`).
    pub factor: f32,
    /// The pre-training context (`original_max_position_embeddings`, GGUF
    /// `rope.scaling.original_context_length`).
    pub original_context: f32,
    /// Frequencies turning more than this many times over the original
    /// context are kept (`beta_fast`, 32).
    pub beta_fast: f32,
    /// Frequencies turning fewer times are divided by `factor` (`beta_slow`, 1).
    pub beta_slow: f32,
    /// Round the ramp's ends outwards to whole dims (`truncate`, true).
    pub truncate: bool,
}

/// The divisor of each RoPE frequency `θ^(−2i/D)` under YaRN, as
/// transformers' `_compute_yarn_parameters` computes it: the dims `low` and
/// `high` where a frequency turns `beta_fast` and `beta_slow` times over the
/// original context (`D·ln(L₀/(2πβ)) / (2·ln θ)`, floored and ceiled when
/// truncating, clamped to `0..D−1`) bound a linear ramp `r_i = clamp((i −
/// low)/(high − low), 0, 1)`, and frequency `i` becomes `f_i·((1 − r_i) +
/// r_i/factor)`: kept below `low`, divided by `factor` above `high`.
pub fn yarn_divisors(theta: f32, head_dim: usize, yarn: &Yarn) -> Vec<f32> {
    let dim = head_dim as f64;
    let correction_dim = |rotations: f32| {
        let turns =
            f64::from(yarn.original_context) / (f64::from(rotations) * 2.0 * std::f64::consts::PI);
        dim * turns.ln() / (2.0 * f64::from(theta).ln())
    };
    let (mut low, mut high) = (
        correction_dim(yarn.beta_fast),
        correction_dim(yarn.beta_slow),
    );
    if yarn.truncate {
        (low, high) = (low.floor(), high.ceil());
    }
    let (low, mut high) = (low.max(0.0), high.min(dim - 1.0));
    if low == high {
        high += 0.001; // transformers' guard against a zero-width ramp
    }
    let factor = f64::from(yarn.factor);
    (0..head_dim / 2)
        .map(|i| {
            let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
            (1.0 / ((1.0 - ramp) + ramp / factor)) as f32
        })
        .collect()
}

/// YaRN's attention factor `0.1·m·ln(s) + 1` (1 for `s ≤ 1`), applied to
/// RoPE's cos and sin (transformers' `yarn_get_mscale`).
pub fn yarn_mscale(factor: f32, m: f32) -> f32 {
    if factor <= 1.0 {
        1.0
    } else {
        0.1 * m * factor.ln() + 1.0
    }
}
