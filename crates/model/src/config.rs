//! Model configuration: the shape of a transformer, read from a Hugging Face
//! `config.json` ([`ModelConfig::from_hf_json`]) or built by a preset.
//!
//! The family comes from `model_type` / `architectures`, looked up in
//! [`crate::family::FAMILIES`]:
//! - **GPT-2** (`model_type: "gpt2"`): learned token and position embeddings,
//!   pre-LayerNorm blocks with biases, a fused QKV projection, an MLP of width
//!   `n_inner` (default `4·n_embd`) with GELU, a final LayerNorm.
//! - the **Llama layout** (`llama`, also SmolLM2; `qwen2`; `qwen3`): token
//!   embeddings only, RMSNorm, RoPE (optionally scaled), grouped-query
//!   attention, a SwiGLU MLP `down(silu(gate(x)) · up(x))`; the family adds
//!   biases or QK-norm (see its module);
//! - **Gemma 3** (`gemma3_text`): its own keys, read by
//!   [`crate::family::gemma3`];
//! - **Phi-3** (`phi3`): the Llama keys plus `sliding_window`, with partial
//!   rotary and LongRoPE ([`crate::family::phi3`]).
//!
//! [`ModelConfig::validate`] checks the invariants every consumer relies on;
//! parsing and presets both end with it.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{ModelError, Result};
use crate::family;

/// The transformer family, which fixes the block structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// GPT-2: LayerNorm, learned positions, fused QKV (Conv1D `[in, out]` weights), GELU MLP.
    Gpt2,
    /// Llama: RMSNorm, RoPE, separate Q/K/V (`[out, in]` weights), SwiGLU MLP.
    Llama,
    /// Qwen2 / Qwen2.5: Llama with Q/K/V biases.
    Qwen2,
    /// Qwen3: Llama with per-head Q/K RMSNorm and its own `head_dim`.
    Qwen3,
    /// Gemma 3 (text): GeGLU, (1 + w) pre and post norms, QK-norm, local and global layers.
    Gemma3,
    /// Mistral: Llama with a sliding window on every layer.
    Mistral,
    /// Phi-3 / Phi-3.5 / Phi-4-mini: Llama with fused QKV and gate|up
    /// projections, partial rotary, LongRoPE, a sliding window.
    Phi3,
}

/// The MLP's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// GELU, tanh approximation (HF `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
    /// GELU, exact erf form (HF `gelu`).
    GeluErf,
    /// SiLU (`x·σ(x)`), used gated (SwiGLU) in the Llama family.
    Silu,
}

/// The shape and hyper-parameters of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Block structure.
    pub architecture: Architecture,
    /// Tokens in the vocabulary (rows of the embedding and the LM head).
    pub vocab_size: usize,
    /// Model width `d` (`n_embd`, `hidden_size`).
    pub hidden_size: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (`== num_heads` without grouped-query attention).
    pub num_kv_heads: usize,
    /// Width of one head (usually `hidden_size / num_heads`).
    pub head_dim: usize,
    /// Hidden width of the MLP.
    pub intermediate_size: usize,
    /// The longest context the model supports (GPT-2: `n_positions`).
    pub max_position_embeddings: usize,
    /// Epsilon of LayerNorm / RMSNorm.
    pub norm_eps: f32,
    /// RoPE base θ (Llama only; ignored by GPT-2).
    pub rope_theta: f32,
    /// MLP activation.
    pub activation: Activation,
    /// The LM head shares the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Q/K/V/O projections carry biases (always true for GPT-2).
    pub attention_bias: bool,
    /// MLP projections carry biases (always true for GPT-2).
    pub mlp_bias: bool,
    /// Beginning-of-sequence token, if the config names one.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence tokens (HF allows one id or a list).
    pub eos_token_ids: Vec<u32>,
    /// What only some families have (defaults: plain Llama).
    pub extras: FamilyParams,
}

/// Hyper-parameters only some families have; the defaults describe a plain
/// Llama, so a config that does not mention them has none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FamilyParams {
    /// RoPE frequency `i` is divided by `rope_divisors[i]` (`head_dim/2`
    /// entries; empty: unscaled). Linear scaling and Llama 3's bands both
    /// take this form; in GGUF it is `rope_freqs.weight`.
    pub rope_divisors: Vec<f32>,
    /// Sliding-window attention: the window (keys a query sees, itself
    /// included) of the layers [`FamilyParams::local_layers`] marks.
    pub sliding_window: Option<usize>,
    /// Which layers are local (windowed); empty with a window: every layer.
    pub local_layers: Vec<bool>,
    /// RoPE θ of the local layers when it differs from `rope_theta` (Gemma 3).
    pub local_rope_theta: Option<f32>,
    /// Attention scores are scaled by `query_pre_attn_scalar^(−1/2)` instead
    /// of `head_dim^(−1/2)` (Gemma).
    pub query_pre_attn_scalar: Option<f32>,
    /// Partial rotary (`partial_rotary_factor`, GGUF `rope.dimension_count`):
    /// only the first `rotary_dim` dims of each head rotate (`None`: all).
    /// Frequencies are then `θ^(−2i/rotary_dim)` and there are
    /// `rotary_dim/2` divisors.
    pub rotary_dim: Option<usize>,
    /// LongRoPE's long factors; [`FamilyParams::rope_divisors`] holds its
    /// short ones.
    pub rope_long: Option<LongRope>,
    /// RoPE's cos and sin are multiplied by this (the attention factor of
    /// YaRN and LongRoPE; `None`: 1).
    pub rope_attention_factor: Option<f32>,
}

/// LongRoPE (Ding et al. 2024; Phi-3's `longrope`, formerly `su`): two sets
/// of per-frequency divisors, the short factors for sequences that fit the
/// pre-training context and the long ones beyond it.
///
/// transformers picks the set for each forward call by its sequence length
/// (`max(position_ids) + 1 > original_max_position_embeddings`: long), and
/// keeps the keys already cached as they were rotated. We pick once per
/// session, by its capacity, as llama.cpp does by its context size
/// (`n_ctx_seq > n_ctx_orig_yarn`): so cached decoding equals a full
/// recompute, and both equal transformers whenever the whole sequence and
/// the session's capacity are on the same side of `original_context`.
#[derive(Clone, Debug, PartialEq)]
pub struct LongRope {
    /// The divisors (`long_factor`) of sessions longer than `original_context`.
    pub long_divisors: Vec<f32>,
    /// The pre-training context (`original_max_position_embeddings`, GGUF
    /// `rope.scaling.original_context_length`).
    pub original_context: usize,
}

/// RoPE base used when a Llama config gives none (HF `LlamaConfig` default).
pub const DEFAULT_ROPE_THETA: f32 = 10_000.0;
/// GPT-2 LayerNorm epsilon when the config gives none (HF `GPT2Config` default).
pub const DEFAULT_GPT2_LAYER_NORM_EPS: f32 = 1e-5;
/// Llama RMSNorm epsilon when the config gives none (HF `LlamaConfig` default).
pub const DEFAULT_LLAMA_RMS_NORM_EPS: f32 = 1e-6;

impl ModelConfig {
    /// Parses a Hugging Face `config.json` (GPT-2 or Llama family) and
    /// validates it.
    ///
    /// The family comes from `model_type` (`"gpt2"`, `"llama"`), or, when
    /// that key is absent, from `architectures` (`GPT2LMHeadModel`,
    /// `LlamaForCausalLM`). Keys and defaults:
    ///
    /// | field | GPT-2 key (default) | Llama key (default) |
    /// |---|---|---|
    /// | `vocab_size` | `vocab_size` | `vocab_size` |
    /// | `hidden_size` | `n_embd` | `hidden_size` |
    /// | `num_layers` | `n_layer` | `num_hidden_layers` |
    /// | `num_heads` | `n_head` | `num_attention_heads` |
    /// | `num_kv_heads` | = `n_head` | `num_key_value_heads` (= heads) |
    /// | `head_dim` | `n_embd / n_head` (must divide) | `head_dim` (`hidden_size / heads`, must divide) |
    /// | `intermediate_size` | `n_inner` (null: `4·n_embd`) | `intermediate_size` |
    /// | `max_position_embeddings` | `n_positions`, else `n_ctx` | `max_position_embeddings` |
    /// | `norm_eps` | `layer_norm_epsilon` (1e-5) | `rms_norm_eps` (1e-6) |
    /// | `rope_theta` | unused (10000) | `rope_parameters.rope_theta`, else `rope_theta` (10000) |
    /// | `activation` | `activation_function` (`gelu_new`) | `hidden_act` (`silu`) |
    /// | `tie_word_embeddings` | `tie_word_embeddings` (true) | `tie_word_embeddings` (false) |
    /// | `attention_bias` | always true | `attention_bias` (false) |
    /// | `mlp_bias` | always true | `mlp_bias` (false) |
    /// | `bos_token_id` | `bos_token_id` (none) | `bos_token_id` (none) |
    /// | `eos_token_ids` | `eos_token_id`, one id or a list (none) | same |
    ///
    /// A JSON `null` counts as absent. Keys without a default are required.
    /// RoPE scaling (`rope_parameters` / `rope_scaling`): the types of
    /// `rope_scaling` (default, linear, llama3, yarn, longrope); any other
    /// is rejected, as are GPT-2's `scale_attn_by_inverse_layer_idx: true`
    /// and `scale_attn_weights: false`, which would change the attention we
    /// compute.
    ///
    /// # Errors
    /// [`ModelError::ConfigJson`] for malformed JSON,
    /// [`ModelError::UnsupportedArchitecture`] for another family,
    /// [`ModelError::MissingConfigKey`] for an absent required key,
    /// [`ModelError::InvalidConfig`] for a value of the wrong type or an
    /// impossible value (zero sizes, heads that do not divide, eps ≤ 0, an
    /// unsupported activation or RoPE type). Never panics.
    pub fn from_hf_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)?;
        let Value::Object(map) = &value else {
            return Err(invalid(
                "config.json",
                format!("expected a JSON object, found {}", describe(&value)),
            ));
        };
        let keys = Keys(map);
        let config = match detect_architecture(&keys)? {
            Architecture::Gpt2 => parse_gpt2(&keys)?,
            arch => match family::family(arch).parse_hf {
                Some(parse) => parse(&keys)?,
                None => parse_llama(&keys, arch)?,
            },
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a Hugging Face `config.json` file; see
    /// [`ModelConfig::from_hf_json`].
    ///
    /// # Errors
    /// [`ModelError::Io`] naming the path if the file cannot be read, else
    /// the errors of [`ModelConfig::from_hf_json`].
    pub fn from_hf_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_hf_json(&text)
    }

    /// Checks the invariants the rest of the crate relies on.
    ///
    /// - every size (vocabulary, width, layers, heads, KV heads, head width,
    ///   MLP width, context) is nonzero and the vocabulary fits `u32` ids;
    /// - the query heads are a multiple of the KV heads;
    /// - GPT-2: `num_heads · head_dim == hidden_size`, no grouped-query
    ///   attention, biases on, a GELU activation;
    /// - Llama: an even `head_dim` (RoPE rotates pairs), a finite
    ///   `rope_theta > 0`, SiLU;
    /// - a finite `norm_eps > 0`;
    /// - the parameter count, and the element count of a key/value cache over
    ///   the full context, fit `usize` (so consumers can size buffers with
    ///   plain arithmetic).
    ///
    /// Errors name the Hugging Face key of the architecture (e.g. `n_embd`
    /// for a GPT-2 width, `hidden_size` for Llama).
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming the first violated invariant.
    pub fn validate(&self) -> Result<()> {
        let arch = self.architecture;
        let nonzero = [
            (Field::VocabSize, self.vocab_size),
            (Field::HiddenSize, self.hidden_size),
            (Field::NumLayers, self.num_layers),
            (Field::NumHeads, self.num_heads),
            (Field::NumKvHeads, self.num_kv_heads),
            (Field::HeadDim, self.head_dim),
            (Field::IntermediateSize, self.intermediate_size),
            (Field::MaxPositions, self.max_position_embeddings),
        ];
        for (field, value) in nonzero {
            if value == 0 {
                return Err(invalid(field.key(arch), "must be at least 1".into()));
            }
        }
        if u32::try_from(self.vocab_size - 1).is_err() {
            return Err(invalid(
                Field::VocabSize.key(arch),
                format!("{} does not fit u32 token ids", self.vocab_size),
            ));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(invalid(
                Field::NumKvHeads.key(arch),
                format!(
                    "{} query heads are not a multiple of {} key/value heads",
                    self.num_heads, self.num_kv_heads
                ),
            ));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(invalid(
                Field::NormEps.key(arch),
                format!("must be finite and > 0, got {}", self.norm_eps),
            ));
        }
        match arch {
            Architecture::Gpt2 => self.validate_gpt2()?,
            _ => self.validate_llama()?,
        }
        if self.checked_param_count().is_none() {
            return Err(invalid(
                Field::HiddenSize.key(arch),
                "the parameter count overflows usize".into(),
            ));
        }
        if self.checked_kv_cache_len().is_none() {
            return Err(invalid(
                Field::MaxPositions.key(arch),
                "a key/value cache over the full context would overflow usize".into(),
            ));
        }
        Ok(())
    }

    fn validate_gpt2(&self) -> Result<()> {
        let arch = Architecture::Gpt2;
        if self.num_heads.checked_mul(self.head_dim) != Some(self.hidden_size) {
            return Err(invalid(
                Field::NumHeads.key(arch),
                format!(
                    "{} heads of width {} do not make the width {}",
                    self.num_heads, self.head_dim, self.hidden_size
                ),
            ));
        }
        if self.num_kv_heads != self.num_heads {
            return Err(invalid(
                Field::NumKvHeads.key(arch),
                "GPT-2 has no grouped-query attention: key/value heads must equal heads".into(),
            ));
        }
        if !(self.attention_bias && self.mlp_bias) {
            return Err(invalid(
                "bias",
                "GPT-2 projections always carry biases".into(),
            ));
        }
        if !matches!(self.activation, Activation::GeluTanh | Activation::GeluErf) {
            return Err(invalid(
                Field::Activation.key(arch),
                format!(
                    "{:?} is not a GPT-2 activation (GELU, tanh or erf form)",
                    self.activation
                ),
            ));
        }
        Ok(())
    }

    fn validate_llama(&self) -> Result<()> {
        let arch = self.architecture;
        let rotary = self.rotary_dim();
        let long = self.extras.rope_long.as_ref().map(|l| &l.long_divisors);
        for divisors in [Some(&self.extras.rope_divisors), long]
            .into_iter()
            .flatten()
        {
            if !divisors.is_empty()
                && (divisors.len() != rotary / 2
                    || divisors.iter().any(|d| !(d.is_finite() && *d > 0.0)))
            {
                return Err(invalid(
                    "rope_parameters",
                    format!(
                        "{} RoPE frequency divisors for a rotary width of {rotary}: need {}, \
                         each finite and > 0",
                        divisors.len(),
                        rotary / 2
                    ),
                ));
            }
        }
        if let Some(long) = &self.extras.rope_long
            && (long.original_context == 0 || self.extras.rope_divisors.is_empty())
        {
            return Err(invalid(
                "rope_parameters",
                "LongRoPE needs short factors and an original context ≥ 1".into(),
            ));
        }
        if let Some(factor) = self.extras.rope_attention_factor
            && !(factor.is_finite() && factor > 0.0)
        {
            return Err(invalid(
                "attention_factor",
                format!("must be finite and > 0, got {factor}"),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(invalid(
                Field::HeadDim.key(arch),
                format!("{} is odd; RoPE rotates pairs of dimensions", self.head_dim),
            ));
        }
        if let Some(rotary) = self.extras.rotary_dim
            && (rotary == 0 || rotary > self.head_dim || !rotary.is_multiple_of(2))
        {
            return Err(invalid(
                "partial_rotary_factor",
                format!(
                    "a rotary width of {rotary} for heads of width {}: need an even width \
                     in 2..={}",
                    self.head_dim, self.head_dim
                ),
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(invalid(
                Field::RopeTheta.key(arch),
                format!("must be finite and > 0, got {}", self.rope_theta),
            ));
        }
        if !matches!(self.activation, Activation::Silu | Activation::GeluTanh) {
            return Err(invalid(
                Field::Activation.key(arch),
                format!(
                    "{:?} is not a gated-MLP activation (silu, gelu_pytorch_tanh)",
                    self.activation
                ),
            ));
        }
        if let Some(window) = self.extras.sliding_window {
            let layers = self.extras.local_layers.len();
            if window == 0 || (layers != 0 && layers != self.num_layers) {
                return Err(invalid(
                    "sliding_window",
                    format!(
                        "a window of {window} over {layers} layer types for {} layers: the \
                         window must be ≥ 1 and the types one per layer",
                        self.num_layers
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Leading dims of each head that RoPE rotates (`head_dim` unless partial).
    pub fn rotary_dim(&self) -> usize {
        self.extras.rotary_dim.unwrap_or(self.head_dim)
    }

    /// Width of all query heads together, `num_heads · head_dim`.
    pub fn q_dim(&self) -> usize {
        self.num_heads.saturating_mul(self.head_dim)
    }

    /// Width of all key (or value) heads together, `num_kv_heads · head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads.saturating_mul(self.head_dim)
    }

    /// Query heads sharing one key/value head (1 without grouped-query
    /// attention; 0 if `num_kv_heads` is 0, which [`ModelConfig::validate`] rejects).
    pub fn kv_group_size(&self) -> usize {
        self.num_heads.checked_div(self.num_kv_heads).unwrap_or(0)
    }

    /// The exact number of parameters (scalars) the architecture has.
    ///
    /// - GPT-2: `wte` `V·d` + `wpe` `P·d` + per layer (`ln_1` `2d`, `c_attn`
    ///   `d·3d + 3d`, `c_proj` `d·d + d`, `ln_2` `2d`, `c_fc` `d·f + f`,
    ///   `mlp.c_proj` `f·d + d`) + `ln_f` `2d` + an untied LM head `V·d`.
    /// - Llama layout: `embed_tokens` `V·d` + per layer (input norm `d`, `q`
    ///   `d·q_dim`, `k` and `v` `d·kv_dim` each, `o` `q_dim·d`, post norm
    ///   `d`, `gate` and `up` `d·f` each, `down` `f·d`, plus `q_dim + 2·kv_dim`
    ///   with Q/K/V biases, `d` with an output bias, `2f + d` with MLP biases
    ///   and `2·head_dim` with QK-norm) + final norm `d` + an untied LM head
    ///   `V·d`.
    ///
    /// Saturates at `usize::MAX` for a config so large that
    /// [`ModelConfig::validate`] rejects it.
    pub fn param_count(&self) -> usize {
        self.checked_param_count().unwrap_or(usize::MAX)
    }

    /// Elements of a key/value cache over the full context:
    /// `2 · num_layers · max_position_embeddings · kv_dim`.
    fn checked_kv_cache_len(&self) -> Option<usize> {
        self.num_layers
            .checked_mul(self.max_position_embeddings)?
            .checked_mul(self.num_kv_heads.checked_mul(self.head_dim)?)?
            .checked_mul(2)
    }

    fn checked_param_count(&self) -> Option<usize> {
        let d = self.hidden_size;
        let embed = self.vocab_size.checked_mul(d)?;
        let per_layer = match self.architecture {
            Architecture::Gpt2 => self.gpt2_layer_params()?,
            _ => self.llama_layer_params()?,
        };
        let (positions, final_norm) = match self.architecture {
            Architecture::Gpt2 => (self.max_position_embeddings.checked_mul(d)?, 2 * d),
            _ => (0, d),
        };
        let lm_head = if self.tie_word_embeddings { 0 } else { embed };
        let layers = per_layer.checked_mul(self.num_layers)?;
        [positions, layers, final_norm, lm_head]
            .into_iter()
            .try_fold(embed, usize::checked_add)
    }

    /// One GPT-2 block: two LayerNorms, fused QKV, output projection, MLP, all with biases.
    fn gpt2_layer_params(&self) -> Option<usize> {
        let d = self.hidden_size;
        let f = self.intermediate_size;
        let norms = d.checked_mul(4)?;
        let qkv = linear_params(d, d.checked_mul(3)?, true)?;
        let proj = linear_params(d, d, true)?;
        let fc = linear_params(d, f, true)?;
        let down = linear_params(f, d, true)?;
        [qkv, proj, fc, down]
            .into_iter()
            .try_fold(norms, usize::checked_add)
    }

    /// One block in the Llama layout, as the family's [`family::BlockSpec`]
    /// describes it: two RMSNorms (and the QK-norm gains), Q/K/V/O,
    /// gate/up/down, with the biases it names.
    fn llama_layer_params(&self) -> Option<usize> {
        let d = self.hidden_size;
        let f = self.intermediate_size;
        let q_dim = self.num_heads.checked_mul(self.head_dim)?;
        let kv_dim = self.num_kv_heads.checked_mul(self.head_dim)?;
        let spec = (family::family(self.architecture).block)(self);
        let (qkv, o, mb) = (spec.qkv_bias, spec.out_bias, spec.mlp_bias);
        let qk_norms = if spec.qk_norm { 2 * self.head_dim } else { 0 };
        let norms = d.checked_mul(2)?.checked_add(qk_norms)?;
        let parts = [
            linear_params(d, q_dim, qkv)?,
            linear_params(d, kv_dim, qkv)?,
            linear_params(d, kv_dim, qkv)?,
            linear_params(q_dim, d, o)?,
            linear_params(d, f, mb)?,
            linear_params(d, f, mb)?,
            linear_params(f, d, mb)?,
        ];
        parts.into_iter().try_fold(norms, usize::checked_add)
    }
}

/// Parameters of a projection from `inputs` to `outputs`, with an optional bias.
fn linear_params(inputs: usize, outputs: usize, bias: bool) -> Option<usize> {
    let bias = if bias { outputs } else { 0 };
    inputs.checked_mul(outputs)?.checked_add(bias)
}

/// The config fields whose Hugging Face key depends on the architecture.
#[derive(Clone, Copy)]
enum Field {
    VocabSize,
    HiddenSize,
    NumLayers,
    NumHeads,
    NumKvHeads,
    HeadDim,
    IntermediateSize,
    MaxPositions,
    NormEps,
    RopeTheta,
    Activation,
}

impl Field {
    /// The Hugging Face key of this field for `arch`, used in error messages.
    fn key(self, arch: Architecture) -> &'static str {
        use Architecture::Gpt2;
        match (self, arch) {
            (Field::VocabSize, _) => "vocab_size",
            (Field::HiddenSize, Gpt2) => "n_embd",
            (Field::HiddenSize, _) => "hidden_size",
            (Field::NumLayers, Gpt2) => "n_layer",
            (Field::NumLayers, _) => "num_hidden_layers",
            (Field::NumHeads, Gpt2) => "n_head",
            (Field::NumHeads, _) => "num_attention_heads",
            (Field::NumKvHeads, Gpt2) => "n_head",
            (Field::NumKvHeads, _) => "num_key_value_heads",
            (Field::HeadDim, Gpt2) => "n_head",
            (Field::HeadDim, _) => "head_dim",
            (Field::IntermediateSize, Gpt2) => "n_inner",
            (Field::IntermediateSize, _) => "intermediate_size",
            (Field::MaxPositions, Gpt2) => "n_positions",
            (Field::MaxPositions, _) => "max_position_embeddings",
            (Field::NormEps, Gpt2) => "layer_norm_epsilon",
            (Field::NormEps, _) => "rms_norm_eps",
            (Field::RopeTheta, _) => "rope_theta",
            (Field::Activation, Gpt2) => "activation_function",
            (Field::Activation, _) => "hidden_act",
        }
    }
}

pub(crate) fn invalid(key: &'static str, reason: String) -> ModelError {
    ModelError::InvalidConfig { key, reason }
}

/// At most [`MAX_QUOTED_CHARS`] characters of `text`, with `…` if cut, so
/// error messages stay short whatever the input.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Longest piece of a config string quoted in an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// A short description of a JSON value for error messages (bounded length,
/// whatever the input).
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{}\"", clip(s)),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// Typed access to the keys of one JSON object; `null` counts as absent.
pub(crate) struct Keys<'a>(&'a Map<String, Value>);

impl<'a> Keys<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn usize_opt(&self, key: &'static str) -> Result<Option<usize>> {
        self.get(key).map(|v| as_usize(key, v)).transpose()
    }

    pub(crate) fn usize_req(&self, key: &'static str) -> Result<usize> {
        self.usize_opt(key)?
            .ok_or(ModelError::MissingConfigKey { key })
    }

    pub(crate) fn f32_opt(&self, key: &'static str) -> Result<Option<f32>> {
        self.get(key).map(|v| as_f32(key, v)).transpose()
    }

    pub(crate) fn bool_opt(&self, key: &'static str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| {
                v.as_bool().ok_or_else(|| {
                    invalid(key, format!("expected a boolean, found {}", describe(v)))
                })
            })
            .transpose()
    }

    pub(crate) fn str_opt(&self, key: &'static str) -> Result<Option<&'a str>> {
        self.get(key)
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    invalid(key, format!("expected a string, found {}", describe(v)))
                })
            })
            .transpose()
    }

    pub(crate) fn object_opt(&self, key: &'static str) -> Result<Option<Keys<'a>>> {
        self.get(key)
            .map(|v| {
                v.as_object().map(Keys).ok_or_else(|| {
                    invalid(key, format!("expected an object, found {}", describe(v)))
                })
            })
            .transpose()
    }

    /// `bos_token_id`: one id or absent.
    pub(crate) fn bos_token_id(&self) -> Result<Option<u32>> {
        const KEY: &str = "bos_token_id";
        self.get(KEY).map(|v| as_token_id(KEY, v)).transpose()
    }

    /// `eos_token_id`: one id, a list of ids, or absent.
    pub(crate) fn eos_token_ids(&self) -> Result<Vec<u32>> {
        const KEY: &str = "eos_token_id";
        match self.get(KEY) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|v| as_token_id(KEY, v)).collect(),
            Some(v) => Ok(vec![as_token_id(KEY, v)?]),
        }
    }
}

fn as_usize(key: &'static str, value: &Value) -> Result<usize> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            invalid(
                key,
                format!("expected a non-negative integer, found {}", describe(value)),
            )
        })
}

fn as_f32(key: &'static str, value: &Value) -> Result<f32> {
    let wide = value
        .as_f64()
        .ok_or_else(|| invalid(key, format!("expected a number, found {}", describe(value))))?;
    // Rounds to nearest; values beyond f32's range become ±inf, caught below.
    #[allow(clippy::cast_possible_truncation)]
    let narrow = wide as f32;
    if narrow.is_finite() {
        Ok(narrow)
    } else {
        Err(invalid(key, format!("{wide} does not fit a finite f32")))
    }
}

fn as_token_id(key: &'static str, value: &Value) -> Result<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            invalid(
                key,
                format!("expected a token id (u32), found {}", describe(value)),
            )
        })
}

/// The family from `model_type`, or from `architectures` when that is absent
/// (both looked up in the [`family::FAMILIES`] registry).
fn detect_architecture(keys: &Keys<'_>) -> Result<Architecture> {
    if let Some(model_type) = keys.str_opt("model_type")? {
        return family::by_hf_model_type(model_type)
            .map(|f| f.architecture)
            .ok_or_else(|| ModelError::UnsupportedArchitecture(clip(model_type)));
    }
    let Some(list) = keys.get("architectures") else {
        return Err(ModelError::MissingConfigKey { key: "model_type" });
    };
    let Some(names) = list.as_array() else {
        return Err(invalid(
            "architectures",
            format!("expected an array of strings, found {}", describe(list)),
        ));
    };
    let mut first_unknown = None;
    for name in names {
        let Some(name) = name.as_str() else {
            return Err(invalid(
                "architectures",
                format!("expected a string, found {}", describe(name)),
            ));
        };
        match family::by_hf_class(name) {
            Some(f) => return Ok(f.architecture),
            None => {
                first_unknown.get_or_insert(name);
            }
        }
    }
    Err(ModelError::UnsupportedArchitecture(
        first_unknown.map_or_else(|| "(empty architectures list)".to_owned(), clip),
    ))
}

/// GPT-2 `activation_function` → [`Activation`].
fn gpt2_activation(name: &str) -> Result<Activation> {
    match name {
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
        "gelu" => Ok(Activation::GeluErf),
        other => Err(invalid(
            "activation_function",
            format!(
                "`{}` is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)",
                clip(other)
            ),
        )),
    }
}

fn parse_gpt2(keys: &Keys<'_>) -> Result<ModelConfig> {
    let hidden_size = keys.usize_req("n_embd")?;
    let num_heads = keys.usize_req("n_head")?;
    if num_heads == 0 {
        return Err(invalid("n_head", "must be at least 1".into()));
    }
    if !hidden_size.is_multiple_of(num_heads) {
        return Err(invalid(
            "n_head",
            format!("the width n_embd = {hidden_size} is not divisible by {num_heads} heads"),
        ));
    }
    let max_position_embeddings = match keys.usize_opt("n_positions")? {
        Some(n) => n,
        None => keys
            .usize_opt("n_ctx")?
            .ok_or(ModelError::MissingConfigKey { key: "n_positions" })?,
    };
    let intermediate_size = match keys.usize_opt("n_inner")? {
        Some(n) => n,
        None => hidden_size
            .checked_mul(4)
            .ok_or_else(|| invalid("n_embd", format!("{hidden_size} is too large")))?,
    };
    if keys.bool_opt("scale_attn_by_inverse_layer_idx")? == Some(true) {
        return Err(invalid(
            "scale_attn_by_inverse_layer_idx",
            "`true` is not supported".into(),
        ));
    }
    if keys.bool_opt("scale_attn_weights")? == Some(false) {
        return Err(invalid(
            "scale_attn_weights",
            "`false` is not supported".into(),
        ));
    }
    let activation = gpt2_activation(keys.str_opt("activation_function")?.unwrap_or("gelu_new"))?;
    Ok(ModelConfig {
        architecture: Architecture::Gpt2,
        vocab_size: keys.usize_req("vocab_size")?,
        hidden_size,
        num_layers: keys.usize_req("n_layer")?,
        num_heads,
        num_kv_heads: num_heads,
        head_dim: hidden_size / num_heads,
        intermediate_size,
        max_position_embeddings,
        norm_eps: keys
            .f32_opt("layer_norm_epsilon")?
            .unwrap_or(DEFAULT_GPT2_LAYER_NORM_EPS),
        rope_theta: DEFAULT_ROPE_THETA,
        activation,
        tie_word_embeddings: keys.bool_opt("tie_word_embeddings")?.unwrap_or(true),
        attention_bias: true,
        mlp_bias: true,
        bos_token_id: keys.bos_token_id()?,
        eos_token_ids: keys.eos_token_ids()?,
        extras: FamilyParams::default(),
    })
}

/// The RoPE of a Llama-layout config: θ, the rotary width and the scaling.
pub(crate) struct LlamaRope {
    /// Base θ.
    pub(crate) theta: f32,
    /// [`FamilyParams::rotary_dim`].
    pub(crate) rotary_dim: Option<usize>,
    /// Divisors, LongRoPE's long set, attention factor.
    pub(crate) scaling: RopeScaling,
}

/// How one RoPE description scales the frequencies (see [`rope_scaling`]).
#[derive(Debug, Default)]
pub(crate) struct RopeScaling {
    /// [`FamilyParams::rope_divisors`].
    pub(crate) divisors: Vec<f32>,
    /// [`FamilyParams::rope_long`].
    pub(crate) long: Option<LongRope>,
    /// [`FamilyParams::rope_attention_factor`].
    pub(crate) attention_factor: Option<f32>,
}

/// The RoPE of a Llama-layout config.
///
/// Read from `rope_parameters` (transformers 5), else `rope_scaling` plus the
/// top-level `rope_theta` (θ defaults to 10000). `partial_rotary_factor`
/// (there, else top-level; default 1) makes the rotary width
/// `⌊head_dim · factor⌋`, as transformers truncates it. The scaling type is
/// `rope_type` (older configs: `type`); see [`rope_scaling`].
pub(crate) fn llama_rope(keys: &Keys<'_>, head_dim: usize) -> Result<LlamaRope> {
    let params = keys.object_opt("rope_parameters")?;
    let top_theta = keys.f32_opt("rope_theta")?;
    let theta = match &params {
        Some(p) => p.f32_opt("rope_theta")?.or(top_theta),
        None => top_theta,
    }
    .unwrap_or(DEFAULT_ROPE_THETA);
    let (key, rope) = match params {
        Some(p) => ("rope_parameters", Some(p)),
        None => ("rope_scaling", keys.object_opt("rope_scaling")?),
    };
    const PARTIAL: &str = "partial_rotary_factor";
    let partial = match rope
        .as_ref()
        .map(|r| r.f32_opt(PARTIAL))
        .transpose()?
        .flatten()
    {
        Some(factor) => Some(factor),
        None => keys.f32_opt(PARTIAL)?,
    };
    let rotary_dim = match partial {
        None => None,
        Some(f) if f > 0.0 && f <= 1.0 => Some((head_dim as f64 * f64::from(f)) as usize),
        Some(f) => return Err(invalid(PARTIAL, format!("{f} is not in (0, 1]"))),
    }
    .filter(|&dim| dim != head_dim);
    let scaling = match rope {
        Some(rope) => rope_scaling(key, &rope, keys, theta, rotary_dim.unwrap_or(head_dim))?,
        None => RopeScaling::default(),
    };
    Ok(LlamaRope {
        theta,
        rotary_dim,
        scaling,
    })
}

/// The frequency divisors of one RoPE description named `key` (see
/// [`rope_scaling`]) that has no attention factor or LongRoPE set (Gemma 3's
/// per-layer-type entries).
pub(crate) fn rope_divisors(
    key: &'static str,
    rope: &Keys<'_>,
    top: &Keys<'_>,
    theta: f32,
    rotary_dim: usize,
) -> Result<Vec<f32>> {
    let scaling = rope_scaling(key, rope, top, theta, rotary_dim)?;
    if scaling.long.is_some() || scaling.attention_factor.is_some() {
        return Err(invalid(
            key,
            "YaRN and LongRoPE scaling are not supported for this family".into(),
        ));
    }
    Ok(scaling.divisors)
}

/// The scaling of one RoPE description (`rope_parameters`, one of its
/// per-layer-type entries, or `rope_scaling`) named `key`, for base `theta`
/// over `rotary_dim` dims; `top` is the whole config (for the keys a
/// description may leave there). By `rope_type` (older configs: `type`):
/// - `default` (or absent): unscaled;
/// - `linear`: every frequency divided by `factor` (position interpolation);
/// - `llama3`: Llama 3.1's bands from `factor`, `low_freq_factor`,
///   `high_freq_factor` and `original_max_position_embeddings`
///   ([`family::llama::llama3_divisors`]);
/// - `yarn`: YaRN's ramp and attention factor from `factor`,
///   `original_max_position_embeddings`, `beta_fast` (32), `beta_slow` (1),
///   `truncate` (true), `attention_factor` or `mscale`/`mscale_all_dim`
///   ([`family::llama::yarn_divisors`]);
/// - `longrope` (`su`): `short_factor` and `long_factor`,
///   `original_max_position_embeddings` (here or top-level) and the attention
///   factor ([`family::phi3::longrope_attention_factor`]).
///
/// Any other type is an error naming it.
pub(crate) fn rope_scaling(
    key: &'static str,
    rope: &Keys<'_>,
    top: &Keys<'_>,
    theta: f32,
    rotary_dim: usize,
) -> Result<RopeScaling> {
    let rope_type = match rope.str_opt("rope_type")? {
        Some(t) => Some(t),
        None => rope.str_opt("type")?,
    };
    let half = rotary_dim / 2;
    let factor = |name: &'static str| positive(name, rope.f32_opt(name)?);
    let original = || {
        const KEY: &str = "original_max_position_embeddings";
        let n = match rope.usize_opt(KEY)? {
            Some(n) => n,
            None => top.usize_req(KEY)?,
        };
        if n == 0 {
            return Err(invalid(KEY, "must be at least 1".into()));
        }
        Ok(n)
    };
    let divisors = |divisors| RopeScaling {
        divisors,
        ..RopeScaling::default()
    };
    Ok(match rope_type {
        None | Some("default") => RopeScaling::default(),
        Some("linear") => divisors(vec![factor("factor")?; half]),
        Some("llama3") => divisors(family::llama::llama3_divisors(
            theta,
            rotary_dim,
            &family::llama::Llama3Scaling {
                factor: factor("factor")?,
                low_freq_factor: factor("low_freq_factor")?,
                high_freq_factor: factor("high_freq_factor")?,
                original_context: factor("original_max_position_embeddings")?,
            },
        )),
        Some("yarn") => {
            let factor = factor("factor")?;
            let optional = |name: &'static str| {
                rope.f32_opt(name)?
                    .map(|v| positive(name, Some(v)))
                    .transpose()
            };
            let yarn = family::llama::Yarn {
                factor,
                original_context: original()? as f32,
                beta_fast: optional("beta_fast")?.unwrap_or(32.0),
                beta_slow: optional("beta_slow")?.unwrap_or(1.0),
                truncate: rope.bool_opt("truncate")?.unwrap_or(true),
            };
            let attention_factor = match optional("attention_factor")? {
                Some(given) => given,
                None => match (optional("mscale")?, optional("mscale_all_dim")?) {
                    (Some(m), Some(all)) => {
                        family::llama::yarn_mscale(factor, m)
                            / family::llama::yarn_mscale(factor, all)
                    }
                    _ => family::llama::yarn_mscale(factor, 1.0),
                },
            };
            RopeScaling {
                divisors: family::llama::yarn_divisors(theta, rotary_dim, &yarn),
                long: None,
                attention_factor: Some(attention_factor),
            }
        }
        Some("longrope" | "su") => {
            let list = |name: &'static str| {
                let value = rope
                    .get(name)
                    .ok_or(ModelError::MissingConfigKey { key: name })?;
                let items = value.as_array().ok_or_else(|| {
                    invalid(
                        name,
                        format!("expected an array of numbers, found {}", describe(value)),
                    )
                })?;
                let factors = items
                    .iter()
                    .map(|v| positive(name, Some(as_f32(name, v)?)))
                    .collect::<Result<Vec<_>>>()?;
                if factors.len() != half {
                    return Err(invalid(
                        name,
                        format!(
                            "{} factors for a rotary width of {rotary_dim}: need {half}",
                            factors.len()
                        ),
                    ));
                }
                Ok(factors)
            };
            let original = original()?;
            let factor = match rope.f32_opt("factor")? {
                Some(f) => positive("factor", Some(f))?,
                None => top.usize_req("max_position_embeddings")? as f32 / original as f32,
            };
            let attention_factor = match rope.f32_opt("attention_factor")? {
                Some(given) => positive("attention_factor", Some(given))?,
                None => family::phi3::longrope_attention_factor(factor, original),
            };
            RopeScaling {
                divisors: list("short_factor")?,
                long: Some(LongRope {
                    long_divisors: list("long_factor")?,
                    original_context: original,
                }),
                attention_factor: Some(attention_factor),
            }
        }
        Some(other) => {
            return Err(invalid(
                key,
                format!(
                    "rope type `{}` is not supported (supported: default, linear, llama3, \
                     yarn, longrope)",
                    clip(other)
                ),
            ));
        }
    })
}

/// `value` (named `name`, required) when finite and > 0.
fn positive(name: &'static str, value: Option<f32>) -> Result<f32> {
    let value = value.ok_or(ModelError::MissingConfigKey { key: name })?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            name,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

/// A config in the Llama layout (Llama and its descendants, which share its
/// keys); `arch` is the family `model_type` named.
pub(crate) fn parse_llama(keys: &Keys<'_>, arch: Architecture) -> Result<ModelConfig> {
    if keys.bool_opt("use_sliding_window")? == Some(true) {
        return Err(invalid(
            "use_sliding_window",
            "`true` is not supported (sliding-window attention is not implemented for this family)"
                .into(),
        ));
    }
    let hidden_size = keys.usize_req("hidden_size")?;
    let num_heads = keys.usize_req("num_attention_heads")?;
    let num_kv_heads = keys.usize_opt("num_key_value_heads")?.unwrap_or(num_heads);
    let head_dim = match keys.usize_opt("head_dim")? {
        Some(hd) => hd,
        None if num_heads == 0 => {
            return Err(invalid("num_attention_heads", "must be at least 1".into()));
        }
        None if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
        None => {
            return Err(invalid(
                "num_attention_heads",
                format!(
                    "the width hidden_size = {hidden_size} is not divisible by {num_heads} heads \
                     (give head_dim explicitly)"
                ),
            ));
        }
    };
    let rope = llama_rope(keys, head_dim)?;
    let activation = match keys.str_opt("hidden_act")?.unwrap_or("silu") {
        "silu" => Activation::Silu,
        other => {
            return Err(invalid(
                "hidden_act",
                format!("`{}` is not supported (supported: silu)", clip(other)),
            ));
        }
    };
    Ok(ModelConfig {
        architecture: arch,
        vocab_size: keys.usize_req("vocab_size")?,
        hidden_size,
        num_layers: keys.usize_req("num_hidden_layers")?,
        num_heads,
        num_kv_heads,
        head_dim,
        intermediate_size: keys.usize_req("intermediate_size")?,
        max_position_embeddings: keys.usize_req("max_position_embeddings")?,
        norm_eps: keys
            .f32_opt("rms_norm_eps")?
            .unwrap_or(DEFAULT_LLAMA_RMS_NORM_EPS),
        rope_theta: rope.theta,
        activation,
        tie_word_embeddings: keys.bool_opt("tie_word_embeddings")?.unwrap_or(false),
        attention_bias: keys.bool_opt("attention_bias")?.unwrap_or(false),
        mlp_bias: keys.bool_opt("mlp_bias")?.unwrap_or(false),
        bos_token_id: keys.bos_token_id()?,
        eos_token_ids: keys.eos_token_ids()?,
        extras: FamilyParams {
            rope_divisors: rope.scaling.divisors,
            rotary_dim: rope.rotary_dim,
            rope_long: rope.scaling.long,
            rope_attention_factor: rope.scaling.attention_factor,
            ..FamilyParams::default()
        },
    })
}
