//! Training a GPT-2 model: a forward pass that saves what backward needs, and
//! explicit backward passes (no autograd), over buffers planned once.
//!
//! Shapes: batch `B`, context `T`, rows `N = B·T`, width `C`, heads `H` of
//! width `D = C/H`, MLP width `F`, vocabulary `V`, `L` blocks. The model
//! (pre-norm GPT-2, Radford et al. 2019) is
//!
//! ```text
//! x₀ = wte[tokens] + wpe[0..T]                               (N, C)
//! per block l:  a = LN₁(x_l);  qkv = a·W_qkv + b_qkv        (N, 3C)
//!               y = attention(qkv)                           (N, C)
//!               m = x_l + y·W_o + b_o                        (N, C)
//!               h = LN₂(m);  u = h·W_fc + b_fc;  g = gelu(u) (N, F)
//!               x_{l+1} = m + g·W_p + b_p                    (N, C)
//! z = LN_f(x_L);  logits = z·W_headᵀ                         (N, V)
//! loss = mean over rows of cross-entropy(softmax(logits), targets)
//! ```
//!
//! The forward pieces are the inference ops (`smallmind_ops::linear`,
//! `norm`, `embedding`) and kernels (`gelu_tanh`, `softmax_rows_inplace`,
//! `gemm`); training adds only what inference throws away (LayerNorm
//! mean/rstd, the GELU input, the attention probabilities). The backward of
//! a linear layer `Y = X·W + b` is two GEMMs and a column sum:
//! `dW += Xᵀ·dY`, `db += Σ_rows dY`, `dX = dY·Wᵀ`; the residual stream's
//! gradient `dres` (N, C) is carried down the blocks, each branch adding its
//! input gradient into it. The other backward formulas are in
//! `layer_norm.rs`, `attention.rs`, `mlp.rs` (this module's files) and
//! [`crate::loss`].
//!
//! Every activation, every activation gradient and every scratch buffer is
//! allocated in [`Gpt2Trainer::new`]; [`Gpt2Trainer::forward`] and
//! [`Gpt2Trainer::backward`] allocate nothing. Work is split across the
//! rayon pool by rows and by (batch, head) pairs; each output element is
//! computed by one task in a fixed order, and the GEMM kernel's results do
//! not depend on the thread count, so gradients are bit-identical for any
//! number of threads.

mod attention;
mod backward;
mod forward;
mod layer_norm;
mod mlp;
mod reduce;

use std::ops::Range;

use smallmind_model::{Activation, ModelConfig};

use crate::error::{Result, TrainError};
use crate::params::ParamLayout;

/// The sizes every pass needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    /// Batch `B`.
    pub b: usize,
    /// Context `T`.
    pub t: usize,
    /// Rows `N = B·T`.
    pub n: usize,
    /// Width `C`.
    pub c: usize,
    /// Heads `H`.
    pub h: usize,
    /// Head width `D`.
    pub d: usize,
    /// MLP width `F`.
    pub f: usize,
    /// Vocabulary `V`.
    pub v: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
}

/// The ranges of one block's parameters in the flat buffer.
#[derive(Clone, Debug)]
pub(crate) struct BlockParams {
    pub ln1_w: Range<usize>,
    pub ln1_b: Range<usize>,
    pub qkv_w: Range<usize>,
    pub qkv_b: Range<usize>,
    pub proj_w: Range<usize>,
    pub proj_b: Range<usize>,
    pub ln2_w: Range<usize>,
    pub ln2_b: Range<usize>,
    pub fc_w: Range<usize>,
    pub fc_b: Range<usize>,
    pub fc_proj_w: Range<usize>,
    pub fc_proj_b: Range<usize>,
}

/// The ranges of every parameter, looked up once by name.
#[derive(Clone, Debug)]
pub(crate) struct Offsets {
    pub wte: Range<usize>,
    pub wpe: Range<usize>,
    pub blocks: Vec<BlockParams>,
    pub lnf_w: Range<usize>,
    pub lnf_b: Range<usize>,
    /// `wte` when the head is tied, else `lm_head.weight`; `(V, C)`.
    pub head: Range<usize>,
}

impl Offsets {
    fn new(layout: &ParamLayout, layers: usize, tied: bool) -> Result<Self> {
        let range = |name: &str| {
            layout
                .find(name)
                .map(|e| e.range())
                .ok_or_else(|| TrainError::UnsupportedConfig(format!("the layout has no `{name}`")))
        };
        let block = |l: usize| -> Result<BlockParams> {
            let r = |s: &str| range(&format!("transformer.h.{l}.{s}"));
            Ok(BlockParams {
                ln1_w: r("ln_1.weight")?,
                ln1_b: r("ln_1.bias")?,
                qkv_w: r("attn.c_attn.weight")?,
                qkv_b: r("attn.c_attn.bias")?,
                proj_w: r("attn.c_proj.weight")?,
                proj_b: r("attn.c_proj.bias")?,
                ln2_w: r("ln_2.weight")?,
                ln2_b: r("ln_2.bias")?,
                fc_w: r("mlp.c_fc.weight")?,
                fc_b: r("mlp.c_fc.bias")?,
                fc_proj_w: r("mlp.c_proj.weight")?,
                fc_proj_b: r("mlp.c_proj.bias")?,
            })
        };
        let wte = range("transformer.wte.weight")?;
        Ok(Offsets {
            head: if tied {
                wte.clone()
            } else {
                range("lm_head.weight")?
            },
            wte,
            wpe: range("transformer.wpe.weight")?,
            blocks: (0..layers).map(block).collect::<Result<_>>()?,
            lnf_w: range("transformer.ln_f.weight")?,
            lnf_b: range("transformer.ln_f.bias")?,
        })
    }
}

/// A LayerNorm's output `(N, C)` and the row statistics backward needs.
#[derive(Debug)]
pub(crate) struct NormActs {
    /// Normalized rows `(N, C)`.
    pub out: Vec<f32>,
    /// Row means `(N,)`.
    pub mean: Vec<f32>,
    /// Row reciprocal standard deviations `1/√(σ² + eps)`, `(N,)`.
    pub rstd: Vec<f32>,
}

impl NormActs {
    fn new(n: usize, c: usize) -> Self {
        NormActs {
            out: vec![0.0; n * c],
            mean: vec![0.0; n],
            rstd: vec![0.0; n],
        }
    }
}

/// The saved activations of one block.
#[derive(Debug)]
pub(crate) struct BlockActs {
    /// LN₁ of the block input.
    pub ln1: NormActs,
    /// `(N, 3C)`: q | k | v.
    pub qkv: Vec<f32>,
    /// Attention probabilities `(B, H, T, T)`, zero above the diagonal.
    pub probs: Vec<f32>,
    /// Attention output before the projection, `(N, C)` (heads side by side).
    pub atty: Vec<f32>,
    /// The residual after the attention branch, `(N, C)`.
    pub res_mid: Vec<f32>,
    /// LN₂ of `res_mid`.
    pub ln2: NormActs,
    /// MLP pre-activation `(N, F)`.
    pub fc: Vec<f32>,
    /// GELU of `fc`, `(N, F)`.
    pub gelu: Vec<f32>,
}

impl BlockActs {
    fn new(dims: &Dims) -> Self {
        let Dims {
            b, t, n, c, h, f, ..
        } = *dims;
        BlockActs {
            ln1: NormActs::new(n, c),
            qkv: vec![0.0; n * 3 * c],
            probs: vec![0.0; b * h * t * t],
            atty: vec![0.0; n * c],
            res_mid: vec![0.0; n * c],
            ln2: NormActs::new(n, c),
            fc: vec![0.0; n * f],
            gelu: vec![0.0; n * f],
        }
    }
}

/// Everything the forward pass writes.
#[derive(Debug)]
pub(crate) struct Activations {
    /// The residual stream entering each block and leaving the last: `L + 1`
    /// buffers of `(N, C)`.
    pub residuals: Vec<Vec<f32>>,
    pub blocks: Vec<BlockActs>,
    pub lnf: NormActs,
    /// Logits `(N, V)`; softmax probabilities after the loss, gradients after backward.
    pub logits: Vec<f32>,
    /// Cross-entropy of each row `(N,)`.
    pub row_loss: Vec<f32>,
    /// Per-head attention outputs `(B, H, T, D)` before they are interleaved.
    pub heads: Vec<f32>,
    /// The batch's inputs and targets, `(N,)` each.
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
}

/// Gradients of activations and backward scratch, reused by every block.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// Gradient of the residual stream `(N, C)`.
    pub dres: Vec<f32>,
    /// Gradient of a LayerNorm output `(N, C)`.
    pub dnorm: Vec<f32>,
    /// Gradient of the attention output `(N, C)`.
    pub datty: Vec<f32>,
    /// Gradient of qkv `(N, 3C)`.
    pub dqkv: Vec<f32>,
    /// Gradient of the MLP hidden layer `(N, F)`.
    pub dfc: Vec<f32>,
    /// Gradient of the attention probabilities / scores `(B, H, T, T)`.
    pub dprobs: Vec<f32>,
    /// Per-head dq | dk | dv `(B, H, 3, T, D)`.
    pub dheads: Vec<f32>,
}

impl Scratch {
    fn new(dims: &Dims) -> Self {
        let Dims {
            b,
            t,
            n,
            c,
            h,
            d,
            f,
            ..
        } = *dims;
        Scratch {
            dres: vec![0.0; n * c],
            dnorm: vec![0.0; n * c],
            datty: vec![0.0; n * c],
            dqkv: vec![0.0; n * 3 * c],
            dfc: vec![0.0; n * f],
            dprobs: vec![0.0; b * h * t * t],
            dheads: vec![0.0; b * h * 3 * t * d],
        }
    }
}

/// Planned buffers for training one GPT-2 config at one (batch `B`, context `T`).
///
/// Parameters, gradients (and the optimizer's moments) are flat `f32`
/// buffers in [`ParamLayout`] order, owned by the caller.
#[derive(Debug)]
pub struct Gpt2Trainer {
    layout: ParamLayout,
    dims: Dims,
    offsets: Offsets,
    acts: Activations,
    scratch: Scratch,
    /// Whether the activations hold a forward pass backward may use.
    ready: bool,
}

impl Gpt2Trainer {
    /// Plans every activation and scratch buffer once for `batch` sequences
    /// of `context` tokens, `context <= config.max_position_embeddings`.
    ///
    /// # Errors
    /// [`TrainError::UnsupportedConfig`] for a config this trainer cannot
    /// train (not GPT-2, an activation other than GELU-tanh, heads that do
    /// not tile the width, grouped-query heads); [`TrainError::InvalidInput`]
    /// for a zero batch or context, or a context past the position table.
    pub fn new(config: &ModelConfig, batch: usize, context: usize) -> Result<Self> {
        let layout = ParamLayout::gpt2(config)?;
        check_config(config)?;
        if batch == 0 || context == 0 {
            return Err(TrainError::InvalidInput(format!(
                "batch ({batch}) and context ({context}) must both be at least 1"
            )));
        }
        if context > config.max_position_embeddings {
            return Err(TrainError::InvalidInput(format!(
                "context {context} is longer than the model's {} positions",
                config.max_position_embeddings
            )));
        }
        let dims = Dims {
            b: batch,
            t: context,
            n: batch * context,
            c: config.hidden_size,
            h: config.num_heads,
            d: config.head_dim,
            f: config.intermediate_size,
            v: config.vocab_size,
            eps: config.norm_eps,
        };
        let offsets = Offsets::new(&layout, config.num_layers, config.tie_word_embeddings)?;
        let acts = Activations {
            residuals: (0..=config.num_layers)
                .map(|_| vec![0.0; dims.n * dims.c])
                .collect(),
            blocks: (0..config.num_layers)
                .map(|_| BlockActs::new(&dims))
                .collect(),
            lnf: NormActs::new(dims.n, dims.c),
            logits: vec![0.0; dims.n * dims.v],
            row_loss: vec![0.0; dims.n],
            heads: vec![0.0; dims.n * dims.c],
            inputs: vec![0; dims.n],
            targets: vec![0; dims.n],
        };
        Ok(Gpt2Trainer {
            layout,
            scratch: Scratch::new(&dims),
            dims,
            offsets,
            acts,
            ready: false,
        })
    }

    /// The parameter layout (the length and order of params and grads).
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// Sequences per batch `B`.
    pub fn batch(&self) -> usize {
        self.dims.b
    }

    /// Tokens per sequence `T`.
    pub fn context(&self) -> usize {
        self.dims.t
    }

    /// Bytes of every buffer planned in [`new`](Self::new): activations,
    /// activation gradients and scratch (parameters, gradients and optimizer
    /// state are the caller's).
    pub fn planned_bytes(&self) -> usize {
        let norm = |n: &NormActs| n.out.len() + n.mean.len() + n.rstd.len();
        let a = &self.acts;
        let blocks: usize = a
            .blocks
            .iter()
            .map(|b| {
                norm(&b.ln1)
                    + b.qkv.len()
                    + b.probs.len()
                    + b.atty.len()
                    + b.res_mid.len()
                    + norm(&b.ln2)
                    + b.fc.len()
                    + b.gelu.len()
            })
            .sum();
        let residuals: usize = a.residuals.iter().map(Vec::len).sum();
        let s = &self.scratch;
        let scratch = s.dres.len()
            + s.dnorm.len()
            + s.datty.len()
            + s.dqkv.len()
            + s.dfc.len()
            + s.dprobs.len()
            + s.dheads.len();
        let floats = blocks
            + residuals
            + norm(&a.lnf)
            + a.logits.len()
            + a.row_loss.len()
            + a.heads.len()
            + scratch;
        floats * 4 + (a.inputs.len() + a.targets.len()) * 4
    }

    /// Forward pass over `inputs` (`B·T` token ids, row-major `(B, T)`) with
    /// `targets` (`B·T`); saves the activations backward needs and returns
    /// the mean cross-entropy loss.
    ///
    /// # Errors
    /// [`TrainError::ShapeMismatch`] for buffers of the wrong length,
    /// [`TrainError::InvalidInput`] for a token or target outside the
    /// vocabulary. On error the saved activations are invalid until the
    /// next successful forward.
    pub fn forward(&mut self, params: &[f32], inputs: &[u32], targets: &[u32]) -> Result<f32> {
        self.ready = false;
        self.check_params("params", params)?;
        self.check_tokens("inputs", inputs)?;
        self.check_tokens("targets", targets)?;
        let loss = forward::run(
            &self.dims,
            &self.offsets,
            &mut self.acts,
            params,
            inputs,
            targets,
        )?;
        self.ready = true;
        Ok(loss)
    }

    /// Backward of the last [`forward`](Self::forward): ADDS
    /// `loss_scale · d(mean loss)/d(params)` into `grads`, so gradient
    /// accumulation is several forward/backward pairs with `loss_scale = 1/k`
    /// into grads the caller zeroed. `params` must be the ones of that
    /// forward. Consumes the saved activations (a second backward needs a new
    /// forward).
    ///
    /// # Errors
    /// [`TrainError::ShapeMismatch`] for buffers of the wrong length,
    /// [`TrainError::InvalidInput`] without a forward to differentiate or
    /// for a non-finite `loss_scale`.
    pub fn backward(&mut self, params: &[f32], grads: &mut [f32], loss_scale: f32) -> Result<()> {
        self.check_params("params", params)?;
        self.check_params("grads", grads)?;
        if !loss_scale.is_finite() {
            return Err(TrainError::InvalidInput(format!(
                "loss_scale must be finite, got {loss_scale}"
            )));
        }
        if !self.ready {
            return Err(TrainError::InvalidInput(
                "backward needs a successful forward first (one backward per forward)".into(),
            ));
        }
        self.ready = false;
        backward::run(
            &self.dims,
            &self.offsets,
            &mut self.acts,
            &mut self.scratch,
            params,
            grads,
            loss_scale,
        )
    }

    /// Forward and loss only, for validation: the mean cross-entropy of
    /// `targets` given `inputs` (shapes as in [`forward`](Self::forward)).
    ///
    /// # Errors
    /// As [`forward`](Self::forward).
    pub fn evaluate(&mut self, params: &[f32], inputs: &[u32], targets: &[u32]) -> Result<f32> {
        let loss = self.forward(params, inputs, targets)?;
        self.ready = false;
        Ok(loss)
    }

    fn check_params(&self, what: &str, buffer: &[f32]) -> Result<()> {
        if buffer.len() != self.layout.len() {
            return Err(TrainError::ShapeMismatch {
                what: what.into(),
                expected: self.layout.len(),
                actual: buffer.len(),
            });
        }
        Ok(())
    }

    fn check_tokens(&self, what: &str, tokens: &[u32]) -> Result<()> {
        if tokens.len() != self.dims.n {
            return Err(TrainError::ShapeMismatch {
                what: format!("{what} (batch {} × context {})", self.dims.b, self.dims.t),
                expected: self.dims.n,
                actual: tokens.len(),
            });
        }
        if let Some((i, &token)) = tokens
            .iter()
            .enumerate()
            .find(|&(_, &token)| token as usize >= self.dims.v)
        {
            return Err(TrainError::InvalidInput(format!(
                "{what}[{i}] = {token} is outside the vocabulary of {}",
                self.dims.v
            )));
        }
        Ok(())
    }
}

/// Rejects configs outside what the passes implement.
fn check_config(config: &ModelConfig) -> Result<()> {
    let unsupported = |why: String| Err(TrainError::UnsupportedConfig(why));
    if config.activation != Activation::GeluTanh {
        return unsupported(format!(
            "the MLP activation must be GELU-tanh (gelu_new), not {:?}",
            config.activation
        ));
    }
    if config.num_heads * config.head_dim != config.hidden_size {
        return unsupported(format!(
            "{} heads of width {} do not tile the width {}",
            config.num_heads, config.head_dim, config.hidden_size
        ));
    }
    if config.num_kv_heads != config.num_heads {
        return unsupported("grouped-query attention is not trained here".into());
    }
    Ok(())
}

/// Rows handed to one rayon task by the row-parallel passes (a fixed count,
/// so the split, and thus nothing in the results, depends on the threads).
pub(crate) const ROWS_PER_TASK: usize = 16;

/// `out[j] += Σ_rows dy[row, j]` for `dy` `(rows, cols)`: a bias gradient.
/// Rows are added in order, so the result is deterministic.
pub(crate) fn add_column_sums(dy: &[f32], cols: usize, out: &mut [f32]) {
    for row in dy.chunks_exact(cols) {
        for (o, &g) in out.iter_mut().zip(row) {
            *o += g;
        }
    }
}
