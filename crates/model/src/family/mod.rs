//! Model families: what differs between the transformer blocks of GPT-2,
//! Llama and their descendants, written down once per family.
//!
//! Every family runs the same pre-norm block (`forward.rs`):
//!
//! ```text
//! r = embed(tokens) [· √C]
//! x = norm(r);  q|k|v = x·W_qkv (+ b)   [qk-norm per head]   [RoPE, local or global]
//! a = attention(q, cache [, window]) · W_o (+ b);  r += a  [r += norm(a)]
//! x = norm(r);  r += mlp(x)                                 [r += norm(mlp(x))]
//! ```
//!
//! A family fixes the blanks in that text with a [`BlockSpec`], derived from
//! its [`ModelConfig`] by the family's module, and names its tensors with two
//! maps: Hugging Face names ([`HfNames`], what [`crate::Model::from_tensors`]
//! checks) and llama.cpp's GGUF names ([`GgufNames`], renamed to the former
//! at load). [`FAMILIES`] is the registry: one line per family. A new family
//! is one module and one line here, not a second forward pass.

pub mod gemma3;
pub mod gpt2;
pub mod llama;
pub mod mistral;
pub mod phi3;
pub mod qwen2;
pub mod qwen3;

use smallmind_ops::mlp::{GateActivation, Gelu};

use crate::config::{Architecture, Keys, LongRope, ModelConfig};
use crate::error::Result;
use crate::gguf::config::ArchKeys;

/// Which normalization the block's norms are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// LayerNorm with gain and bias (GPT-2).
    Layer,
    /// RMSNorm with a gain (Llama and its descendants).
    Rms,
}

/// The MLP of the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlpKind {
    /// `proj(gelu(fc(x)))` (GPT-2).
    Plain(Gelu),
    /// `down(act(gate(x)) ⊙ up(x))` (Shazeer 2020): SwiGLU with SiLU
    /// (Llama, Qwen), GeGLU with tanh GELU (Gemma).
    Gated(GateActivation),
}

/// Rotary position embeddings (Su et al. 2021) in the Hugging Face
/// rotate-half convention.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    /// Base θ of the frequencies `θ^(−2i/rotary_dim)`.
    pub theta: f32,
    /// Leading dimensions of each head that rotate (the whole head unless
    /// partial, [`crate::FamilyParams::rotary_dim`]).
    pub rotary_dim: usize,
    /// Frequency `i` is divided by `divisors[i]` (empty: unscaled); see
    /// [`crate::FamilyParams::rope_divisors`].
    pub divisors: Vec<f32>,
    /// LongRoPE's divisors for sessions past the original context, which
    /// replace `divisors` there.
    pub long: Option<LongRope>,
    /// cos and sin are multiplied by this (YaRN's and LongRoPE's attention
    /// factor; 1 otherwise).
    pub attention_factor: f32,
}

impl RopeSpec {
    /// The divisors a session of `capacity` positions uses: LongRoPE's long
    /// set past its original context, else [`RopeSpec::divisors`].
    pub fn divisors_for(&self, capacity: usize) -> &[f32] {
        match &self.long {
            Some(long) if capacity > long.original_context => &long.long_divisors,
            _ => &self.divisors,
        }
    }
}

/// How positions enter the model.
#[derive(Clone, Debug, PartialEq)]
pub enum Positions {
    /// Learned absolute position embeddings added to the token embeddings (GPT-2).
    Learned,
    /// RoPE on the queries and keys of every layer.
    Rotary(RopeSpec),
}

/// One family's transformer block: everything the planner (`Workspace`,
/// `Session`) and the forward pass read to run a model of that family.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSpec {
    /// Norm kind of every norm (pre-attention, pre-MLP, final).
    pub norm: NormKind,
    /// Q, K and V projections carry biases.
    pub qkv_bias: bool,
    /// The attention output projection carries a bias.
    pub out_bias: bool,
    /// An RMSNorm (gain `(head_dim,)`, the model's epsilon) over each query
    /// and key head, before RoPE (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// The MLP's form.
    pub mlp: MlpKind,
    /// The MLP projections carry biases.
    pub mlp_bias: bool,
    /// Learned positions or RoPE.
    pub positions: Positions,
    /// Attention score scale (`1/√head_dim` unless the family says otherwise).
    pub attention_scale: f32,
    /// The LM head is the token embedding matrix.
    pub tied_head: bool,
    /// RMSNorm gains are stored as `w` and applied as `1 + w` (Gemma; the
    /// GGUF converter bakes the +1 in, undone at load).
    pub norm_plus_one: bool,
    /// Norms on the attention and MLP outputs before their residual adds
    /// (Gemma 2/3, "sandwich" norms).
    pub post_norms: bool,
    /// The token embeddings are multiplied by this (Gemma: `√C`).
    pub embedding_scale: Option<f32>,
    /// Sliding-window (local) layers, if any.
    pub local: Option<LocalAttention>,
}

/// The sliding-window layers of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalAttention {
    /// Keys a query sees, itself included.
    pub window: usize,
    /// `layers[i]`: layer `i` is local.
    pub layers: Vec<bool>,
    /// The local layers' RoPE when it differs from the global one (Gemma 3).
    pub rope: Option<RopeSpec>,
}

impl BlockSpec {
    /// The RoPE of the model, if it rotates.
    pub fn rope(&self) -> Option<&RopeSpec> {
        match &self.positions {
            Positions::Rotary(rope) => Some(rope),
            Positions::Learned => None,
        }
    }

    /// Whether the MLP has a gate (two `C → F` projections).
    pub fn gated(&self) -> bool {
        !matches!(self.mlp, MlpKind::Plain(_))
    }

    /// Whether layer `i` is local (windowed).
    pub fn is_local(&self, i: usize) -> bool {
        self.local
            .as_ref()
            .is_some_and(|l| l.layers.get(i).copied().unwrap_or(false))
    }
}

/// The Hugging Face names of one block's tensors, after `model.layers.N.`
/// (and before `.weight` / `.bias`), for the families written in the Llama
/// layout (`model.embed_tokens`, `model.norm`, `lm_head`).
#[derive(Clone, Copy, Debug)]
pub struct HfNames {
    /// Norm before attention.
    pub attn_norm: &'static str,
    /// Norm before the MLP.
    pub mlp_norm: &'static str,
    /// Q, K, V and output projections.
    pub q: &'static str,
    /// See `q`.
    pub k: &'static str,
    /// See `q`.
    pub v: &'static str,
    /// See `q`.
    pub o: &'static str,
    /// Per-head query norm (taken when [`BlockSpec::qk_norm`]).
    pub q_norm: &'static str,
    /// Per-head key norm (taken when [`BlockSpec::qk_norm`]).
    pub k_norm: &'static str,
    /// MLP gate, up and down projections.
    pub gate: &'static str,
    /// See `gate`.
    pub up: &'static str,
    /// See `gate`.
    pub down: &'static str,
    /// Norms on the attention and MLP outputs (taken when
    /// [`BlockSpec::post_norms`]).
    pub post_attn_norm: &'static str,
    /// See `post_attn_norm`.
    pub post_mlp_norm: &'static str,
    /// One fused `q|k|v` projection instead of `q`, `k`, `v` (Phi-3).
    pub fused_qkv: Option<&'static str>,
    /// One fused `gate|up` projection (gate rows first) instead of `gate`
    /// and `up` (Phi-3).
    pub fused_gate_up: Option<&'static str>,
}

/// The Llama layout's block names, shared by its descendants.
pub const LLAMA_NAMES: HfNames = HfNames {
    attn_norm: "input_layernorm",
    mlp_norm: "post_attention_layernorm",
    q: "self_attn.q_proj",
    k: "self_attn.k_proj",
    v: "self_attn.v_proj",
    o: "self_attn.o_proj",
    q_norm: "self_attn.q_norm",
    k_norm: "self_attn.k_norm",
    gate: "mlp.gate_proj",
    up: "mlp.up_proj",
    down: "mlp.down_proj",
    post_attn_norm: "post_attention_layernorm",
    post_mlp_norm: "post_feedforward_layernorm",
    fused_qkv: None,
    fused_gate_up: None,
};

/// llama.cpp's GGUF names for one family: block tensors `blk.N.<gguf>` →
/// `model.layers.N.<hf>`, and whether its converter permuted the Q/K rows
/// for llama.cpp's interleaved RoPE (only the `llama` architecture does;
/// the others use the rotate-half ("NEOX") form and store rows as HF does).
#[derive(Clone, Copy, Debug)]
pub struct GgufNames {
    /// `general.architecture` and the prefix of the family's metadata keys.
    pub arch: &'static str,
    /// `(GGUF suffix, HF suffix)` of every block tensor, `.weight`/`.bias`
    /// included, in one or more tables (a family adds its own to its base's).
    pub block: &'static [&'static [(&'static str, &'static str)]],
    /// `attn_q`/`attn_k` rows are in llama.cpp's interleaved RoPE order.
    pub rope_permuted: bool,
    /// Norm gains are stored as `1 + w` (Gemma); the loader subtracts the 1
    /// so that they reach [`crate::Model::from_tensors`] as HF stores them.
    pub gains_plus_one: bool,
}

/// One registry line: a family's names and its block description.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// The architecture this line describes.
    pub architecture: Architecture,
    /// `model_type` in `config.json`.
    pub hf_model_type: &'static str,
    /// The `architectures` class name in `config.json`.
    pub hf_class: &'static str,
    /// The Hugging Face block names in the Llama layout (`None`: GPT-2's own).
    pub hf_names: Option<HfNames>,
    /// The GGUF names, if the family loads from GGUF.
    pub gguf: Option<GgufNames>,
    /// The block description of a (validated) config of this family.
    pub block: fn(&ModelConfig) -> BlockSpec,
    /// Its own `config.json` parser (`None`: the Llama layout's keys).
    pub(crate) parse_hf: Option<fn(&Keys<'_>) -> Result<ModelConfig>>,
    /// Completes a config read from the common `{arch}.*` GGUF keys with
    /// the family's own ([`keep_gguf_config`] when there are none).
    pub(crate) adjust_gguf: fn(&ArchKeys<'_>, ModelConfig) -> Result<ModelConfig>,
}

/// The [`Family::adjust_gguf`] of families without keys of their own.
pub(crate) fn keep_gguf_config(_: &ArchKeys<'_>, config: ModelConfig) -> Result<ModelConfig> {
    Ok(config)
}

/// Every family we run.
pub const FAMILIES: &[Family] = &[
    gpt2::FAMILY,
    llama::FAMILY,
    qwen2::FAMILY,
    qwen3::FAMILY,
    gemma3::FAMILY,
    mistral::FAMILY,
    phi3::FAMILY,
];

/// The registry line of `architecture`.
pub fn family(architecture: Architecture) -> &'static Family {
    FAMILIES
        .iter()
        .find(|f| f.architecture == architecture)
        .unwrap_or_else(|| unreachable!("every Architecture has a FAMILIES line"))
}

/// The family whose `config.json` `model_type` is `name`.
pub fn by_hf_model_type(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.hf_model_type == name)
}

/// The family whose `config.json` class (`architectures`) is `name`.
pub fn by_hf_class(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.hf_class == name)
}

/// The family whose GGUF `general.architecture` is `name`.
pub fn by_gguf_arch(name: &str) -> Option<&'static Family> {
    FAMILIES
        .iter()
        .find(|f| f.gguf.is_some_and(|g| g.arch == name))
}

/// Every `model_type` we load, comma-separated, for error messages.
pub fn supported_hf_model_types() -> String {
    let names: Vec<_> = FAMILIES.iter().map(|f| f.hf_model_type).collect();
    names.join(", ")
}

/// Every GGUF `general.architecture` we load, comma-separated, for error messages.
pub fn supported_gguf_archs() -> String {
    let names: Vec<_> = FAMILIES
        .iter()
        .filter_map(|f| f.gguf)
        .map(|g| g.arch)
        .collect();
    names.join(", ")
}

/// The default attention scale `1/√head_dim`.
pub fn inverse_sqrt(head_dim: usize) -> f32 {
    1.0 / (head_dim as f32).sqrt()
}
