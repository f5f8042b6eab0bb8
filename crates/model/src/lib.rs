//! # smallmind-model — transformers that run
//!
//! Sits on `smallmind-ops` (layers) and `smallmind-tensor` (storage). It owns
//! model structure and state, never printing, reading env vars or installing
//! subscribers:
//! - [`config`]: [`ModelConfig`] from HF `config.json`;
//! - [`preset`]: the benchmark presets with seeded random weights;
//! - [`sampler`]: greedy, temperature, top-k, top-p, min-p, repetition penalty, seeded.
//! - [`error`]: [`ModelError`].

pub mod config;
pub mod error;
pub mod preset;
pub mod sampler;

pub use config::{Activation, Architecture, ModelConfig};
pub use error::{ModelError, Result};
pub use sampler::{Candidate, Sampler, SamplerConfig, StopCriteria, StopReason};
