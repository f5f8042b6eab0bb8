//! The forward pass over one chunk of tokens: embeddings, the pre-norm
//! blocks, the final norm and the LM head, all in the session's planned
//! buffers.
//!
//! ```text
//! r = embed(tokens) (+ positions)                          (T, C)
//! for each block:
//!     x = norm₁(r);  q|k|v = x·W_qkv (+ RoPE on q, k)       (T, H·D + 2·Hkv·D)
//!     cache[pos0..pos0+T] = k, v
//!     a = attention(q, cache)                               (T, H·D)
//!     r += a·W_o                                            residual fused into the GEMM
//!     x = norm₂(r);  r += mlp(x)
//! logits = norm_f(r[rows]) · W_headᵀ                        (rows, V)
//! ```

use smallmind_ops::attention::{attention, write_kv};
use smallmind_ops::embedding::embed;
use smallmind_ops::linear::{linear, linear_accumulate, linear_many};
use smallmind_ops::mlp::{SwiGlu, gelu_mlp, swiglu_mlp};
use smallmind_ops::norm::norm_rows;
use smallmind_ops::rope::RopeTable;
use smallmind_ops::{
    ActivationPrecision, AttentionScratch, AttentionShape, Linear, MatMut, MatRef,
};

use crate::error::Result;
use crate::kv_cache::KvCache;
use crate::spans::ForwardSpans;
use crate::weights::{Block, LinearWeights, MlpWeights, Model, QkvWeights};
use crate::workspace::Workspace;

/// Everything one forward pass borrows.
pub(crate) struct Pass<'a> {
    pub(crate) model: &'a Model,
    pub(crate) shape: &'a AttentionShape,
    pub(crate) rope: Option<&'a RopeTable>,
    pub(crate) cache: &'a mut KvCache,
    pub(crate) ws: &'a mut Workspace,
    pub(crate) spans: &'a ForwardSpans,
    /// How quantized layers treat their inputs.
    pub(crate) activations: ActivationPrecision,
}

/// Which positions of the chunk get logits.
pub(crate) enum LogitRows<'o> {
    /// Only the last, into the workspace's logits buffer.
    Last,
    /// Every row, into `(T, V)`.
    All(&'o mut [f32]),
}

impl Pass<'_> {
    /// Runs `tokens` (at most `ws.max_tokens`, already validated) at positions
    /// `cache.len()..`, appends them to the cache and writes the requested logits.
    pub(crate) fn run(&mut self, tokens: &[u32], logits: LogitRows<'_>) -> Result<()> {
        let t = tokens.len();
        let pos0 = self.cache.len();
        let c = self.model.config().hidden_size;
        let span = self.spans.embed.enter();
        embed(
            self.model.token_embedding()?,
            self.model.position_embedding()?,
            tokens,
            pos0,
            MatMut::new(&mut self.ws.residual[..t * c], t, c)?,
        )?;
        drop(span);
        for (i, block) in self.model.blocks().iter().enumerate() {
            self.attention_half(i, block, t, pos0)?;
            self.mlp_half(block, t)?;
        }
        self.cache.advance(t);
        self.head(t, logits)
    }

    fn attention_half(&mut self, layer: usize, block: &Block, t: usize, pos0: usize) -> Result<()> {
        let c = self.model.config().hidden_size;
        let (q_dim, kv_dim) = (self.shape.q_dim(), self.shape.kv_dim());
        let width = q_dim + 2 * kv_dim;
        let act = self.activations;
        let ws = &mut *self.ws;
        let spans = self.spans;
        {
            let _span = spans.attention_norm.enter();
            norm_rows(
                &block.attn_norm.view()?,
                MatRef::new(&ws.residual[..t * c], t, c)?,
                MatMut::new(&mut ws.normed[..t * c], t, c)?,
            )?;
        }
        let x = MatRef::new(&ws.normed[..t * c], t, c)?;
        let qkv = &mut ws.qkv[..t * width];
        let span = spans.qkv.enter();
        match &block.qkv {
            QkvWeights::Fused(w) => linear(
                &view(w, act)?,
                x,
                MatMut::new(qkv, t, width)?,
                &mut ws.weight_scratch,
            )?,
            // One decode row: q, k and v are three disjoint runs of it, computed in one
            // parallel region.
            QkvWeights::Split { q, k, v } if t == 1 => {
                let (q_out, kv_out) = qkv.split_at_mut(q_dim);
                let (k_out, v_out) = kv_out.split_at_mut(kv_dim);
                linear_many(
                    [&view(q, act)?, &view(k, act)?, &view(v, act)?],
                    x,
                    [
                        MatMut::new(q_out, 1, q_dim)?,
                        MatMut::new(k_out, 1, kv_dim)?,
                        MatMut::new(v_out, 1, kv_dim)?,
                    ],
                    &mut ws.weight_scratch,
                )?;
            }
            QkvWeights::Split { q, k, v } => {
                let cols = [
                    (q, 0, q_dim),
                    (k, q_dim, kv_dim),
                    (v, q_dim + kv_dim, kv_dim),
                ];
                for (w, start, n) in cols {
                    linear(
                        &view(w, act)?,
                        x,
                        MatMut::strided(&mut qkv[start..], t, n, width)?,
                        &mut ws.weight_scratch,
                    )?;
                }
            }
        }
        drop(span);
        if let Some(rope) = self.rope {
            let _span = spans.rope.enter();
            rope.apply_qk(self.shape, &mut MatMut::new(qkv, t, width)?, pos0)?;
        }
        let qkv = &ws.qkv[..t * width];
        let span = spans.attention.enter();
        write_kv(
            self.shape,
            MatRef::strided(&qkv[q_dim..], t, kv_dim, width)?,
            MatRef::strided(&qkv[q_dim + kv_dim..], t, kv_dim, width)?,
            pos0,
            &mut self.cache.layer_mut(layer),
        )?;
        attention(
            self.shape,
            MatRef::strided(qkv, t, q_dim, width)?,
            pos0,
            self.cache.layer(layer),
            AttentionScratch {
                scores: &mut ws.scores,
                head_out: &mut ws.head_out,
            },
            MatMut::new(&mut ws.attn_out[..t * q_dim], t, q_dim)?,
        )?;
        drop(span);
        let _span = spans.attention_out.enter();
        linear_accumulate(
            &view(&block.out_proj, act)?,
            MatRef::new(&ws.attn_out[..t * q_dim], t, q_dim)?,
            MatMut::new(&mut ws.residual[..t * c], t, c)?,
            &mut ws.weight_scratch,
        )?;
        Ok(())
    }

    fn mlp_half(&mut self, block: &Block, t: usize) -> Result<()> {
        let c = self.model.config().hidden_size;
        let f = self.model.config().intermediate_size;
        let act = self.activations;
        let ws = &mut *self.ws;
        {
            let _span = self.spans.mlp_norm.enter();
            norm_rows(
                &block.mlp_norm.view()?,
                MatRef::new(&ws.residual[..t * c], t, c)?,
                MatMut::new(&mut ws.normed[..t * c], t, c)?,
            )?;
        }
        let x = MatRef::new(&ws.normed[..t * c], t, c)?;
        let residual = MatMut::new(&mut ws.residual[..t * c], t, c)?;
        let _span = self.spans.mlp.enter();
        match &block.mlp {
            MlpWeights::Gelu { fc, proj, gelu } => gelu_mlp(
                &view(fc, act)?,
                &view(proj, act)?,
                *gelu,
                x,
                MatMut::new(&mut ws.mlp_a[..t * f], t, f)?,
                residual,
                &mut ws.weight_scratch,
            )?,
            MlpWeights::SwiGlu { gate, up, down } => swiglu_mlp(
                &SwiGlu {
                    gate: view(gate, act)?,
                    up: view(up, act)?,
                    down: view(down, act)?,
                },
                x,
                MatMut::new(&mut ws.mlp_a[..t * f], t, f)?,
                MatMut::new(&mut ws.mlp_b[..t * f], t, f)?,
                residual,
                &mut ws.weight_scratch,
            )?,
        }
        Ok(())
    }

    /// Final norm and LM head on the requested rows.
    fn head(&mut self, t: usize, logits: LogitRows<'_>) -> Result<()> {
        let c = self.model.config().hidden_size;
        let v = self.model.config().vocab_size;
        let ws = &mut *self.ws;
        let (first, out) = match logits {
            LogitRows::Last => (t - 1, &mut ws.logits[..v]),
            LogitRows::All(out) => (0, out),
        };
        let rows = t - first;
        {
            let _span = self.spans.final_norm.enter();
            norm_rows(
                &self.model.final_norm().view()?,
                MatRef::new(&ws.residual[first * c..t * c], rows, c)?,
                MatMut::new(&mut ws.normed[..rows * c], rows, c)?,
            )?;
        }
        let _span = self.spans.lm_head.enter();
        linear(
            &self.model.lm_head()?.with_activations(self.activations),
            MatRef::new(&ws.normed[..rows * c], rows, c)?,
            MatMut::new(out, rows, v)?,
            &mut ws.weight_scratch,
        )?;
        Ok(())
    }
}

/// The op-level view of `w` with quantized inputs treated as `activations`.
fn view(w: &LinearWeights, activations: ActivationPrecision) -> Result<Linear<'_>> {
    Ok(w.view()?.with_activations(activations))
}
