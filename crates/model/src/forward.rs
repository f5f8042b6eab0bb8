//! The forward pass over one chunk of tokens: embeddings, the pre-norm
//! blocks, the final norm and the LM head, all in the session's planned
//! buffers.
//!
//! The chunk's rows may belong to several sequences ([`Sequences`]): runs of
//! consecutive rows, each continuing its own KV cache at its own positions.
//! A prefill or a decode is one run; a batched decode (`crate::batch`) is one
//! row per sequence. Everything but RoPE, the cache writes and attention is
//! row-wise, so it runs once over all rows (the linear layers with M = rows,
//! reading each weight once); those three run per sequence.
//!
//! ```text
//! r = embed(tokens) (+ positions) (· embedding scale)      (T, C)
//! for each block:
//!     x = norm₁(r);  q|k|v = x·W_qkv                        (T, H·D + 2·Hkv·D)
//!     [RMSNorm per q and k head (QK-norm)];  RoPE on q, k
//!     cache[pos0..pos0+T] = k, v
//!     a = attention(q, cache [, window on local layers])    (T, H·D)
//!     r += a·W_o                                            residual fused into the GEMM
//!                   (post-norm families: r += norm(a·W_o))
//!     x = norm₂(r);  r += mlp(x)      (post-norm: r += norm(mlp(x)))
//! logits = norm_f(r[rows]) · W_headᵀ                        (rows, V)
//! ```

use smallmind_kernels::vector::scale_inplace;
use smallmind_ops::attention::{attention, write_kv};
use smallmind_ops::embedding::embed;
use smallmind_ops::linear::{linear, linear_accumulate, linear_columns};
use smallmind_ops::mlp::{SwiGlu, gelu_mlp, swiglu_mlp};
use smallmind_ops::norm::{add_normed, norm_rows, rms_norm_heads_inplace};
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
    /// The geometry (with the window) and RoPE of the local layers.
    pub(crate) local: &'a LocalPlan,
    pub(crate) ws: &'a mut Workspace,
    pub(crate) spans: &'a ForwardSpans,
    /// How quantized layers treat their inputs.
    pub(crate) activations: ActivationPrecision,
}

/// The local (sliding-window) layers' attention geometry and, when it
/// differs from the global one, their RoPE table.
#[derive(Debug)]
pub(crate) struct LocalPlan {
    pub(crate) shape: AttentionShape,
    pub(crate) rope: Option<RopeTable>,
}

/// The sequences one pass advances, in row order: sequence `i` owns the next
/// `rows(i)` rows of the chunk and continues `cache(i)` at its length.
pub(crate) trait Sequences {
    /// How many sequences.
    fn count(&self) -> usize;
    /// Rows (tokens) of sequence `i` in this pass.
    fn rows(&self, i: usize) -> usize;
    /// The KV cache of sequence `i`.
    fn cache(&mut self, i: usize) -> &mut KvCache;
}

/// A single sequence owning every row: prefill and decode.
pub(crate) struct OneSequence<'c> {
    pub(crate) cache: &'c mut KvCache,
    pub(crate) rows: usize,
}

impl Sequences for OneSequence<'_> {
    fn count(&self) -> usize {
        1
    }

    fn rows(&self, _: usize) -> usize {
        self.rows
    }

    fn cache(&mut self, _: usize) -> &mut KvCache {
        self.cache
    }
}

/// Which positions of the chunk get logits.
pub(crate) enum LogitRows<'o> {
    /// Only the last, into the workspace's logits buffer.
    Last,
    /// Every row, into `(T, V)`.
    All(&'o mut [f32]),
}

impl Pass<'_> {
    /// Runs `tokens` (at most `ws.max_tokens`, already validated; the rows of
    /// `seqs` in order), each sequence's at positions `cache.len()..`, appends
    /// them to the caches and writes the requested logits.
    pub(crate) fn run(
        &mut self,
        tokens: &[u32],
        seqs: &mut impl Sequences,
        logits: LogitRows<'_>,
    ) -> Result<()> {
        let t = tokens.len();
        let c = self.model.config().hidden_size;
        let span = self.spans.embed.enter();
        let mut row = 0;
        for s in 0..seqs.count() {
            let rows = seqs.rows(s);
            embed(
                self.model.token_embedding(),
                self.model.position_embedding(),
                &tokens[row..row + rows],
                seqs.cache(s).len(),
                MatMut::new(&mut self.ws.residual[row * c..(row + rows) * c], rows, c)?,
            )?;
            row += rows;
        }
        if let Some(scale) = self.model.spec().embedding_scale {
            scale_inplace(scale, &mut self.ws.residual[..t * c]);
        }
        drop(span);
        for (i, block) in self.model.blocks().iter().enumerate() {
            self.attention_half(i, block, t, seqs)?;
            self.mlp_half(block, t)?;
        }
        for s in 0..seqs.count() {
            let rows = seqs.rows(s);
            seqs.cache(s).advance(rows);
        }
        self.head(t, logits)
    }

    fn attention_half(
        &mut self,
        layer: usize,
        block: &Block,
        t: usize,
        seqs: &mut impl Sequences,
    ) -> Result<()> {
        let c = self.model.config().hidden_size;
        let (shape, rope) = if self.model.spec().is_local(layer) {
            (&self.local.shape, self.local.rope.as_ref().or(self.rope))
        } else {
            (self.shape, self.rope)
        };
        let (q_dim, kv_dim) = (shape.q_dim(), shape.kv_dim());
        let width = q_dim + 2 * kv_dim;
        let act = self.activations;
        let ws = &mut *self.ws;
        let spans = self.spans;
        {
            let _span = spans.attention_norm.enter();
            norm_rows(
                &block.attn_norm.view(),
                MatRef::new(&ws.residual[..t * c], t, c)?,
                MatMut::new(&mut ws.normed[..t * c], t, c)?,
            )?;
        }
        let x = MatRef::new(&ws.normed[..t * c], t, c)?;
        let qkv = &mut ws.qkv[..t * width];
        let span = spans.qkv.enter();
        match &block.qkv {
            QkvWeights::Fused(w) => linear(
                &view(w, act),
                x,
                MatMut::new(qkv, t, width)?,
                &mut ws.weight_scratch,
            )?,
            // q, k and v side by side in each row: one parallel region for a decode row,
            // one quantized input for a prefill chunk.
            QkvWeights::Split { q, k, v } => linear_columns(
                [&view(q, act), &view(k, act), &view(v, act)],
                x,
                MatMut::new(qkv, t, width)?,
                &mut ws.weight_scratch,
            )?,
        }
        drop(span);
        if let Some(norms) = &block.qk_norm {
            let _span = spans.qk_norm.enter();
            let mut rows = MatMut::new(qkv, t, width)?;
            let (heads, kv_heads) = (shape.n_heads, shape.n_kv_heads);
            for (norm, start, n) in [(&norms.q, 0, heads), (&norms.k, q_dim, kv_heads)] {
                let (gamma, eps) = norm.gain();
                rms_norm_heads_inplace(gamma, eps, &mut rows, start, n, &mut ws.head_scratch)?;
            }
        }
        // Per sequence: RoPE at its positions, its cache rows, attention over its cache.
        let mut row = 0;
        for s in 0..seqs.count() {
            let rows = seqs.rows(s);
            let cache = seqs.cache(s);
            let pos0 = cache.len();
            let qkv = &mut ws.qkv[row * width..(row + rows) * width];
            if let Some(rope) = rope {
                let _span = spans.rope.enter();
                rope.apply_qk(shape, &mut MatMut::new(qkv, rows, width)?, pos0)?;
            }
            let qkv = &*qkv;
            let _span = spans.attention.enter();
            write_kv(
                shape,
                MatRef::strided(&qkv[q_dim..], rows, kv_dim, width)?,
                MatRef::strided(&qkv[q_dim + kv_dim..], rows, kv_dim, width)?,
                pos0,
                &mut cache.layer_mut(layer),
            )?;
            attention(
                shape,
                MatRef::strided(qkv, rows, q_dim, width)?,
                pos0,
                cache.layer(layer),
                AttentionScratch {
                    scores: &mut ws.scores,
                    head_out: &mut ws.head_out,
                },
                MatMut::new(
                    &mut ws.attn_out[row * q_dim..(row + rows) * q_dim],
                    rows,
                    q_dim,
                )?,
            )?;
            row += rows;
        }
        let _span = spans.attention_out.enter();
        let attn_out = MatRef::new(&ws.attn_out[..t * q_dim], t, q_dim)?;
        let Some(post) = &block.post_norms else {
            linear_accumulate(
                &view(&block.out_proj, act),
                attn_out,
                MatMut::new(&mut ws.residual[..t * c], t, c)?,
                &mut ws.weight_scratch,
            )?;
            return Ok(());
        };
        // r += norm(a·W_o): the projection lands in `normed` (free once q|k|v exist).
        linear(
            &view(&block.out_proj, act),
            attn_out,
            MatMut::new(&mut ws.normed[..t * c], t, c)?,
            &mut ws.weight_scratch,
        )?;
        add_normed(
            &post.attn.view(),
            MatRef::new(&ws.normed[..t * c], t, c)?,
            MatMut::new(&mut ws.post[..t * c], t, c)?,
            MatMut::new(&mut ws.residual[..t * c], t, c)?,
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
                &block.mlp_norm.view(),
                MatRef::new(&ws.residual[..t * c], t, c)?,
                MatMut::new(&mut ws.normed[..t * c], t, c)?,
            )?;
        }
        let x = MatRef::new(&ws.normed[..t * c], t, c)?;
        // With a post-norm the MLP accumulates into a zeroed `post`, then
        // r += norm(post) (with `normed`, free again, as scratch).
        let residual = if block.post_norms.is_some() {
            ws.post[..t * c].fill(0.0);
            MatMut::new(&mut ws.post[..t * c], t, c)?
        } else {
            MatMut::new(&mut ws.residual[..t * c], t, c)?
        };
        let _span = self.spans.mlp.enter();
        match &block.mlp {
            MlpWeights::Gelu { fc, proj, gelu } => gelu_mlp(
                &view(fc, act),
                &view(proj, act),
                *gelu,
                x,
                MatMut::new(&mut ws.mlp_a[..t * f], t, f)?,
                residual,
                &mut ws.weight_scratch,
            )?,
            MlpWeights::Gated {
                activation,
                gate,
                up,
                down,
            } => swiglu_mlp(
                &SwiGlu {
                    activation: *activation,
                    gate: view(gate, act),
                    up: view(up, act),
                    down: view(down, act),
                },
                x,
                MatMut::new(&mut ws.mlp_a[..t * f], t, f)?,
                MatMut::new(&mut ws.mlp_b[..t * f], t, f)?,
                residual,
                &mut ws.weight_scratch,
            )?,
        }
        if let Some(post) = &block.post_norms {
            add_normed(
                &post.mlp.view(),
                MatRef::new(&ws.post[..t * c], t, c)?,
                MatMut::new(&mut ws.normed[..t * c], t, c)?,
                MatMut::new(&mut ws.residual[..t * c], t, c)?,
            )?;
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
                &self.model.final_norm().view(),
                MatRef::new(&ws.residual[first * c..t * c], rows, c)?,
                MatMut::new(&mut ws.normed[..rows * c], rows, c)?,
            )?;
        }
        let _span = self.spans.lm_head.enter();
        linear(
            &self.model.lm_head().with_activations(self.activations),
            MatRef::new(&ws.normed[..rows * c], rows, c)?,
            MatMut::new(out, rows, v)?,
            &mut ws.weight_scratch,
        )?;
        Ok(())
    }
}

/// The op-level view of `w` with quantized inputs treated as `activations`.
fn view(w: &LinearWeights, activations: ActivationPrecision) -> Linear<'_> {
    w.view().with_activations(activations)
}
