//! The one error type of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading or running a model.
///
/// Each variant names the offending field, tensor, file or token so the
/// message alone says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or mapped.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON.
    #[error("config.json is not valid JSON: {0}")]
    ConfigJson(#[from] serde_json::Error),
    /// A required `config.json` key is absent.
    #[error("config.json: missing key `{key}`")]
    MissingConfigKey {
        /// The key.
        key: &'static str,
    },
    /// A `config.json` value has the wrong type or an impossible value.
    #[error("config: invalid `{key}`: {reason}")]
    InvalidConfig {
        /// The key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The architecture (`model_type` / `architectures`) is not one we run.
    #[error("unsupported architecture `{0}` (supported: {supported})", supported = crate::family::supported_hf_model_types())]
    UnsupportedArchitecture(String),
    /// The safetensors file is malformed (truncated, bad header, offsets out of range).
    #[error("{path}: invalid safetensors file: {reason}")]
    InvalidSafetensors {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// A tensor the architecture needs is not in the weights.
    #[error("missing tensor `{name}`")]
    MissingTensor {
        /// The HF tensor name.
        name: String,
    },
    /// A tensor has a shape other than the config implies.
    #[error("tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The HF tensor name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A tensor is stored in a dtype we cannot use.
    #[error("tensor `{name}` has unsupported dtype {dtype} (supported here: {supported})")]
    UnsupportedDType {
        /// The tensor name, as the file spells it.
        name: String,
        /// The dtype as the file spells it.
        dtype: String,
        /// The dtypes this file format can hold for us.
        supported: String,
    },
    /// A GGUF file is malformed, or a metadata key is missing or of the wrong type.
    #[error("GGUF: {0}")]
    Gguf(#[from] smallmind_formats::FormatError),
    /// A GGUF file's `general.architecture` is not one we load from GGUF.
    #[error("unsupported GGUF architecture `{0}` (supported: {supported})", supported = crate::family::supported_gguf_archs())]
    UnsupportedGgufArchitecture(String),
    /// A GGUF metadata value is impossible (heads that do not divide the
    /// width, disagreeing vocabulary sizes, an unsupported RoPE variant, ...).
    #[error("GGUF: invalid `{key}`: {reason}")]
    InvalidMetadata {
        /// The full key, e.g. `qwen2.attention.head_count`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A GGUF tensor that the architecture does not use, or uses in a way we
    /// do not implement (e.g. `rope_freqs.weight`, RoPE scaling factors).
    #[error("GGUF tensor `{name}`: {reason}")]
    UnsupportedGgufTensor {
        /// The GGUF tensor name.
        name: String,
        /// Why it cannot be loaded.
        reason: String,
    },
    /// The tokenizer could not be built.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] smallmind_tokenizer::TokenizerError),
    /// Prefill was given no tokens.
    #[error("empty prompt: prefill needs at least one token")]
    EmptyPrompt,
    /// The KV cache cannot hold the requested positions.
    #[error("context overflow: {requested} positions requested, the KV cache holds {capacity}")]
    ContextOverflow {
        /// Positions the call would fill (cached + new).
        requested: usize,
        /// The cache's capacity.
        capacity: usize,
    },
    /// A token id is outside the vocabulary.
    #[error("token id {token} is out of range for a vocabulary of {vocab_size}")]
    TokenOutOfRange {
        /// The token.
        token: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A sampler or session setting is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A worker thread of the session's team could not start.
    #[error("cannot start the worker threads: {0}")]
    ThreadPool(std::io::Error),
    /// An op rejected its arguments (a bug in the model's planning if it happens).
    #[error(transparent)]
    Ops(#[from] smallmind_ops::OpsError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] smallmind_tensor::TensorError),
}

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
