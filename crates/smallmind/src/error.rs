//! The facade's one error type: what loading and text generation can report.

use smallmind_model::ModelError;
use smallmind_tokenizer::{CharTokenizerError, TokenizerError};

/// Everything [`crate::load`] and the text API can report. The layers' own errors pass
/// through unchanged ([`Error::Model`], [`Error::Tokenizer`], [`Error::CharTokenizer`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model spec is neither a file, a directory nor a preset name.
    #[error(
        "{spec:?} is not a GGUF file, a model directory or a preset \
         (m-small, m-medium, m-large, m-gpt2)"
    )]
    NotAModel {
        /// The spec as given.
        spec: String,
    },
    /// Text in or out needs a tokenizer, and the model has none (a preset).
    #[error("{model} has no tokenizer: give the prompt as token ids")]
    NoTokenizer {
        /// The model's name.
        model: String,
    },
    /// A chat needs a chat template, and the model has none (a char-level checkpoint, or a
    /// tokenizer without `chat_template`). An unrecognised template is
    /// [`TokenizerError::ChatTemplate`] instead.
    #[error("{model} has no chat template")]
    NoChatTemplate {
        /// The model's name.
        model: String,
    },
    /// A stop string is empty (it would match before any text).
    #[error("stop string {index} is empty; a stop string needs at least one character")]
    EmptyStopString {
        /// Its position in [`crate::GenerateOptions::stop`].
        index: usize,
    },
    /// The prompt encodes to no tokens, so there is nothing to continue.
    #[error("the prompt is empty: it encodes to no tokens")]
    EmptyPrompt,
    /// The prompt does not fit the session's KV cache.
    #[error(
        "the prompt is {tokens} tokens; the session's KV cache holds {capacity} positions \
         (a larger `SessionOptions::capacity` or a shorter prompt)"
    )]
    PromptTooLong {
        /// Prompt tokens.
        tokens: usize,
        /// KV cache positions.
        capacity: usize,
    },
    /// Loading or running the model failed (boxed: the model's error is large, and this
    /// keeps every `Result` of the crate small).
    #[error(transparent)]
    Model(Box<ModelError>),
    /// The byte-level BPE tokenizer or the chat template failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The char-level vocabulary of a `smallmind train` checkpoint failed.
    #[error(transparent)]
    CharTokenizer(#[from] CharTokenizerError),
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        Error::Model(Box::new(e))
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
