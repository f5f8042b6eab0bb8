//! The tokenizer's inputs as plain data: [`BpeVocab`] mirrors the GGUF tokenizer keys so that a
//! GGUF adapter can fill it field by field, and [`TokenKind`] mirrors `llama_token_type`.
//!
//! | field | GGUF key |
//! | --- | --- |
//! | `tokens` | `tokenizer.ggml.tokens` (strings in GPT-2's byte-level alphabet) |
//! | `token_types` | `tokenizer.ggml.token_type` (may be empty: all normal) |
//! | `merges` | `tokenizer.ggml.merges` (`"left right"`, rank = index) |
//! | `pre` | `tokenizer.ggml.pre`, via [`PreTokenizer::from_gguf_name`] |
//! | `bos`, `eos`, `unk`, `pad` | `tokenizer.ggml.{bos,eos,unknown,padding}_token_id` |
//! | `add_bos`, `add_eos` | `tokenizer.ggml.add_bos_token`, `tokenizer.ggml.add_eos_token` |
//! | `chat_template` | `tokenizer.chat_template` |
//!
//! A GGUF adapter first checks `tokenizer.ggml.model` with [`BpeVocab::check_gguf_model`],
//! then fills the fields and calls [`crate::Tokenizer::from_vocab`]:
//!
//! ```
//! use smallmind_tokenizer::{BpeVocab, EncodeOptions, PreTokenizer, Tokenizer};
//! # fn main() -> smallmind_tokenizer::Result<()> {
//! BpeVocab::check_gguf_model("gpt2")?;
//! let vocab = BpeVocab {
//!     tokens: ["<|endoftext|>", "h", "i", "hi"].map(String::from).to_vec(),
//!     token_types: vec![3, 1, 1, 1],
//!     merges: vec!["h i".to_owned()],
//!     pre: PreTokenizer::from_gguf_name("gpt-2")?,
//!     eos: Some(0),
//!     ..BpeVocab::default()
//! };
//! let tok = Tokenizer::from_vocab(vocab)?;
//! assert_eq!(tok.encode("hi<|endoftext|>", EncodeOptions::PROMPT)?, [3, 0]);
//! # Ok(())
//! # }
//! ```

use crate::error::{Result, TokenizerError};
use crate::pretok::PreTokenizer;

/// Kind of a vocabulary entry, as GGUF's `tokenizer.ggml.token_type` (`llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A byte-level BPE token (types 0 = undefined and 1 = normal).
    Normal,
    /// The unknown token (type 2); matched in text like a control token.
    Unknown,
    /// A control token such as `<|im_start|>` (type 3): matched in text only when parsing
    /// specials, skipped by decoding when skipping specials.
    Control,
    /// A user-defined token (type 4): always matched in text, decoded as its raw text.
    UserDefined,
    /// An unused slot (type 5).
    Unused,
    /// A byte token (type 6), treated as normal.
    Byte,
}

impl TokenKind {
    /// The kind of GGUF token type `value`, or `None` outside 0..=6.
    pub fn from_gguf(value: i32) -> Option<Self> {
        Some(match value {
            0 | 1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }

    /// Whether the token's text is matched as a whole in input text (control, unknown and
    /// user-defined tokens).
    pub fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::Unknown | Self::UserDefined)
    }

    /// Whether the token is decoded from its raw text rather than from the byte-level alphabet.
    pub(crate) fn decodes_raw(self) -> bool {
        self.is_special()
    }
}

impl BpeVocab {
    /// Accepts GGUF `tokenizer.ggml.model` `"gpt2"` (byte-level BPE), the only model this crate
    /// implements; anything else is [`TokenizerError::UnsupportedModel`].
    pub fn check_gguf_model(model: &str) -> Result<()> {
        match model {
            "gpt2" => Ok(()),
            other => Err(TokenizerError::UnsupportedModel(other.to_owned())),
        }
    }
}

/// A byte-level BPE vocabulary given as parts, one field per GGUF key (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct BpeVocab {
    /// Token strings; the index is the token id.
    pub tokens: Vec<String>,
    /// GGUF token types (see [`TokenKind::from_gguf`]); empty means all normal.
    pub token_types: Vec<i32>,
    /// Merges `"left right"` in rank order (rank 0 merges first).
    pub merges: Vec<String>,
    /// The pre-tokenizer.
    pub pre: PreTokenizer,
    /// Beginning-of-sequence token.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// Unknown token (metadata only: as in llama.cpp, bytes without a token are dropped).
    pub unk: Option<u32>,
    /// Padding token.
    pub pad: Option<u32>,
    /// Whether encoding adds BOS by default.
    pub add_bos: bool,
    /// Whether encoding adds EOS by default.
    pub add_eos: bool,
    /// The model's chat template (Jinja source), if any.
    pub chat_template: Option<String>,
}
