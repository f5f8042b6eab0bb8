//! [`ModelConfig::from_gguf`]: a config from a GGUF file's `{arch}.*` keys
//! (the key names of llama.cpp's `llm_kv` table), where `{arch}` is
//! `general.architecture`, one of the [`crate::family::FAMILIES`] that load
//! from GGUF.
//!
//! | field | GGUF key (default) |
//! |---|---|
//! | architecture | `general.architecture` |
//! | `max_position_embeddings` | `{arch}.context_length` |
//! | `hidden_size` | `{arch}.embedding_length` |
//! | `num_layers` | `{arch}.block_count` |
//! | `intermediate_size` | `{arch}.feed_forward_length` |
//! | `num_heads` | `{arch}.attention.head_count` |
//! | `num_kv_heads` | `{arch}.attention.head_count_kv` (= head count) |
//! | `head_dim` | `{arch}.attention.key_length` (= `embedding_length / head_count`, must divide) |
//! | — | `{arch}.attention.value_length`, `{arch}.rope.dimension_count` (must equal `head_dim` if present) |
//! | `rope_theta` | `{arch}.rope.freq_base` (10000) |
//! | `extras.rope_divisors` | `rope_freqs.weight` (F32, `head_dim/2`), or `{arch}.rope.scaling.type = linear` with `{arch}.rope.scaling.factor` (none) |
//! | `norm_eps` | `{arch}.attention.layer_norm_rms_epsilon` |
//! | `vocab_size` | `{arch}.vocab_size`, the rows of `token_embd.weight`, the length of `tokenizer.ggml.tokens` (every one present must agree) |
//! | `tie_word_embeddings` | true when there is no `output.weight` tensor |
//! | `bos_token_id` | `tokenizer.ggml.bos_token_id` (none) |
//! | `eos_token_ids` | `tokenizer.ggml.eos_token_id` (none) |
//!
//! The activation is SiLU (SwiGLU MLP) and there are no biases, as in
//! llama.cpp's `llama` graph. Integer keys may use any integer type and
//! float keys f32 or f64 (writers differ). Keys without a default are
//! required; a missing one is [`ModelError::Gguf`] naming it; an impossible
//! value is [`ModelError::InvalidMetadata`] naming it.

use smallmind_formats::FormatError;
use smallmind_formats::gguf::{GgmlType, GgufFile, Metadata};

use crate::config::{Activation, DEFAULT_ROPE_THETA, FamilyParams, ModelConfig};
use crate::error::{ModelError, Result};
use crate::family;

/// `general.architecture`.
pub const ARCHITECTURE: &str = "general.architecture";
/// `tokenizer.ggml.tokens`.
pub const TOKENS: &str = "tokenizer.ggml.tokens";
/// `tokenizer.ggml.bos_token_id`.
pub const BOS_TOKEN_ID: &str = "tokenizer.ggml.bos_token_id";
/// `tokenizer.ggml.eos_token_id`.
pub const EOS_TOKEN_ID: &str = "tokenizer.ggml.eos_token_id";

/// The architecture-prefixed keys of one file: `{arch}.{suffix}`.
#[derive(Clone, Copy)]
pub(crate) struct ArchKeys<'a> {
    pub(crate) md: &'a Metadata,
    pub(crate) arch: &'static str,
}

impl<'a> ArchKeys<'a> {
    /// The full key of `suffix`.
    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }

    pub(crate) fn int(&self, suffix: &str) -> Result<usize> {
        Ok(self.md.get_int(&self.key(suffix))?)
    }

    pub(crate) fn int_opt(&self, suffix: &str) -> Result<Option<usize>> {
        optional(self.md, &self.key(suffix), Metadata::get_int::<usize>)
    }

    pub(crate) fn float(&self, suffix: &str) -> Result<f32> {
        let key = self.key(suffix);
        finite_f32(&key, self.md.get_float(&key)?)
    }

    pub(crate) fn float_opt(&self, suffix: &str) -> Result<Option<f32>> {
        let key = self.key(suffix);
        optional(self.md, &key, Metadata::get_float)?
            .map(|v| finite_f32(&key, v))
            .transpose()
    }

    pub(crate) fn str_opt(&self, suffix: &str) -> Result<Option<&'a str>> {
        optional(self.md, &self.key(suffix), Metadata::get_str)
    }

    /// An [`ModelError::InvalidMetadata`] naming `{arch}.{suffix}`.
    pub(crate) fn invalid(&self, suffix: &str, reason: String) -> ModelError {
        ModelError::InvalidMetadata {
            key: self.key(suffix),
            reason,
        }
    }
}

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
        let name = md.get_str(ARCHITECTURE)?;
        let Some((family, gguf)) = family::by_gguf_arch(name).and_then(|f| f.gguf.map(|g| (f, g)))
        else {
            return Err(ModelError::UnsupportedGgufArchitecture(clip(name)));
        };
        let keys = ArchKeys {
            md,
            arch: gguf.arch,
        };
        let hidden_size = keys.int("embedding_length")?;
        let num_heads = keys.int("attention.head_count")?;
        let num_kv_heads = keys.int_opt("attention.head_count_kv")?;
        let head_dim = head_dim(&keys, hidden_size, num_heads)?;
        let rope_divisors = rope_divisors(file, &keys, head_dim)?;
        let config = ModelConfig {
            architecture: family.architecture,
            vocab_size: vocab_size(file, &keys)?,
            hidden_size,
            num_layers: keys.int("block_count")?,
            num_heads,
            num_kv_heads: num_kv_heads.unwrap_or(num_heads),
            head_dim,
            intermediate_size: keys.int("feed_forward_length")?,
            max_position_embeddings: keys.int("context_length")?,
            norm_eps: keys.float("attention.layer_norm_rms_epsilon")?,
            rope_theta: keys
                .float_opt("rope.freq_base")?
                .unwrap_or(DEFAULT_ROPE_THETA),
            activation: Activation::Silu,
            tie_word_embeddings: file.tensor(OUTPUT).is_err(),
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: token_id(md, BOS_TOKEN_ID)?,
            eos_token_ids: token_id(md, EOS_TOKEN_ID)?.into_iter().collect(),
            extras: FamilyParams {
                rope_divisors,
                ..FamilyParams::default()
            },
        };
        let config = (family.adjust_gguf)(&keys, config)?;
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
fn head_dim(keys: &ArchKeys<'_>, hidden_size: usize, num_heads: usize) -> Result<usize> {
    if num_heads == 0 {
        return Err(keys.invalid("attention.head_count", "must be at least 1".into()));
    }
    let head_dim = match keys.int_opt("attention.key_length")? {
        Some(d) => d,
        None if hidden_size.is_multiple_of(num_heads) => hidden_size / num_heads,
        None => {
            return Err(keys.invalid(
                "attention.head_count",
                format!(
                    "the width {} = {hidden_size} is not divisible by {num_heads} heads",
                    keys.key("embedding_length")
                ),
            ));
        }
    };
    if let Some(v) = keys.int_opt("attention.value_length")?
        && v != head_dim
    {
        return Err(keys.invalid(
            "attention.value_length",
            format!("{v} differs from the key width {head_dim}; only equal widths are supported"),
        ));
    }
    Ok(head_dim)
}

/// The per-frequency RoPE divisors ([`FamilyParams::rope_divisors`]): the
/// F32 tensor `rope_freqs.weight` (`head_dim/2` values; Llama 3.1's bands as
/// llama.cpp's converter stores them), or `[factor; head_dim/2]` for
/// `{arch}.rope.scaling.type = linear` with `{arch}.rope.scaling.factor`,
/// else none. RoPE must rotate the whole head; other scaling types are refused.
fn rope_divisors<D: AsRef<[u8]>>(
    file: &GgufFile<D>,
    keys: &ArchKeys<'_>,
    head_dim: usize,
) -> Result<Vec<f32>> {
    if let Some(dims) = keys.int_opt("rope.dimension_count")?
        && dims != head_dim
    {
        return Err(keys.invalid(
            "rope.dimension_count",
            format!(
                "{dims} differs from the head width {head_dim}; partial rotary embeddings \
                 are not supported"
            ),
        ));
    }
    let half = head_dim / 2;
    match keys.str_opt("rope.scaling.type")? {
        None | Some("none") => rope_freqs(file, half),
        Some("linear") => {
            let factor = keys.float("rope.scaling.factor")?;
            if factor <= 0.0 {
                return Err(keys.invalid("rope.scaling.factor", format!("{factor} is not > 0")));
            }
            Ok(vec![factor; half])
        }
        Some(other) => Err(keys.invalid(
            "rope.scaling.type",
            format!(
                "`{}` is not supported (supported: none, linear; Llama 3 scaling comes as \
                 {ROPE_FREQS})",
                clip(other)
            ),
        )),
    }
}

/// The name of Llama 3.1's RoPE frequency divisors in GGUF.
pub const ROPE_FREQS: &str = "rope_freqs.weight";

/// `rope_freqs.weight` as `half` f32 divisors, or none if the file has no such tensor.
fn rope_freqs<D: AsRef<[u8]>>(file: &GgufFile<D>, half: usize) -> Result<Vec<f32>> {
    let Ok(info) = file.tensor(ROPE_FREQS) else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| ModelError::UnsupportedGgufTensor {
        name: ROPE_FREQS.to_owned(),
        reason,
    };
    if info.ggml_type() != GgmlType::F32 || info.dims() != [half as u64] {
        return Err(bad(format!(
            "expected F32 of dims [{half}] (head_dim/2), found {} of dims {:?}",
            info.ggml_type().name(),
            info.dims()
        )));
    }
    let values: Vec<f32> = file
        .tensor_data(info)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(bad(format!("divisor {v} is not finite and > 0")));
    }
    Ok(values)
}

/// The vocabulary size from every source present, which must agree.
fn vocab_size<D: AsRef<[u8]>>(file: &GgufFile<D>, keys: &ArchKeys<'_>) -> Result<usize> {
    let md = file.metadata();
    let vocab_key = keys.key("vocab_size");
    let from_key = keys.int_opt("vocab_size")?.map(|n| (vocab_key.clone(), n));
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
        return Err(FormatError::MissingKey { key: vocab_key }.into());
    };
    if let Some((other, m)) = sources.iter().find(|(_, m)| m != n) {
        return Err(keys.invalid(
            "vocab_size",
            format!("{first} gives {n} tokens but {other} gives {m}"),
        ));
    }
    Ok(*n)
}

/// `value` as a finite f32.
fn finite_f32(key: &str, value: f64) -> Result<f32> {
    // Rounds to nearest; out-of-range values become ±inf, refused below.
    #[allow(clippy::cast_possible_truncation)]
    let narrow = value as f32;
    if narrow.is_finite() {
        Ok(narrow)
    } else {
        Err(ModelError::InvalidMetadata {
            key: key.to_owned(),
            reason: format!("{value} is not a finite f32"),
        })
    }
}

/// At most 40 characters of `text` (with `…` if cut), for error messages.
fn clip(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
