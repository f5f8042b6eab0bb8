//! [`ModelConfig::from_gguf`]: a Llama config from a GGUF file's `llama.*`
//! keys (the key names of llama.cpp's `llm_kv` table).
//!
//! | field | GGUF key (default) |
//! |---|---|
//! | architecture | `general.architecture` (must be `llama`) |
//! | `max_position_embeddings` | `llama.context_length` |
//! | `hidden_size` | `llama.embedding_length` |
//! | `num_layers` | `llama.block_count` |
//! | `intermediate_size` | `llama.feed_forward_length` |
//! | `num_heads` | `llama.attention.head_count` |
//! | `num_kv_heads` | `llama.attention.head_count_kv` (= head count) |
//! | `head_dim` | `llama.attention.key_length` (= `embedding_length / head_count`, must divide) |
//! | — | `llama.attention.value_length`, `llama.rope.dimension_count` (must equal `head_dim` if present) |
//! | `rope_theta` | `llama.rope.freq_base` (10000) |
//! | — | `llama.rope.scaling.type` (absent or `none`; scaled RoPE is not implemented) |
//! | `norm_eps` | `llama.attention.layer_norm_rms_epsilon` |
//! | `vocab_size` | `llama.vocab_size`, the rows of `token_embd.weight`, the length of `tokenizer.ggml.tokens` (every one present must agree) |
//! | `tie_word_embeddings` | true when there is no `output.weight` tensor |
//! | `bos_token_id` | `tokenizer.ggml.bos_token_id` (none) |
//! | `eos_token_ids` | `tokenizer.ggml.eos_token_id` (none) |
//!
//! The activation is SiLU (SwiGLU MLP) and there are no biases, as in
//! llama.cpp's `llama` graph. Integer keys may use any integer type and
//! float keys f32 or f64 (writers differ). Keys without a default are
//! required; a missing one is [`ModelError::Gguf`] naming it.

use smallmind_formats::FormatError;
use smallmind_formats::gguf::{GgufFile, Metadata};

use crate::config::{Activation, Architecture, DEFAULT_ROPE_THETA, ModelConfig};
use crate::error::{ModelError, Result};

/// `general.architecture`.
pub const ARCHITECTURE: &str = "general.architecture";
/// `llama.context_length`.
pub const CONTEXT_LENGTH: &str = "llama.context_length";
/// `llama.embedding_length`.
pub const EMBEDDING_LENGTH: &str = "llama.embedding_length";
/// `llama.block_count`.
pub const BLOCK_COUNT: &str = "llama.block_count";
/// `llama.feed_forward_length`.
pub const FEED_FORWARD_LENGTH: &str = "llama.feed_forward_length";
/// `llama.attention.head_count`.
pub const HEAD_COUNT: &str = "llama.attention.head_count";
/// `llama.attention.head_count_kv`.
pub const HEAD_COUNT_KV: &str = "llama.attention.head_count_kv";
/// `llama.attention.key_length`.
pub const KEY_LENGTH: &str = "llama.attention.key_length";
/// `llama.attention.value_length`.
pub const VALUE_LENGTH: &str = "llama.attention.value_length";
/// `llama.attention.layer_norm_rms_epsilon`.
pub const RMS_EPS: &str = "llama.attention.layer_norm_rms_epsilon";
/// `llama.rope.freq_base`.
pub const ROPE_FREQ_BASE: &str = "llama.rope.freq_base";
/// `llama.rope.dimension_count`.
pub const ROPE_DIMENSION_COUNT: &str = "llama.rope.dimension_count";
/// `llama.rope.scaling.type`.
pub const ROPE_SCALING_TYPE: &str = "llama.rope.scaling.type";
/// `llama.vocab_size`.
pub const VOCAB_SIZE: &str = "llama.vocab_size";
/// `tokenizer.ggml.tokens`.
pub const TOKENS: &str = "tokenizer.ggml.tokens";
/// `tokenizer.ggml.bos_token_id`.
pub const BOS_TOKEN_ID: &str = "tokenizer.ggml.bos_token_id";
/// `tokenizer.ggml.eos_token_id`.
pub const EOS_TOKEN_ID: &str = "tokenizer.ggml.eos_token_id";

/// The GGUF name of the token embedding, whose rows give the vocabulary size.
const TOKEN_EMBD: &str = "token_embd.weight";
/// The GGUF name of the untied LM head.
const OUTPUT: &str = "output.weight";

impl ModelConfig {
    /// The config of a Llama-architecture GGUF file (see the
    /// [module docs](self) for keys and defaults), validated.
    ///
    /// # Errors
    /// [`ModelError::UnsupportedGgufArchitecture`] naming another
    /// architecture; [`ModelError::Gguf`] for a missing required key or a
    /// value of the wrong type; [`ModelError::InvalidConfig`] naming the GGUF
    /// key for impossible values (heads that do not divide the width, a RoPE
    /// dimension other than the head width, disagreeing vocabulary sizes,
    /// non-finite floats) and the errors of [`ModelConfig::validate`].
    pub fn from_gguf<D: AsRef<[u8]>>(file: &GgufFile<D>) -> Result<ModelConfig> {
        let md = file.metadata();
        let arch = md.get_str(ARCHITECTURE)?;
        if arch != "llama" {
            return Err(ModelError::UnsupportedGgufArchitecture(clip(arch)));
        }
        let hidden_size: usize = md.get_int(EMBEDDING_LENGTH)?;
        let num_heads: usize = md.get_int(HEAD_COUNT)?;
        let num_kv_heads = optional(md, HEAD_COUNT_KV, Metadata::get_int::<usize>)?;
        let head_dim = head_dim(md, hidden_size, num_heads)?;
        check_rope(md, head_dim)?;
        let config = ModelConfig {
            architecture: Architecture::Llama,
            vocab_size: vocab_size(file)?,
            hidden_size,
            num_layers: md.get_int(BLOCK_COUNT)?,
            num_heads,
            num_kv_heads: num_kv_heads.unwrap_or(num_heads),
            head_dim,
            intermediate_size: md.get_int(FEED_FORWARD_LENGTH)?,
            max_position_embeddings: md.get_int(CONTEXT_LENGTH)?,
            norm_eps: finite_f32(RMS_EPS, md.get_float(RMS_EPS)?)?,
            rope_theta: match optional(md, ROPE_FREQ_BASE, Metadata::get_float)? {
                Some(theta) => finite_f32(ROPE_FREQ_BASE, theta)?,
                None => DEFAULT_ROPE_THETA,
            },
            activation: Activation::Silu,
            tie_word_embeddings: file.tensor(OUTPUT).is_err(),
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: token_id(md, BOS_TOKEN_ID)?,
            eos_token_ids: token_id(md, EOS_TOKEN_ID)?.into_iter().collect(),
        };
        config.validate()?;
        Ok(config)
    }
}

/// `Some(get(md, key))` when `key` is present, `None` when absent; a present
/// key of the wrong type is still an error.
pub(crate) fn optional<'m, T>(
    md: &'m Metadata,
    key: &str,
    get: impl FnOnce(&'m Metadata, &str) -> Result<T, FormatError>,
) -> Result<Option<T>> {
    if md.contains_key(key) {
        Ok(Some(get(md, key)?))
    } else {
        Ok(None)
    }
}

/// A special token id: absent or negative (some writers store -1 for
/// "none") is `None`; an id past `u32` is an error.
pub(crate) fn token_id(md: &Metadata, key: &str) -> Result<Option<u32>> {
    match optional(md, key, Metadata::get_int::<i64>)? {
        Some(id) if id < 0 => Ok(None),
        Some(_) => Ok(Some(md.get_int::<u32>(key)?)),
        None => Ok(None),
    }
}

/// `key_length` when given (then `value_length`, if given, must agree), else
/// `embedding_length / head_count`, which must divide.
fn head_dim(md: &Metadata, hidden_size: usize, num_heads: usize) -> Result<usize> {
    if num_heads == 0 {
        return Err(invalid(HEAD_COUNT, "must be at least 1".into()));
    }
    let key_length = optional(md, KEY_LENGTH, Metadata::get_int::<usize>)?;
    let head_dim = match key_length {
        Some(d) => d,
        None if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
        None => {
            return Err(invalid(
                HEAD_COUNT,
                format!(
                    "the width {EMBEDDING_LENGTH} = {hidden_size} is not divisible by \
                     {num_heads} heads"
                ),
            ));
        }
    };
    if let Some(v) = optional(md, VALUE_LENGTH, Metadata::get_int::<usize>)?
        && v != head_dim
    {
        return Err(invalid(
            VALUE_LENGTH,
            format!("{v} differs from the key width {head_dim}; only equal widths are supported"),
        ));
    }
    Ok(head_dim)
}

/// RoPE must rotate the whole head, unscaled.
fn check_rope(md: &Metadata, head_dim: usize) -> Result<()> {
    if let Some(dims) = optional(md, ROPE_DIMENSION_COUNT, Metadata::get_int::<usize>)?
        && dims != head_dim
    {
        return Err(invalid(
            ROPE_DIMENSION_COUNT,
            format!(
                "{dims} differs from the head width {head_dim}; partial rotary embeddings \
                 are not supported"
            ),
        ));
    }
    match optional(md, ROPE_SCALING_TYPE, Metadata::get_str)? {
        None | Some("none") => Ok(()),
        Some(other) => Err(invalid(
            ROPE_SCALING_TYPE,
            format!(
                "`{}` is not supported (only unscaled RoPE is implemented)",
                clip(other)
            ),
        )),
    }
}

/// The vocabulary size from every source present, which must agree.
fn vocab_size<D: AsRef<[u8]>>(file: &GgufFile<D>) -> Result<usize> {
    let md = file.metadata();
    let from_key =
        optional(md, VOCAB_SIZE, Metadata::get_int::<usize>)?.map(|n| (VOCAB_SIZE.to_owned(), n));
    let from_embedding = file
        .tensor(TOKEN_EMBD)
        .ok()
        .filter(|t| t.dims().len() == 2)
        .and_then(|t| usize::try_from(t.dims()[1]).ok())
        .map(|n| (format!("the rows of {TOKEN_EMBD}"), n));
    let from_tokens = optional(md, TOKENS, |m, k| m.get_array(k))?
        .map(|a| (format!("the length of {TOKENS}"), a.len()));
    let sources: Vec<(String, usize)> = [from_key, from_embedding, from_tokens]
        .into_iter()
        .flatten()
        .collect();
    let Some((first, n)) = sources.first() else {
        return Err(FormatError::MissingKey {
            key: VOCAB_SIZE.to_owned(),
        }
        .into());
    };
    if let Some((other, m)) = sources.iter().find(|(_, m)| m != n) {
        return Err(invalid(
            VOCAB_SIZE,
            format!("{first} gives {n} tokens but {other} gives {m}"),
        ));
    }
    Ok(*n)
}

/// `value` as a finite f32.
fn finite_f32(key: &'static str, value: f64) -> Result<f32> {
    // Rounds to nearest; out-of-range values become ±inf, refused below.
    #[allow(clippy::cast_possible_truncation)]
    let narrow = value as f32;
    if narrow.is_finite() {
        Ok(narrow)
    } else {
        Err(invalid(key, format!("{value} is not a finite f32")))
    }
}

fn invalid(key: &'static str, reason: String) -> ModelError {
    ModelError::InvalidConfig { key, reason }
}

/// At most 40 characters of `text` (with `…` if cut), for error messages.
fn clip(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
