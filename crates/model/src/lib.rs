//! # smallmind-model — transformers that run
//!
//! Sits on `smallmind-ops` (layers) and `smallmind-tensor` (storage). It owns
//! model structure and state, and never prints, reads env vars or installs
//! subscribers:
//! - [`config`] — [`ModelConfig`] from HF `config.json`;
//! - [`preset`] — the benchmark presets with seeded random weights;
//! - [`family`] — the registry of model families, each a [`family::BlockSpec`] and its name maps;
//! - [`weights`] — [`Model`], the checked weights by HF name;
//! - [`loader`] — safetensors checkpoints (memory-mapped; f32, bf16 and f16 used in place);
//! - [`gguf`] — GGUF files of every family in [`family::FAMILIES`] (memory-mapped once; F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K used in place) and their tokenizer;
//! - [`kv_cache`] — the preallocated [`KvCache`];
//! - [`session`] — [`Session`], prefill and decode over planned buffers;
//! - [`sampler`] — greedy, temperature, top-k, top-p, min-p, repetition penalty, seeded;
//! - [`generate`] — streaming generation (stop tokens, token limit) with per-run stats;
//! - [`quantize`] — GGUF quantization as `llama-quantize` plans it (mixtures such as `Q4_K_M`, or one type);
//! - [`perplexity`] — the mean next-token loss of a text, and its perplexity;
//! - [`workload`] — the benchmark scenarios (profile, pp128tg64) as code;
//! - [`error`] — [`ModelError`].

pub mod batch;
pub mod config;
pub mod error;
pub mod family;
mod forward;
pub mod generate;
pub mod gguf;
pub mod kv_cache;
pub mod loader;
pub mod perplexity;
pub mod preset;
pub mod quantize;
pub mod sampler;
pub mod session;
mod spans;
pub mod weights;
pub mod workload;
mod workspace;

pub use batch::BatchDecoder;
pub use config::{Activation, Architecture, FamilyParams, LongRope, ModelConfig};
pub use error::{ModelError, Result};
pub use generate::{FinishReason, Generation, GenerationStats, StopCriteria};
pub use gguf::{load_gguf, load_gguf_with_tokenizer};
pub use kv_cache::KvCache;
pub use perplexity::{TextLoss, text_loss};
pub use preset::{NamedTensor, PRESET_SEED, Preset};
pub use sampler::{Candidate, Sampler, SamplerConfig};
pub use session::{Session, SessionOptions};
pub use smallmind_ops::ActivationPrecision;
pub use weights::{Model, TensorMap};
