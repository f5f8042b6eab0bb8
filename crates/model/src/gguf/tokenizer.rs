//! The tokenizer of a GGUF file: `tokenizer.ggml.*` keys → [`BpeVocab`] →
//! [`Tokenizer`].
//!
//! | `BpeVocab` field | GGUF key (when absent) |
//! |---|---|
//! | — | `tokenizer.ggml.model`: must be `gpt2` (byte-level BPE) |
//! | `tokens` | `tokenizer.ggml.tokens` (required) |
//! | `token_types` | `tokenizer.ggml.token_type` (all normal) |
//! | `merges` | `tokenizer.ggml.merges` (required, as in llama.cpp) |
//! | `pre` | `tokenizer.ggml.pre` (the GPT-2 regex; llama.cpp would use its `default` regex and warn) |
//! | `bos`, `eos`, `unk`, `pad` | `tokenizer.ggml.{bos,eos,unknown,padding}_token_id` (none; negative = none) |
//! | `add_bos`, `add_eos` | `tokenizer.ggml.add_bos_token`, `add_eos_token` (false) |
//! | `chat_template` | `tokenizer.chat_template` (none) |
//!
//! The add-BOS/EOS defaults are llama.cpp's for byte-level BPE with the
//! pre-tokenizers we implement (GPT-2, SmolLM): it only turns `add_bos` on
//! by default for pre-tokenizers such as `llama3`, `tekken` or `chameleon`,
//! which [`PreTokenizer::from_gguf_name`] refuses anyway. Unlike llama.cpp we
//! do not invent GPT-2's BOS/EOS id 11 when the keys are absent.

use smallmind_formats::gguf::{GgufFile, Metadata};
use smallmind_tokenizer::{BpeVocab, PreTokenizer, Tokenizer};

use super::config::{BOS_TOKEN_ID, EOS_TOKEN_ID, TOKENS, optional, token_id};
use crate::error::Result;

/// `tokenizer.ggml.model`.
pub const MODEL: &str = "tokenizer.ggml.model";
/// `tokenizer.ggml.token_type`.
pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
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
    BpeVocab::check_gguf_model(md.get_str(MODEL)?)?;
    let pre = match optional(md, PRE, Metadata::get_str)? {
        Some(name) => PreTokenizer::from_gguf_name(name)?,
        None => PreTokenizer::Gpt2,
    };
    let flag =
        |key| Ok::<_, crate::ModelError>(optional(md, key, Metadata::get_bool)?.unwrap_or(false));
    let vocab = BpeVocab {
        tokens: md.get_str_array(TOKENS)?.to_vec(),
        token_types: optional(md, TOKEN_TYPE, Metadata::get_i32_array)?
            .map(<[i32]>::to_vec)
            .unwrap_or_default(),
        merges: md.get_str_array(MERGES)?.to_vec(),
        pre,
        bos: token_id(md, BOS_TOKEN_ID)?,
        eos: token_id(md, EOS_TOKEN_ID)?,
        unk: token_id(md, UNKNOWN_TOKEN_ID)?,
        pad: token_id(md, PADDING_TOKEN_ID)?,
        add_bos: flag(ADD_BOS_TOKEN)?,
        add_eos: flag(ADD_EOS_TOKEN)?,
        chat_template: optional(md, CHAT_TEMPLATE, Metadata::get_str)?.map(str::to_owned),
    };
    Ok(Tokenizer::from_vocab(vocab)?)
}
