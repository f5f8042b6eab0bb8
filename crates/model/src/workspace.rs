//! Activation buffers planned once from the config: a session sizes them when
//! it is created, and the forward pass only borrows them.
//!
//! Every buffer holds up to `max_tokens` rows (the prefill chunk); decode uses
//! the first row. Shapes: `C` model width, `F` MLP width, `H`/`Hkv` heads of
//! width `D`, `V` vocabulary.

use smallmind_ops::AttentionShape;

use crate::config::ModelConfig;
use crate::family::BlockSpec;

/// The forward pass's scratch memory.
#[derive(Clone, Debug)]
pub(crate) struct Workspace {
    /// Rows each buffer holds.
    pub(crate) max_tokens: usize,
    /// `(T, C)` residual stream.
    pub(crate) residual: Vec<f32>,
    /// `(T, C)` normalized residual, the input of each projection.
    pub(crate) normed: Vec<f32>,
    /// `(T, H·D + 2·Hkv·D)` projected `q | k | v` rows.
    pub(crate) qkv: Vec<f32>,
    /// `(T, H·D)` attention output before its projection.
    pub(crate) attn_out: Vec<f32>,
    /// Attention score tiles (see [`AttentionShape::scores_len`]).
    pub(crate) scores: Vec<f32>,
    /// `(H, T, D)` per-head attention outputs.
    pub(crate) head_out: Vec<f32>,
    /// `(T, F)` MLP hidden (GELU) or gate (SwiGLU).
    pub(crate) mlp_a: Vec<f32>,
    /// `(T, F)` SwiGLU up projection (empty for GPT-2).
    pub(crate) mlp_b: Vec<f32>,
    /// `(V,)` logits of the last processed position.
    pub(crate) logits: Vec<f32>,
    /// `(T, C)` a sub-layer's output on its way to the post-norm (empty
    /// without post-norms).
    pub(crate) post: Vec<f32>,
    /// `(H·D,)` scratch of the per-head QK-norm (empty without it).
    pub(crate) head_scratch: Vec<f32>,
    /// Scratch of the 16-bit weight paths (empty for f32 models).
    pub(crate) weight_scratch: Vec<f32>,
}

impl Workspace {
    /// Buffers for chunks of up to `max_tokens` tokens against a cache of
    /// `capacity` positions, with `weight_scratch` floats for the layers.
    pub(crate) fn plan(
        config: &ModelConfig,
        spec: &BlockSpec,
        shape: &AttentionShape,
        max_tokens: usize,
        capacity: usize,
        weight_scratch: usize,
    ) -> Self {
        let t = max_tokens;
        let c = config.hidden_size;
        let f = config.intermediate_size;
        let gated = spec.gated();
        Workspace {
            max_tokens,
            residual: vec![0.0; t * c],
            normed: vec![0.0; t * c],
            qkv: vec![0.0; t * (shape.q_dim() + 2 * shape.kv_dim())],
            attn_out: vec![0.0; t * shape.q_dim()],
            scores: vec![0.0; shape.scores_len(t, capacity)],
            head_out: vec![0.0; shape.head_out_len(t)],
            mlp_a: vec![0.0; t * f],
            mlp_b: if gated { vec![0.0; t * f] } else { Vec::new() },
            logits: vec![0.0; config.vocab_size],
            post: if spec.post_norms {
                vec![0.0; t * c]
            } else {
                Vec::new()
            },
            head_scratch: if spec.qk_norm {
                vec![0.0; shape.q_dim().max(shape.kv_dim())]
            } else {
                Vec::new()
            },
            weight_scratch: vec![0.0; weight_scratch],
        }
    }

    /// Heap bytes the plan holds.
    pub(crate) fn bytes(&self) -> usize {
        [
            &self.residual,
            &self.normed,
            &self.qkv,
            &self.attn_out,
            &self.scores,
            &self.head_out,
            &self.mlp_a,
            &self.mlp_b,
            &self.logits,
            &self.post,
            &self.head_scratch,
            &self.weight_scratch,
        ]
        .iter()
        .map(|v| v.len() * 4)
        .sum()
    }
}
