//! Benchmark presets (WORKLOADS.md, "Model workloads"): configs and seeded
//! random weights.
//!
//! All four presets are GPT-2 style: learned token and position embeddings,
//! pre-LayerNorm blocks with biases (eps 1e-5), a fused QKV projection with
//! bias, an output projection with bias, an MLP of width `4·d` with the tanh
//! GELU, and a final LayerNorm. M-small, M-medium and M-large have an untied
//! LM head without bias; M-gpt2 ties the LM head to the token embedding, as
//! GPT-2 does.
//!
//! | preset | vocab | context | d | layers | heads | parameters |
//! |---|---|---|---|---|---|---|
//! | M-small | 256 | 64 | 128 | 2 | 4 | 470,528 |
//! | M-medium | 512 | 128 | 256 | 4 | 8 | 3,454,464 |
//! | M-large | 1024 | 512 | 512 | 8 | 8 | 26,530,816 |
//! | M-gpt2 | 50257 | 1024 | 768 | 12 | 12 | 124,439,808 |
//!
//! Random weights ([`Preset::random_tensors`], [`gpt2_random_tensors`]) come
//! out as [`NamedTensor`]s with the exact Hugging Face `GPT2LMHeadModel` names
//! and layouts (Conv1D weights stored `[in, out]`), so they go through the
//! same loading path as a real checkpoint. Values:
//! - every weight matrix and both embeddings: `N(0, 0.02²)`, drawn from
//!   `ChaCha8Rng::seed_from_u64(seed)` with `rand_distr::Normal`, one stream
//!   filled tensor after tensor in the order of [`gpt2_random_tensors`], each
//!   tensor row-major;
//! - LayerNorm gains 1, every bias 0 (HF's GPT-2 initialization; these draw
//!   nothing from the stream).
//!
//! The presets name no BOS/EOS token: their weights are random, so no token
//! means anything, and benchmarks generate fixed lengths.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use smallmind_tensor::Tensor;

use crate::config::{Activation, Architecture, DEFAULT_ROPE_THETA, FamilyParams, ModelConfig};
use crate::error::{ModelError, Result};
use crate::weights::{Model, TensorMap};

/// The seed of the benchmark weights (WORKLOADS.md: seed 42).
pub const PRESET_SEED: u64 = 42;

/// Standard deviation of the random weight matrices and embeddings.
pub const PRESET_WEIGHT_STD: f32 = 0.02;

/// LayerNorm epsilon of every preset.
const PRESET_LAYER_NORM_EPS: f32 = 1e-5;

/// A benchmark model of WORKLOADS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// M-small: vocab 256, context 64, d 128, 2 layers, 4 heads.
    Small,
    /// M-medium: vocab 512, context 128, d 256, 4 layers, 8 heads.
    Medium,
    /// M-large: vocab 1024, context 512, d 512, 8 layers, 8 heads.
    Large,
    /// M-gpt2: the GPT-2 small shape (vocab 50257, context 1024, d 768,
    /// 12 layers, 12 heads), LM head tied to the embedding.
    Gpt2,
}

/// One tensor of a checkpoint: Hugging Face name, shape, row-major f32 data.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The Hugging Face parameter name, e.g. `transformer.h.0.attn.c_attn.weight`.
    pub name: String,
    /// The shape, outermost dimension first.
    pub shape: Vec<usize>,
    /// The values, row-major; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Number of elements, the product of the shape.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The WORKLOADS.md row of one preset.
struct Shape {
    vocab: usize,
    context: usize,
    width: usize,
    layers: usize,
    heads: usize,
    tied: bool,
}

impl Preset {
    /// All presets, smallest first.
    pub const ALL: [Preset; 4] = [Preset::Small, Preset::Medium, Preset::Large, Preset::Gpt2];

    /// The canonical lowercase name: `m-small`, `m-medium`, `m-large`, `m-gpt2`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "m-small",
            Preset::Medium => "m-medium",
            Preset::Large => "m-large",
            Preset::Gpt2 => "m-gpt2",
        }
    }

    /// Parses a preset name, ignoring ASCII case, with or without the `m-`
    /// (or `m_`) prefix: `m-small`, `small`, `M-small`, `M-GPT2`, `gpt2`...
    ///
    /// # Errors
    /// [`ModelError::InvalidSetting`] (`preset`) naming the value and listing
    /// the valid names.
    pub fn parse(text: &str) -> Result<Preset> {
        let lower = text.trim().to_ascii_lowercase();
        let bare = lower
            .strip_prefix("m-")
            .or_else(|| lower.strip_prefix("m_"))
            .unwrap_or(&lower);
        Preset::ALL
            .into_iter()
            .find(|preset| &preset.name()[2..] == bare)
            .ok_or_else(|| ModelError::InvalidSetting {
                name: "preset",
                reason: format!(
                    "unknown preset `{text}` (valid: {})",
                    Preset::ALL.map(Preset::name).join(", ")
                ),
            })
    }

    fn shape(self) -> Shape {
        let (vocab, context, width, layers, heads, tied) = match self {
            Preset::Small => (256, 64, 128, 2, 4, false),
            Preset::Medium => (512, 128, 256, 4, 8, false),
            Preset::Large => (1024, 512, 512, 8, 8, false),
            Preset::Gpt2 => (50257, 1024, 768, 12, 12, true),
        };
        Shape {
            vocab,
            context,
            width,
            layers,
            heads,
            tied,
        }
    }

    /// The model configuration (GPT-2 architecture, see the module docs).
    pub fn config(self) -> ModelConfig {
        let s = self.shape();
        ModelConfig {
            architecture: Architecture::Gpt2,
            vocab_size: s.vocab,
            hidden_size: s.width,
            num_layers: s.layers,
            num_heads: s.heads,
            num_kv_heads: s.heads,
            head_dim: s.width / s.heads,
            intermediate_size: 4 * s.width,
            max_position_embeddings: s.context,
            norm_eps: PRESET_LAYER_NORM_EPS,
            rope_theta: DEFAULT_ROPE_THETA,
            activation: Activation::GeluTanh,
            tie_word_embeddings: s.tied,
            attention_bias: true,
            mlp_bias: true,
            bos_token_id: None,
            eos_token_ids: Vec::new(),
            extras: FamilyParams::default(),
        }
    }

    /// The parameter count WORKLOADS.md lists for this preset.
    pub fn expected_param_count(self) -> usize {
        match self {
            Preset::Small => 470_528,
            Preset::Medium => 3_454_464,
            Preset::Large => 26_530_816,
            Preset::Gpt2 => 124_439_808,
        }
    }

    /// Seeded random weights in Hugging Face GPT-2 naming and layout; see
    /// [`gpt2_random_tensors`] and the module docs. [`PRESET_SEED`] gives
    /// the benchmark weights.
    pub fn random_tensors(self, seed: u64) -> Vec<NamedTensor> {
        gpt2_tensors(&self.config(), seed)
    }

    /// The preset as a runnable [`Model`] with [`Preset::random_tensors`]`(seed)`.
    ///
    /// # Errors
    /// Only if the preset's own tensors were inconsistent (a bug).
    pub fn model(self, seed: u64) -> Result<Model> {
        let mut tensors = TensorMap::new();
        for t in self.random_tensors(seed) {
            tensors.insert(t.name, Tensor::from_f32(&t.shape, &t.data)?);
        }
        Model::from_tensors(self.config(), tensors)
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self> {
        Preset::parse(text)
    }
}

/// Seeded random weights for any valid GPT-2 config, in Hugging Face
/// `GPT2LMHeadModel` naming, layout and order:
///
/// 1. `transformer.wte.weight` `[vocab, d]`, `transformer.wpe.weight` `[context, d]`;
/// 2. for each block `N`: `transformer.h.N.ln_1.{weight,bias}` `[d]`,
///    `attn.c_attn.{weight [d, 3d], bias [3d]}` (q|k|v along the output),
///    `attn.c_proj.{weight [d, d], bias [d]}`, `ln_2.{weight,bias}` `[d]`,
///    `mlp.c_fc.{weight [d, f], bias [f]}`, `mlp.c_proj.{weight [f, d], bias [d]}`
///    (Conv1D: `[in, out]`, `y = x·W + b`);
/// 3. `transformer.ln_f.{weight,bias}` `[d]`;
/// 4. `lm_head.weight` `[vocab, d]`, only when the head is untied.
///
/// Matrices and embeddings are `N(0, 0.02²)` from one
/// `ChaCha8Rng::seed_from_u64(seed)` stream in that order; LayerNorm gains
/// are 1 and biases 0.
///
/// # Errors
/// [`ModelError::InvalidConfig`] if the config is not a valid GPT-2 config.
pub fn gpt2_random_tensors(config: &ModelConfig, seed: u64) -> Result<Vec<NamedTensor>> {
    config.validate()?;
    if config.architecture != Architecture::Gpt2 {
        return Err(ModelError::InvalidConfig {
            key: "model_type",
            reason: format!(
                "random GPT-2 weights need a GPT-2 config, not {:?}",
                config.architecture
            ),
        });
    }
    Ok(gpt2_tensors(config, seed))
}

/// How a tensor is initialized.
#[derive(Clone, Copy)]
enum Init {
    /// `N(0, std²)` from the shared stream.
    Normal,
    /// All ones (LayerNorm gains).
    Ones,
    /// All zeros (biases).
    Zeros,
}

/// Builds the tensors of a validated GPT-2 config (see [`gpt2_random_tensors`]).
fn gpt2_tensors(config: &ModelConfig, seed: u64) -> Vec<NamedTensor> {
    let d = config.hidden_size;
    let f = config.intermediate_size;
    let mut specs: Vec<(String, Vec<usize>, Init)> = vec![
        (
            "transformer.wte.weight".into(),
            vec![config.vocab_size, d],
            Init::Normal,
        ),
        (
            "transformer.wpe.weight".into(),
            vec![config.max_position_embeddings, d],
            Init::Normal,
        ),
    ];
    for layer in 0..config.num_layers {
        let p = format!("transformer.h.{layer}");
        let block = [
            ("ln_1.weight", vec![d], Init::Ones),
            ("ln_1.bias", vec![d], Init::Zeros),
            ("attn.c_attn.weight", vec![d, 3 * d], Init::Normal),
            ("attn.c_attn.bias", vec![3 * d], Init::Zeros),
            ("attn.c_proj.weight", vec![d, d], Init::Normal),
            ("attn.c_proj.bias", vec![d], Init::Zeros),
            ("ln_2.weight", vec![d], Init::Ones),
            ("ln_2.bias", vec![d], Init::Zeros),
            ("mlp.c_fc.weight", vec![d, f], Init::Normal),
            ("mlp.c_fc.bias", vec![f], Init::Zeros),
            ("mlp.c_proj.weight", vec![f, d], Init::Normal),
            ("mlp.c_proj.bias", vec![d], Init::Zeros),
        ];
        specs.extend(
            block
                .into_iter()
                .map(|(name, shape, init)| (format!("{p}.{name}"), shape, init)),
        );
    }
    specs.push(("transformer.ln_f.weight".into(), vec![d], Init::Ones));
    specs.push(("transformer.ln_f.bias".into(), vec![d], Init::Zeros));
    if !config.tie_word_embeddings {
        specs.push((
            "lm_head.weight".into(),
            vec![config.vocab_size, d],
            Init::Normal,
        ));
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0_f32, PRESET_WEIGHT_STD).expect("0.02 is a finite positive std");
    specs
        .into_iter()
        .map(|(name, shape, init)| {
            let numel = shape.iter().product();
            let data = match init {
                Init::Ones => vec![1.0; numel],
                Init::Zeros => vec![0.0; numel],
                Init::Normal => {
                    let mut data = vec![0.0; numel];
                    data.iter_mut().for_each(|x| *x = normal.sample(&mut rng));
                    data
                }
            };
            NamedTensor { name, shape, data }
        })
        .collect()
}
