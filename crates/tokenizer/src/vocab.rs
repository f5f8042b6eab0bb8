//! The tokenizer's inputs as plain data: [`Vocab`] mirrors the GGUF tokenizer keys so that a
//! GGUF adapter can fill it field by field, [`VocabModel`] is `tokenizer.ggml.model`, and
//! [`TokenKind`] mirrors `llama_token_type`.
//!
//! | field | GGUF key |
//! | --- | --- |
//! | `model` | `tokenizer.ggml.model` (via [`VocabModel::from_gguf_name`]) |
//! | `tokens` | `tokenizer.ggml.tokens` (byte-level alphabet for `gpt2`, `▁` for spaces for `llama`) |
//! | `token_types` | `tokenizer.ggml.token_type` (may be empty: all normal) |
//! | `scores` | `tokenizer.ggml.scores` (SentencePiece only; may be empty: all 0) |
//! | `merges` | `tokenizer.ggml.merges` (byte-level BPE only; `"left right"`, rank = index) |
//! | `pre` | `tokenizer.ggml.pre`, via [`PreTokenizer::from_gguf_name`] (byte-level BPE only) |
//! | `bos`, `eos`, `unk`, `pad` | `tokenizer.ggml.{bos,eos,unknown,padding}_token_id` |
//! | `add_bos`, `add_eos` | `tokenizer.ggml.add_bos_token`, `tokenizer.ggml.add_eos_token` |
//! | `add_space_prefix` | `tokenizer.ggml.add_space_prefix` (SentencePiece only) |
//! | `chat_template` | `tokenizer.chat_template` |
//!
//! A GGUF adapter reads `tokenizer.ggml.model` with [`VocabModel::from_gguf_name`], takes the
//! model's defaults from [`Vocab::defaults`], fills the fields the file has and calls
//! [`crate::Tokenizer::from_vocab`]:
//!
//! ```
//! use smallmind_tokenizer::{EncodeOptions, PreTokenizer, Tokenizer, Vocab, VocabModel};
//! # fn main() -> smallmind_tokenizer::Result<()> {
//! let model = VocabModel::from_gguf_name("gpt2")?;
//! let vocab = Vocab {
//!     tokens: ["<|endoftext|>", "h", "i", "hi"].map(String::from).to_vec(),
//!     token_types: vec![3, 1, 1, 1],
//!     merges: vec!["h i".to_owned()],
//!     pre: PreTokenizer::from_gguf_name("gpt-2")?,
//!     eos: Some(0),
//!     ..Vocab::defaults(model)
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
    /// A byte token (type 6): `<0xNN>` in SentencePiece vocabularies, which decodes to the
    /// byte `0xNN`.
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
}

/// How a vocabulary turns text into tokens: GGUF `tokenizer.ggml.model`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VocabModel {
    /// Byte-level BPE (`gpt2`): a pre-tokenizer splits the text, each piece's bytes are
    /// written in GPT-2's byte alphabet and merged by rank (GPT-2, SmolLM, Llama 3, Qwen2).
    #[default]
    ByteLevelBpe,
    /// SentencePiece (`llama`): spaces become `▁`, adjacent pieces merge by the score of the
    /// token they form, and characters outside the vocabulary fall back to `<0xNN>` byte
    /// tokens (Llama 2, Mistral, TinyLlama, Phi-3, Gemma).
    SentencePiece,
}

impl VocabModel {
    /// The model of GGUF `tokenizer.ggml.model`: `gpt2` or `llama`; anything else (`bert`,
    /// `t5`, `rwkv`, ...) is [`TokenizerError::UnsupportedModel`].
    pub fn from_gguf_name(name: &str) -> Result<Self> {
        match name {
            "gpt2" => Ok(Self::ByteLevelBpe),
            "llama" => Ok(Self::SentencePiece),
            other => Err(TokenizerError::UnsupportedModel(other.to_owned())),
        }
    }
}

/// A vocabulary given as parts, one field per GGUF key (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Vocab {
    /// How text becomes tokens.
    pub model: VocabModel,
    /// Token strings; the index is the token id.
    pub tokens: Vec<String>,
    /// GGUF token types (see [`TokenKind::from_gguf`]); empty means all normal.
    pub token_types: Vec<i32>,
    /// SentencePiece scores, one per token (higher merges first); empty means all 0.
    pub scores: Vec<f32>,
    /// Byte-level BPE merges `"left right"` in rank order (rank 0 merges first).
    pub merges: Vec<String>,
    /// The byte-level BPE pre-tokenizer.
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
    /// SentencePiece: whether a space is put before text that starts the input or follows a
    /// special token (the "dummy prefix"), and removed again when decoding a whole sequence.
    pub add_space_prefix: bool,
    /// The model's chat template (Jinja source), if any.
    pub chat_template: Option<String>,
}

impl Vocab {
    /// An empty vocabulary with llama.cpp's defaults for `model` where a GGUF file has no
    /// key: SentencePiece adds BOS and the space prefix; byte-level BPE neither (see
    /// [`PreTokenizer::adds_bos_by_default`] for the pre-tokenizers that add BOS).
    pub fn defaults(model: VocabModel) -> Self {
        let spm = model == VocabModel::SentencePiece;
        Self {
            model,
            add_bos: spm,
            add_space_prefix: spm,
            ..Self::default()
        }
    }
}
