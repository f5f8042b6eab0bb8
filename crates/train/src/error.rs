//! The one error type of the train crate.

use std::path::PathBuf;

/// Everything that can go wrong while setting up or running training.
///
/// Each variant names the offending setting, tensor, file or shape, so the
/// message alone says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model config cannot be trained here (not GPT-2, bad sizes...).
    #[error("cannot train this config: {0}")]
    UnsupportedConfig(String),
    /// A buffer or batch does not have the length its shape implies.
    #[error("{what}: expected {expected} values, got {actual}")]
    ShapeMismatch {
        /// The buffer or tensor.
        what: String,
        /// The length the shape implies.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// A model-crate operation failed (config parsing, loading); boxed, as
    /// `ModelError` is large.
    #[error(transparent)]
    Model(Box<smallmind_model::ModelError>),
    /// A kernel rejected its arguments.
    #[error(transparent)]
    Kernel(#[from] smallmind_kernels::KernelError),
    /// A training setting (schedule, split, batch shape...) is out of range.
    #[error("invalid {name}: {reason}")]
    InvalidSetting {
        /// The setting, as the CLI names it (e.g. `lr-schedule`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory cannot be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The training data cannot be used (empty, too short for the context...).
    #[error("bad training data {path}: {reason}")]
    Data {
        /// The file or directory the data came from.
        path: PathBuf,
        /// What is wrong, with the sizes involved.
        reason: String,
    },
    /// The char tokenizer failed (unknown character, corrupt file...).
    #[error(transparent)]
    Tokenizer(#[from] smallmind_tokenizer::CharTokenizerError),
    /// A checkpoint file is missing, truncated or corrupt.
    #[error("bad checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file (or directory) at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint was saved for another model config.
    #[error("checkpoint {path} is for another model: {field} is {found}, expected {expected}")]
    ConfigMismatch {
        /// The checkpoint directory.
        path: PathBuf,
        /// The Hugging Face config key that differs (e.g. `n_embd`).
        field: &'static str,
        /// The value the caller expects.
        expected: String,
        /// The value in the checkpoint.
        found: String,
    },
    /// An op rejected its arguments.
    #[error(transparent)]
    Ops(#[from] smallmind_ops::OpsError),
    /// A batch or call the trainer cannot accept (a token outside the
    /// vocabulary, a zero batch, backward before forward...).
    #[error("invalid training input: {0}")]
    InvalidInput(String),
}

impl From<smallmind_model::ModelError> for TrainError {
    fn from(error: smallmind_model::ModelError) -> Self {
        TrainError::Model(Box::new(error))
    }
}

/// `Ok` if a buffer of `actual` values has the `expected` length, else a
/// [`TrainError::ShapeMismatch`] naming `what`.
pub(crate) fn check_len(what: &str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(TrainError::ShapeMismatch {
        what: what.into(),
        expected,
        actual,
    })
}

/// The train crate's result type.
pub type Result<T> = std::result::Result<T, TrainError>;
