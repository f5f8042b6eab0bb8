//! Model families: what differs between the transformer blocks of GPT-2,
//! Llama and their descendants, written down once per family.
//!
//! Every family runs the same pre-norm block (`forward.rs`):
//!
//! ```text
//! x = norm(r);  q|k|v = x·W_qkv (+ b)   [qk-norm per head]   [RoPE]
//! a = attention(q, cache) · W_o (+ b);  r += a
//! x = norm(r);  r += mlp(x)
//! ```
//!
//! A family fixes the blanks in that text with a [`BlockSpec`], derived from
//! its [`ModelConfig`] by the family's module, and names its tensors with two
//! maps: Hugging Face names ([`HfNames`], what [`crate::Model::from_tensors`]
//! checks) and llama.cpp's GGUF names ([`GgufNames`], renamed to the former
//! at load). [`FAMILIES`] is the registry: one line per family. A new family
//! is one module and one line here, not a second forward pass.

pub mod gpt2;
pub mod llama;
pub mod qwen2;
pub mod qwen3;

use smallmind_ops::mlp::Gelu;

use crate::config::{Architecture, ModelConfig};

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
    /// SwiGLU, `down(silu(gate(x)) ⊙ up(x))` (Shazeer 2020; Llama).
    SwiGlu,
}

/// Rotary position embeddings (Su et al. 2021) in the Hugging Face
/// rotate-half convention.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    /// Base θ of the frequencies `θ^(−2i/rotary_dim)`.
    pub theta: f32,
    /// Leading dimensions of each head that rotate (the whole head here).
    pub rotary_dim: usize,
    /// Frequency `i` is divided by `divisors[i]` (empty: unscaled); see
    /// [`crate::FamilyParams::rope_divisors`].
    pub divisors: Vec<f32>,
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
}

/// Every family we run.
pub const FAMILIES: &[Family] = &[gpt2::FAMILY, llama::FAMILY, qwen2::FAMILY, qwen3::FAMILY];

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
