//! Model configuration: the shape of a transformer, read from a Hugging Face
//! `config.json` ([`ModelConfig::from_hf_json`]) or built by a preset.
//!
//! Two families are supported:
//! - **GPT-2** (`model_type: "gpt2"`): learned token and position embeddings,
//!   pre-LayerNorm blocks with biases, a fused QKV projection, an MLP of width
//!   `n_inner` (default `4·n_embd`) with GELU, a final LayerNorm.
//! - **Llama** (`model_type: "llama"`, also SmolLM2): token embeddings only,
//!   RMSNorm, RoPE, grouped-query attention, a SwiGLU MLP
//!   `down(silu(gate(x)) · up(x))`.

/// The transformer family, which fixes the block structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// GPT-2: LayerNorm, learned positions, fused QKV (Conv1D `[in, out]` weights), GELU MLP.
    Gpt2,
    /// Llama: RMSNorm, RoPE, separate Q/K/V (`[out, in]` weights), SwiGLU MLP.
    Llama,
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
}
