//! The crate's single error type.
//!
//! Every fallible operation (building a vocabulary, parsing `tokenizer.json`, encoding, decoding,
//! rendering a chat template) returns [`TokenizerError`]; nothing in this crate panics on input.

use std::path::PathBuf;

/// Errors from building, encoding, decoding and chat-template rendering.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The vocabulary has no tokens.
    #[error("the vocabulary is empty")]
    EmptyVocab,
    /// The vocabulary does not fit in `u32` token ids.
    #[error("the vocabulary has {0} tokens, more than u32 ids can address")]
    VocabTooLarge(usize),
    /// `token_types` is non-empty but its length differs from `tokens`.
    #[error("tokenizer.ggml.token_type has {types} entries but tokenizer.ggml.tokens has {tokens}")]
    TokenTypeCount {
        /// Number of token types given.
        types: usize,
        /// Number of tokens given.
        tokens: usize,
    },
    /// `scores` is non-empty but its length differs from `tokens`.
    #[error("tokenizer.ggml.scores has {scores} entries but tokenizer.ggml.tokens has {tokens}")]
    ScoreCount {
        /// Number of scores given.
        scores: usize,
        /// Number of tokens given.
        tokens: usize,
    },
    /// A token type outside GGUF's 0..=6 (`llama_token_type`).
    #[error("token {id} has token type {value}, expected 0..=6")]
    InvalidTokenType {
        /// Token id.
        id: u32,
        /// The type value found.
        value: i32,
    },
    /// A merge that is not two non-empty tokens separated by a space.
    #[error("merge {rank} ({merge:?}) is malformed: expected two tokens separated by one space")]
    MalformedMerge {
        /// Rank (index) of the merge.
        rank: usize,
        /// The merge text.
        merge: String,
    },
    /// A merge names a token that is not in the vocabulary.
    #[error("merge {rank} ({merge:?}) names {token:?}, which is not in the vocabulary")]
    MergeUnknownToken {
        /// Rank (index) of the merge.
        rank: usize,
        /// The merge text.
        merge: String,
        /// The missing token.
        token: String,
    },
    /// A merge whose concatenation is not in the vocabulary.
    #[error("merge {rank} ({merge:?}) produces {token:?}, which is not in the vocabulary")]
    MergeResultMissing {
        /// Rank (index) of the merge.
        rank: usize,
        /// The merge text.
        merge: String,
        /// The missing merged token.
        token: String,
    },
    /// A special-token id (BOS, EOS, ...) outside the vocabulary.
    #[error("{role} token id {id} is out of range (the vocabulary has {vocab_size} tokens)")]
    SpecialIdOutOfRange {
        /// Which special token (`"bos"`, `"eos"`, `"unk"`, `"pad"`).
        role: &'static str,
        /// The id given.
        id: u32,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// A GGUF `tokenizer.ggml.model` other than byte-level BPE (`"gpt2"`) or SentencePiece
    /// (`"llama"`).
    #[error(
        "unsupported tokenizer model {0:?}: implemented are byte-level BPE (\"gpt2\") and \
         SentencePiece (\"llama\"), not WordPiece (\"bert\"), Unigram (\"t5\") or others"
    )]
    UnsupportedModel(String),
    /// A pre-tokenizer name (GGUF `tokenizer.ggml.pre`) this crate does not implement.
    #[error(
        "unsupported pre-tokenizer {0:?}: supported are the GPT-2 regex (\"gpt-2\", \"phi-2\", \
         \"jina-*\", \"gigachat\"), the SmolLM variant (\"smollm\", \"starcoder\", \"refact\", \
         \"command-r\", \"codeshell\"), Llama 3's (\"llama-bpe\", \"llama3\", \"falcon3\", ...), \
         Qwen2's (\"qwen2\", \"deepseek-r1-qwen\", \"stablelm2\") and GPT-4o's (\"gpt-4o\", \
         \"llama4\")"
    )]
    UnsupportedPreTokenizer(String),
    /// Adding BOS was requested but the vocabulary has no BOS token.
    #[error("adding BOS was requested but the vocabulary has no BOS token")]
    MissingBos,
    /// Adding EOS was requested but the vocabulary has no EOS token.
    #[error("adding EOS was requested but the vocabulary has no EOS token")]
    MissingEos,
    /// Decoding met an id outside the vocabulary.
    #[error("unknown token id {id} (the vocabulary has {vocab_size} tokens)")]
    UnknownTokenId {
        /// The id found.
        id: u32,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// `tokenizer.json` is not valid JSON or lacks a required field.
    #[error("malformed tokenizer.json: {0}")]
    MalformedJson(String),
    /// `tokenizer.json` uses a feature this crate does not implement.
    #[error("unsupported tokenizer.json: {0}")]
    UnsupportedJson(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A Jinja chat template that does not compile, raises, or uses a feature the engine lacks.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// A built-in chat format name that does not exist.
    #[error(
        "unknown chat template {0:?}: the built-in formats are chatml, smollm2, llama3, mistral \
         and gemma"
    )]
    UnknownChatTemplate(String),
    /// A chat conversation the template cannot express (e.g. Mistral roles out of order).
    #[error("invalid conversation for the {template} chat template: {reason}")]
    InvalidConversation {
        /// Template name.
        template: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = TokenizerError> = std::result::Result<T, E>;
