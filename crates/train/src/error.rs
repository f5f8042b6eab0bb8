//! The one error type of the train crate.

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

/// The train crate's result type.
pub type Result<T> = std::result::Result<T, TrainError>;
