//! The tokenizer of a GGUF file: `tokenizer.ggml.*` keys → [`Vocab`] →
//! [`Tokenizer`].
//!
//! | `Vocab` field | GGUF key (when absent) |
//! |---|---|
//! | `model` | `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece) |
//! | `tokens` | `tokenizer.ggml.tokens` (required) |
//! | `token_types` | `tokenizer.ggml.token_type` (all normal) |
//! | `scores` | `tokenizer.ggml.scores` (SentencePiece; all 0) |
//! | `merges` | `tokenizer.ggml.merges` (byte-level BPE: required, as in llama.cpp) |
//! | `pre` | `tokenizer.ggml.pre` (byte-level BPE: the GPT-2 regex; llama.cpp would use its `default` regex and warn) |
//! | `bos`, `eos`, `unk`, `pad` | `tokenizer.ggml.{bos,eos,unknown,padding}_token_id` (none; negative = none) |
//! | `add_bos`, `add_eos` | `tokenizer.ggml.add_bos_token`, `add_eos_token` (see below) |
//! | `add_space_prefix` | `tokenizer.ggml.add_space_prefix` (SentencePiece: true) |
//! | `chat_template` | `tokenizer.chat_template` (none) |
//!
//! The add-BOS/EOS defaults are llama.cpp's: SentencePiece adds BOS; byte-level BPE adds it
//! only for the pre-tokenizers that say so ([`PreTokenizer::adds_bos_by_default`]: Llama 3);
//! neither adds EOS. Unlike llama.cpp we do not invent GPT-2's BOS/EOS id 11 when the keys are
//! absent.

use smallmind_formats::gguf::{GgufFile, Metadata};
use smallmind_tokenizer::{PreTokenizer, Tokenizer, Vocab, VocabModel};

use super::config::{BOS_TOKEN_ID, EOS_TOKEN_ID, TOKENS, optional, token_id};
use crate::error::Result;

/// `tokenizer.ggml.model`.
pub const MODEL: &str = "tokenizer.ggml.model";
/// `tokenizer.ggml.token_type`.
pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
/// `tokenizer.ggml.scores`.
pub const SCORES: &str = "tokenizer.ggml.scores";
/// `tokenizer.ggml.add_space_prefix`.
pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
/// `tokenizer.ggml.merges`.
pub const MERGES: &str = "tokenizer.ggml.merges";
/// `tokenizer.ggml.pre`.
pub const PRE: &str = "tokenizer.ggml.pre";
/// `tokenizer.ggml.unknown_token_id`.
pub const UNKNOWN_TOKEN_ID: &str = "tokenizer.ggml.unknown_token_id";
/// `tokenizer.ggml.padding_token_id`.
pub const PADDING_TOKEN_ID: &str = "tokenizer.ggml.padding_token_id";
/// `tokenizer.ggml.add_bos_token`.
pub const ADD_BOS_TOKEN: &str = "tokenizer.ggml.add_bos_token";
/// `tokenizer.ggml.add_eos_token`.
pub const ADD_EOS_TOKEN: &str = "tokenizer.ggml.add_eos_token";
/// `tokenizer.chat_template`.
pub const CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// The tokenizer of a GGUF file (see the [module docs](self)).
///
/// # Errors
/// As [`tokenizer_from_metadata`].
pub fn load_tokenizer<D: AsRef<[u8]>>(file: &GgufFile<D>) -> Result<Tokenizer> {
    tokenizer_from_metadata(file.metadata())
}

/// The tokenizer described by GGUF metadata (see the [module docs](self)).
///
/// # Errors
/// [`crate::ModelError::Gguf`] for a missing required key or a value of the
/// wrong type; [`crate::ModelError::Tokenizer`] for another tokenizer model
/// or pre-tokenizer, or an inconsistent vocabulary (malformed merges, ids
/// out of range, ...).
pub fn tokenizer_from_metadata(md: &Metadata) -> Result<Tokenizer> {
    let model = VocabModel::from_gguf_name(md.get_str(MODEL)?)?;
    let defaults = Vocab::defaults(model);
    let pre = match (model, optional(md, PRE, Metadata::get_str)?) {
        (VocabModel::ByteLevelBpe, Some(name)) => PreTokenizer::from_gguf_name(name)?,
        _ => PreTokenizer::Gpt2,
    };
    let add_bos_default = defaults.add_bos || pre.adds_bos_by_default();
    let flag = |key, default| {
        Ok::<_, crate::ModelError>(optional(md, key, Metadata::get_bool)?.unwrap_or(default))
    };
    let vocab = Vocab {
        tokens: md.get_str_array(TOKENS)?.to_vec(),
        token_types: optional(md, TOKEN_TYPE, Metadata::get_i32_array)?
            .map(<[i32]>::to_vec)
            .unwrap_or_default(),
        scores: match model {
            VocabModel::SentencePiece => optional(md, SCORES, Metadata::get_f32_array)?
                .map(<[f32]>::to_vec)
                .unwrap_or_default(),
            VocabModel::ByteLevelBpe => Vec::new(),
        },
        merges: match model {
            VocabModel::ByteLevelBpe => md.get_str_array(MERGES)?.to_vec(),
            VocabModel::SentencePiece => Vec::new(),
        },
        pre,
        bos: token_id(md, BOS_TOKEN_ID)?,
        eos: token_id(md, EOS_TOKEN_ID)?,
        unk: token_id(md, UNKNOWN_TOKEN_ID)?,
        pad: token_id(md, PADDING_TOKEN_ID)?,
        add_bos: flag(ADD_BOS_TOKEN, add_bos_default)?,
        add_eos: flag(ADD_EOS_TOKEN, defaults.add_eos)?,
        add_space_prefix: flag(ADD_SPACE_PREFIX, defaults.add_space_prefix)?,
        chat_template: optional(md, CHAT_TEMPLATE, Metadata::get_str)?.map(str::to_owned),
        model,
    };
    let tokenizer = Tokenizer::from_vocab(vocab)?;
    let name = optional(md, GENERAL_NAME, Metadata::get_str)?.map(str::to_ascii_lowercase);
    Ok(match name {
        Some(name) if name.contains("phi-3") || name.contains("phi3") => {
            tokenizer.with_phi3_special_rstrip()
        }
        _ => tokenizer,
    })
}

/// `general.name`: llama.cpp keys one tokenizer rule to it (Phi-3's special tokens).
const GENERAL_NAME: &str = "general.name";
