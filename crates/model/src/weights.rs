//! A model's weights, checked against its config and arranged per layer.
//!
//! [`Model::from_tensors`] takes tensors by Hugging Face name — f32, bf16 or
//! f16 (a safetensors checkpoint via [`crate::loader`], a preset), or ggml
//! blocks Q8_0, Q4_0, Q4_1, Q4_K, Q6_K (a GGUF file via [`crate::gguf`]) —
//! and checks that every tensor the architecture needs is there with the
//! shape the config implies. Weights are kept as they were handed over, in
//! their stored precision — a memory-mapped weight stays in the map (zero
//! copy) and the layers read it in place — except that norm gains, biases and
//! learned positions are widened to f32 (they are small), and GPT-2's Conv1D
//! weights are transposed once to `[out, in]` so that every projection runs
//! the same, faster, dot-product form.
//!
//! Naming and layouts (HF `save_pretrained`):
//! - GPT-2: `transformer.` prefix (or none, as the original hub checkpoint),
//!   `wte`, `wpe`, `h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
//!   mlp.c_proj}`, `ln_f`; Conv1D weights are `[in, out]`; the fused `c_attn`
//!   output is `q | k | v`.
//! - Llama: `model.embed_tokens`, `model.layers.N.{input_layernorm,
//!   self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj}`,
//!   `model.norm`, `lm_head` unless tied; `nn.Linear` weights are `[out, in]`.
//!   A family may fuse projections ([`HfNames::fused_qkv`],
//!   [`HfNames::fused_gate_up`]: Phi-3's `self_attn.qkv_proj` and
//!   `mlp.gate_up_proj`); a fused `gate|up` becomes two row views of its
//!   storage.

use std::collections::HashMap;
use std::ops::Range;

use half::{bf16, f16};
use smallmind_ops::mlp::{GateActivation, Gelu};
use smallmind_ops::{ActivationPrecision, Linear, Norm, WeightData, WeightLayout};
use smallmind_tensor::{DType, StorageKind, Tensor};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::family::{BlockSpec, HfNames, MlpKind, family};

/// Tensors (f32, bf16, f16 or ggml blocks) by Hugging Face name.
pub type TensorMap = HashMap<String, Tensor>;

/// A weight tensor's elements in their stored precision (quantized blocks as their bytes, viewed
/// in place).
fn weight_data(t: &Tensor) -> Result<WeightData<'_>> {
    Ok(match t.dtype() {
        DType::F32 => WeightData::F32(t.as_slice::<f32>()?),
        DType::BF16 => WeightData::Bf16(t.as_slice::<bf16>()?),
        DType::F16 => WeightData::F16(t.as_slice::<f16>()?),
        dtype => WeightData::Quant {
            dtype,
            bytes: t.as_bytes()?,
        },
    })
}

/// `t` in f32: itself, or a widened copy (norm gains, biases and learned
/// positions are small and read as f32).
fn widened(t: Tensor) -> Result<Tensor> {
    if t.dtype() == DType::F32 {
        return Ok(t);
    }
    Ok(Tensor::from_f32(t.dims(), &t.to_f32_vec()?)?)
}

/// A weight tensor resolved once at load: its dtype matched to a [`WeightData`]
/// variant, its contiguity and alignment checked and its bytes located in
/// storage, so the per-token path reads it with no check that can fail.
#[derive(Clone, Debug)]
struct Resolved {
    tensor: Tensor,
    bytes: Range<usize>,
}

impl Resolved {
    fn new(tensor: Tensor) -> Result<Resolved> {
        weight_data(&tensor)?;
        let bytes = tensor.byte_range()?;
        Ok(Resolved { tensor, bytes })
    }

    /// The elements in their stored precision.
    fn data(&self) -> WeightData<'_> {
        // `new` checked the range and the element casts; a tensor's storage
        // never moves or shrinks, so they still hold.
        let bytes = (self.tensor.storage().as_bytes())
            .get(self.bytes.clone())
            .unwrap_or_default();
        match self.tensor.dtype() {
            DType::F32 => WeightData::F32(bytemuck::cast_slice(bytes)),
            DType::BF16 => WeightData::Bf16(bytemuck::cast_slice(bytes)),
            DType::F16 => WeightData::F16(bytemuck::cast_slice(bytes)),
            dtype => WeightData::Quant { dtype, bytes },
        }
    }
}

/// An f32 parameter (norm gain, bias, learned positions), widened and
/// resolved once at load.
#[derive(Clone, Debug)]
struct F32Param(Resolved);

impl F32Param {
    fn new(t: Tensor) -> Result<F32Param> {
        Resolved::new(widened(t)?).map(F32Param)
    }

    fn as_slice(&self) -> &[f32] {
        match self.0.data() {
            WeightData::F32(values) => values,
            // `new` widened it to f32.
            _ => &[],
        }
    }
}

/// A `[out, in]` layer over `weight` in its stored precision, checked.
fn linear_view<'w>(
    weight: &'w Tensor,
    layout: WeightLayout,
    (in_features, out_features): (usize, usize),
    bias: Option<&'w [f32]>,
) -> Result<Linear<'w>> {
    Ok(match weight_data(weight)? {
        WeightData::F32(w) => Linear::new(w, layout, in_features, out_features, bias)?,
        half => Linear::half(half, in_features, out_features, bias)?,
    })
}

/// A linear layer's weight and optional bias, checked once at load.
#[derive(Clone, Debug)]
pub struct LinearWeights {
    weight: Resolved,
    bias: Option<F32Param>,
    layout: WeightLayout,
    /// Row stride of the weight as stored.
    ld: usize,
    in_features: usize,
    out_features: usize,
}

impl LinearWeights {
    /// `weight` (`[out, in]` or `[in, out]` as `layout` says) and `bias` as an
    /// `in → out` layer.
    fn new(
        weight: Tensor,
        bias: Option<Tensor>,
        layout: WeightLayout,
        (in_features, out_features): (usize, usize),
    ) -> Result<LinearWeights> {
        let bias = bias.map(F32Param::new).transpose()?;
        let dims = (in_features, out_features);
        let ld = linear_view(&weight, layout, dims, bias.as_ref().map(F32Param::as_slice))?.ld;
        Ok(LinearWeights {
            weight: Resolved::new(weight)?,
            bias,
            layout,
            ld,
            in_features,
            out_features,
        })
    }

    /// The borrowed op-level view.
    pub fn view(&self) -> Linear<'_> {
        Linear {
            weight: self.weight.data(),
            layout: self.layout,
            ld: self.ld,
            in_features: self.in_features,
            out_features: self.out_features,
            bias: self.bias.as_ref().map(F32Param::as_slice),
            activations: ActivationPrecision::default(),
        }
    }
}

impl LinearWeights {
    /// The layer's first `rows` outputs and the rest, as two layers viewing
    /// the same storage (rows of `[out, in]` weights are contiguous, so no
    /// copy, in any stored type): a fused `gate|up` projection.
    fn split_rows(self, rows: usize) -> Result<(LinearWeights, LinearWeights)> {
        let rest = self.out_features - rows;
        let part = |start, len| -> Result<LinearWeights> {
            let weight = self.weight.tensor.narrow(0, start, len)?;
            let bias = match &self.bias {
                Some(b) => Some(b.0.tensor.narrow(0, start, len)?),
                None => None,
            };
            LinearWeights::new(weight, bias, self.layout, (self.in_features, len))
        };
        Ok((part(0, rows)?, part(rows, rest)?))
    }
}

/// A norm's parameters.
#[derive(Clone, Debug)]
pub struct NormWeights {
    gamma: F32Param,
    beta: Option<F32Param>,
    eps: f32,
}

impl NormWeights {
    fn new(gamma: Tensor, beta: Option<Tensor>, eps: f32) -> Result<NormWeights> {
        Ok(NormWeights {
            gamma: F32Param::new(gamma)?,
            beta: beta.map(F32Param::new).transpose()?,
            eps,
        })
    }

    /// The same norm with `1 + γ` as its gain (Gemma's convention, applied once at load).
    fn plus_one(self) -> Result<NormWeights> {
        let gain: Vec<f32> = self.gamma.as_slice().iter().map(|g| g + 1.0).collect();
        let gamma = Tensor::from_f32(self.gamma.0.tensor.dims(), &gain)?;
        Ok(NormWeights {
            gamma: F32Param::new(gamma)?,
            ..self
        })
    }

    /// The gain `γ` and epsilon (an RMSNorm's whole description).
    pub fn gain(&self) -> (&[f32], f32) {
        (self.gamma.as_slice(), self.eps)
    }

    /// The borrowed op-level view: LayerNorm with a bias, RMSNorm without.
    pub fn view(&self) -> Norm<'_> {
        let gamma = self.gamma.as_slice();
        match &self.beta {
            Some(beta) => Norm::Layer {
                gamma,
                beta: beta.as_slice(),
                eps: self.eps,
            },
            None => Norm::Rms {
                gamma,
                eps: self.eps,
            },
        }
    }
}

/// The Q, K, V projections: one fused `C → q|k|v` layer (GPT-2) or three.
// One per block, built once: the size gap between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum QkvWeights {
    /// One layer whose output rows are `q | k | v`.
    Fused(LinearWeights),
    /// Separate layers writing the three column blocks.
    Split {
        /// `C → H·D`.
        q: LinearWeights,
        /// `C → Hkv·D`.
        k: LinearWeights,
        /// `C → Hkv·D`.
        v: LinearWeights,
    },
}

/// The MLP's layers.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum MlpWeights {
    /// `proj(gelu(fc(x)))`.
    Gelu {
        /// `C → F`.
        fc: LinearWeights,
        /// `F → C`.
        proj: LinearWeights,
        /// GELU form.
        gelu: Gelu,
    },
    /// `down(act(gate(x)) ⊙ up(x))`: SwiGLU, GeGLU.
    Gated {
        /// The gate's activation.
        activation: GateActivation,
        /// `C → F`.
        gate: LinearWeights,
        /// `C → F`.
        up: LinearWeights,
        /// `F → C`.
        down: LinearWeights,
    },
}

/// One transformer block (pre-norm).
#[derive(Clone, Debug)]
pub struct Block {
    /// Norm before attention.
    pub attn_norm: NormWeights,
    /// Q, K, V projections.
    pub qkv: QkvWeights,
    /// Per-head RMSNorm gains `(D,)` of the queries and keys (QK-norm).
    pub qk_norm: Option<QkNorm>,
    /// Norms on the attention and MLP outputs (Gemma).
    pub post_norms: Option<PostNorms>,
    /// Attention output projection `H·D → C`.
    pub out_proj: LinearWeights,
    /// Norm before the MLP.
    pub mlp_norm: NormWeights,
    /// The MLP.
    pub mlp: MlpWeights,
}

/// The per-head query and key norms of one block.
#[derive(Clone, Debug)]
pub struct QkNorm {
    /// Over each query head.
    pub q: NormWeights,
    /// Over each key head.
    pub k: NormWeights,
}

/// The norms on the attention and MLP outputs, before their residual adds.
#[derive(Clone, Debug)]
pub struct PostNorms {
    /// On the attention output.
    pub attn: NormWeights,
    /// On the MLP output.
    pub mlp: NormWeights,
}

/// A transformer ready to run: config plus checked weights.
#[derive(Clone, Debug)]
pub struct Model {
    config: ModelConfig,
    /// The family's block description of `config`.
    spec: BlockSpec,
    /// `(vocab, C)` token embeddings.
    token_embedding: Resolved,
    /// `(n_positions, C)` learned positions (GPT-2).
    position_embedding: Option<F32Param>,
    blocks: Vec<Block>,
    final_norm: NormWeights,
    /// `C → vocab`, `(vocab, C)` `[out, in]`; shares storage with the embedding when tied.
    lm_head: LinearWeights,
}

impl Model {
    /// Builds a model from tensors (f32, bf16, f16 or ggml blocks) named as
    /// Hugging Face names them.
    ///
    /// # Errors
    /// [`ModelError::MissingTensor`] or [`ModelError::ShapeMismatch`] naming
    /// the tensor; config errors from [`ModelConfig::validate`].
    pub fn from_tensors(config: ModelConfig, mut tensors: TensorMap) -> Result<Model> {
        config.validate()?;
        let family = family(config.architecture);
        let spec = (family.block)(&config);
        let mut take = Taker {
            tensors: &mut tensors,
            prefix: "",
        };
        match family.hf_names {
            None => {
                if take.tensors.contains_key("transformer.wte.weight") {
                    take.prefix = "transformer.";
                }
                build_gpt2(config, spec, &mut take)
            }
            Some(names) => build_decoder(config, spec, &names, &mut take),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The block description the forward pass follows.
    pub fn spec(&self) -> &BlockSpec {
        &self.spec
    }

    /// The blocks, first to last.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// `(vocab, C)` token embeddings, in their stored precision.
    pub fn token_embedding(&self) -> WeightData<'_> {
        self.token_embedding.data()
    }

    /// `(n_positions, C)` learned position embeddings, if the architecture has them.
    pub fn position_embedding(&self) -> Option<&[f32]> {
        self.position_embedding.as_ref().map(F32Param::as_slice)
    }

    /// The final norm.
    pub fn final_norm(&self) -> &NormWeights {
        &self.final_norm
    }

    /// The LM head as a `C → vocab` layer.
    pub fn lm_head(&self) -> Linear<'_> {
        self.lm_head.view()
    }

    /// Floats of scratch the layers need for chunks of up to `rows` tokens
    /// (0 for f32 weights; see [`Linear::scratch_len`]).
    pub fn scratch_len(&self, rows: usize) -> usize {
        let mut layers = vec![&self.lm_head];
        for b in &self.blocks {
            layers.push(&b.out_proj);
            match &b.qkv {
                QkvWeights::Fused(w) => layers.push(w),
                QkvWeights::Split { q, k, v } => layers.extend([q, k, v]),
            }
            match &b.mlp {
                MlpWeights::Gelu { fc, proj, .. } => layers.extend([fc, proj]),
                MlpWeights::Gated { gate, up, down, .. } => layers.extend([gate, up, down]),
            }
        }
        layers
            .iter()
            .map(|w| w.view().scratch_len(rows).max(w.view().scratch_len(1)))
            .max()
            .unwrap_or(0)
    }

    /// Number of parameters held (a tied matrix counts once).
    pub fn param_count(&self) -> usize {
        self.config.param_count()
    }

    /// Calls `f` on every weight tensor once (a tied LM head is the embedding).
    fn for_each_tensor(&self, mut f: impl FnMut(&Tensor)) {
        let mut linear = |w: &LinearWeights| {
            f(&w.weight.tensor);
            w.bias.iter().for_each(|b| f(&b.0.tensor));
        };
        for b in &self.blocks {
            match &b.qkv {
                QkvWeights::Fused(w) => linear(w),
                QkvWeights::Split { q, k, v } => [q, k, v].into_iter().for_each(&mut linear),
            }
            linear(&b.out_proj);
            match &b.mlp {
                MlpWeights::Gelu { fc, proj, .. } => [fc, proj].into_iter().for_each(&mut linear),
                MlpWeights::Gated { gate, up, down, .. } => {
                    [gate, up, down].into_iter().for_each(&mut linear)
                }
            }
        }
        let qk_norms = self.blocks.iter().flat_map(|b| &b.qk_norm);
        let norms = self
            .blocks
            .iter()
            .flat_map(|b| [&b.attn_norm, &b.mlp_norm])
            .chain(qk_norms.flat_map(|n| [&n.q, &n.k]))
            .chain(
                self.blocks
                    .iter()
                    .flat_map(|b| &b.post_norms)
                    .flat_map(|n| [&n.attn, &n.mlp]),
            );
        for n in norms.chain([&self.final_norm]) {
            f(&n.gamma.0.tensor);
            n.beta.iter().for_each(|b| f(&b.0.tensor));
        }
        f(&self.token_embedding.tensor);
        self.position_embedding.iter().for_each(|p| f(&p.0.tensor));
        if !self.spec.tied_head {
            f(&self.lm_head.weight.tensor);
        }
    }

    /// Weight bytes `(in a memory map, in owned memory)`: an f32 checkpoint
    /// is used in place; widened or transposed weights and presets are owned.
    pub fn weight_bytes(&self) -> (usize, usize) {
        let (mut mapped, mut owned) = (0, 0);
        self.for_each_tensor(|t| {
            let bytes = t.dtype().checked_byte_size(t.numel()).unwrap_or(0);
            match t.storage_kind() {
                StorageKind::Mapped => mapped += bytes,
                StorageKind::Owned | StorageKind::Pooled => owned += bytes,
            }
        });
        (mapped, owned)
    }
}

/// Removes tensors from the map by name, checking shapes.
struct Taker<'a> {
    tensors: &'a mut TensorMap,
    prefix: &'static str,
}

impl Taker<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let t = self
            .tensors
            .remove(&full)
            .ok_or_else(|| ModelError::MissingTensor { name: full.clone() })?;
        if t.dims() != shape {
            return Err(ModelError::ShapeMismatch {
                name: full,
                expected: shape.to_vec(),
                actual: t.dims().to_vec(),
            });
        }
        Ok(t)
    }

    fn optional(&mut self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        let full = format!("{}{name}", self.prefix);
        if self.tensors.contains_key(&full) {
            self.tensor(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// `name.weight` (and `name.bias` when `bias`) as a `in → out` layer.
    fn linear(
        &mut self,
        name: &str,
        layout: WeightLayout,
        (in_features, out_features): (usize, usize),
        bias: bool,
    ) -> Result<LinearWeights> {
        let shape = match layout {
            WeightLayout::OutIn => [out_features, in_features],
            WeightLayout::InOut => [in_features, out_features],
        };
        let mut weight = self.tensor(&format!("{name}.weight"), &shape)?;
        let mut layout = layout;
        if layout == WeightLayout::InOut {
            // Conv1D `[in, out]` → `[out, in]` once, so every decode GEMV is
            // the dot-product form (contiguous weight rows, no output
            // read-modify-write per input row): 2–3× faster decode on the
            // GPT-2 presets than the axpy form.
            weight = weight.transpose(0, 1)?.to_contiguous()?;
            layout = WeightLayout::OutIn;
        }
        let bias = if bias {
            Some(self.tensor(&format!("{name}.bias"), &[out_features])?)
        } else {
            None
        };
        LinearWeights::new(weight, bias, layout, (in_features, out_features))
    }

    fn norm(&mut self, name: &str, c: usize, eps: f32, with_bias: bool) -> Result<NormWeights> {
        let gamma = self.tensor(&format!("{name}.weight"), &[c])?;
        let beta = if with_bias {
            Some(self.tensor(&format!("{name}.bias"), &[c])?)
        } else {
            None
        };
        NormWeights::new(gamma, beta, eps)
    }
}

fn build_gpt2(config: ModelConfig, spec: BlockSpec, take: &mut Taker<'_>) -> Result<Model> {
    let c = config.hidden_size;
    let (qkv_out, ff, eps) = (
        config.q_dim() + 2 * config.kv_dim(),
        config.intermediate_size,
        config.norm_eps,
    );
    let MlpKind::Plain(gelu) = spec.mlp else {
        return Err(ModelError::InvalidConfig {
            key: "activation_function",
            reason: "GPT-2 blocks need a GELU activation".into(),
        });
    };
    let token_embedding = take.tensor("wte.weight", &[config.vocab_size, c])?;
    let position_embedding =
        F32Param::new(take.tensor("wpe.weight", &[config.max_position_embeddings, c])?)?;
    let blocks = (0..config.num_layers)
        .map(|i| {
            let p = format!("h.{i}");
            Ok(Block {
                attn_norm: take.norm(&format!("{p}.ln_1"), c, eps, true)?,
                qk_norm: None,
                post_norms: None,
                qkv: QkvWeights::Fused(take.linear(
                    &format!("{p}.attn.c_attn"),
                    WeightLayout::InOut,
                    (c, qkv_out),
                    true,
                )?),
                out_proj: take.linear(
                    &format!("{p}.attn.c_proj"),
                    WeightLayout::InOut,
                    (config.q_dim(), c),
                    true,
                )?,
                mlp_norm: take.norm(&format!("{p}.ln_2"), c, eps, true)?,
                mlp: MlpWeights::Gelu {
                    fc: take.linear(
                        &format!("{p}.mlp.c_fc"),
                        WeightLayout::InOut,
                        (c, ff),
                        true,
                    )?,
                    proj: take.linear(
                        &format!("{p}.mlp.c_proj"),
                        WeightLayout::InOut,
                        (ff, c),
                        true,
                    )?,
                    gelu,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let final_norm = take.norm("ln_f", c, eps, true)?;
    take.prefix = "";
    let lm_head = lm_head(&config, &spec, take, &token_embedding)?;
    Ok(Model {
        config,
        spec,
        token_embedding: Resolved::new(token_embedding)?,
        position_embedding: Some(position_embedding),
        blocks,
        final_norm,
        lm_head,
    })
}

/// A model in the Llama layout (`model.embed_tokens`, `model.layers.N.<names>`,
/// `model.norm`, `lm_head`), with the biases `spec` asks for.
fn build_decoder(
    config: ModelConfig,
    spec: BlockSpec,
    names: &HfNames,
    take: &mut Taker<'_>,
) -> Result<Model> {
    let c = config.hidden_size;
    let (q_dim, kv_dim, ff, eps) = (
        config.q_dim(),
        config.kv_dim(),
        config.intermediate_size,
        config.norm_eps,
    );
    let (qkv_bias, out_bias, mlp_bias) = (spec.qkv_bias, spec.out_bias, spec.mlp_bias);
    let MlpKind::Gated(activation) = spec.mlp else {
        return Err(ModelError::InvalidConfig {
            key: "hidden_act",
            reason: "this layout needs a gated MLP".into(),
        });
    };
    let token_embedding = take.tensor("model.embed_tokens.weight", &[config.vocab_size, c])?;
    let blocks = (0..config.num_layers)
        .map(|i| {
            let p = format!("model.layers.{i}");
            let lin = |take: &mut Taker<'_>, name: &str, dims, bias| {
                take.linear(&format!("{p}.{name}"), WeightLayout::OutIn, dims, bias)
            };
            let plus_one = spec.norm_plus_one;
            let norm = |take: &mut Taker<'_>, name: &str, width| {
                let norm = take.norm(&format!("{p}.{name}"), width, eps, false)?;
                if plus_one { norm.plus_one() } else { Ok(norm) }
            };
            let qkv = match names.fused_qkv {
                Some(fused) => {
                    QkvWeights::Fused(lin(take, fused, (c, q_dim + 2 * kv_dim), qkv_bias)?)
                }
                None => QkvWeights::Split {
                    q: lin(take, names.q, (c, q_dim), qkv_bias)?,
                    k: lin(take, names.k, (c, kv_dim), qkv_bias)?,
                    v: lin(take, names.v, (c, kv_dim), qkv_bias)?,
                },
            };
            let (gate, up) = match names.fused_gate_up {
                Some(fused) => lin(take, fused, (c, 2 * ff), mlp_bias)?.split_rows(ff)?,
                None => (
                    lin(take, names.gate, (c, ff), mlp_bias)?,
                    lin(take, names.up, (c, ff), mlp_bias)?,
                ),
            };
            Ok(Block {
                attn_norm: norm(take, names.attn_norm, c)?,
                qkv,
                qk_norm: if spec.qk_norm {
                    Some(QkNorm {
                        q: norm(take, names.q_norm, config.head_dim)?,
                        k: norm(take, names.k_norm, config.head_dim)?,
                    })
                } else {
                    None
                },
                out_proj: lin(take, names.o, (q_dim, c), out_bias)?,
                mlp_norm: norm(take, names.mlp_norm, c)?,
                post_norms: if spec.post_norms {
                    Some(PostNorms {
                        attn: norm(take, names.post_attn_norm, c)?,
                        mlp: norm(take, names.post_mlp_norm, c)?,
                    })
                } else {
                    None
                },
                mlp: MlpWeights::Gated {
                    activation,
                    gate,
                    up,
                    down: lin(take, names.down, (ff, c), mlp_bias)?,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let final_norm = take.norm("model.norm", c, eps, false)?;
    let final_norm = if spec.norm_plus_one {
        final_norm.plus_one()?
    } else {
        final_norm
    };
    let lm_head = lm_head(&config, &spec, take, &token_embedding)?;
    Ok(Model {
        config,
        spec,
        token_embedding: Resolved::new(token_embedding)?,
        position_embedding: None,
        blocks,
        final_norm,
        lm_head,
    })
}

/// `lm_head.weight` when untied; the token embedding (shared storage) when tied.
fn lm_head(
    config: &ModelConfig,
    spec: &BlockSpec,
    take: &mut Taker<'_>,
    embedding: &Tensor,
) -> Result<LinearWeights> {
    let shape = [config.vocab_size, config.hidden_size];
    let weight = if spec.tied_head {
        // A tied checkpoint may still carry a copy; HF ignores it, so do we.
        take.optional("lm_head.weight", &shape)?;
        embedding.clone()
    } else {
        take.tensor("lm_head.weight", &shape)?
    };
    let dims = (config.hidden_size, config.vocab_size);
    LinearWeights::new(weight, None, WeightLayout::OutIn, dims)
}
