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
//! | — | `{arch}.attention.value_length` (must equal `head_dim` if present) |
//! | `extras.rotary_dim` | `{arch}.rope.dimension_count` (`head_dim`; less: partial rotary, refused where the converter permuted Q/K rows) |
//! | `rope_theta` | `{arch}.rope.freq_base` (10000) |
//! | `extras.rope_divisors` | `rope_freqs.weight` (F32, `R/2`), or `{arch}.rope.scaling.type` = `linear` with `{arch}.rope.scaling.factor`, or `yarn` (below), or the LongRoPE tensors (below); none otherwise |
//! | YaRN | `{arch}.rope.scaling.factor`, `.original_context_length`, `.yarn_beta_fast` (32), `.yarn_beta_slow` (1), `.yarn_attn_factor` (`0.1·ln(factor) + 1`); `.yarn_ext_factor` must be 1 if present |
//! | LongRoPE | `rope_factors_short.weight` and `rope_factors_long.weight` (F32, `R/2` each), `{arch}.rope.scaling.original_context_length`, `{arch}.rope.scaling.attn_factor` (`√(1 + ln(s)/ln(L₀))`, `s = context_length / L₀`) |
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

use crate::config::{Activation, DEFAULT_ROPE_THETA, FamilyParams, LongRope, ModelConfig};
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
        let rope_theta = keys
            .float_opt("rope.freq_base")?
            .unwrap_or(DEFAULT_ROPE_THETA);
        let rope = rope(file, &keys, head_dim, rope_theta, gguf.rope_permuted)?;
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
            rope_theta,
            activation: Activation::Silu,
            tie_word_embeddings: file.tensor(OUTPUT).is_err(),
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: token_id(md, BOS_TOKEN_ID)?,
            eos_token_ids: token_id(md, EOS_TOKEN_ID)?.into_iter().collect(),
            extras: FamilyParams {
                rope_divisors: rope.divisors,
                rotary_dim: rope.rotary_dim,
                rope_long: rope.long,
                rope_attention_factor: rope.attention_factor,
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

/// How a file's RoPE departs from θ alone (the `rope*` fields of [`FamilyParams`]).
struct GgufRope {
    rotary_dim: Option<usize>,
    divisors: Vec<f32>,
    long: Option<LongRope>,
    attention_factor: Option<f32>,
}

/// The RoPE of a file (see the [module docs](self)): its rotary width
/// (`rope.dimension_count`), then by `rope.scaling.type` (absent, `none` or
/// `longrope`: the LongRoPE tensors if present, else `rope_freqs.weight` if
/// present, else unscaled; `linear`; `yarn`). Other types are refused.
fn rope<D: AsRef<[u8]>>(
    file: &GgufFile<D>,
    keys: &ArchKeys<'_>,
    head_dim: usize,
    theta: f32,
    rope_permuted: bool,
) -> Result<GgufRope> {
    let rotary_dim = match keys.int_opt("rope.dimension_count")? {
        None => None,
        Some(dims) if dims == head_dim => None,
        Some(dims) if dims < head_dim && dims > 0 && dims.is_multiple_of(2) && !rope_permuted => {
            Some(dims)
        }
        Some(dims) => {
            return Err(keys.invalid(
                "rope.dimension_count",
                format!(
                    "{dims} rotary dims for heads of width {head_dim}: need an even count in \
                     2..={head_dim}{}",
                    if rope_permuted {
                        " (partial rotary is not supported for this architecture)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    let rotary = rotary_dim.unwrap_or(head_dim);
    let half = rotary / 2;
    let mut rope = GgufRope {
        rotary_dim,
        divisors: Vec::new(),
        long: None,
        attention_factor: None,
    };
    match keys.str_opt("rope.scaling.type")? {
        None | Some("none" | "longrope") => match longrope(file, keys, half)? {
            Some((short, long, factor)) => {
                rope.divisors = short;
                rope.long = Some(long);
                rope.attention_factor = Some(factor);
            }
            None => rope.divisors = rope_freqs(file, ROPE_FREQS, half)?.unwrap_or_default(),
        },
        Some("linear") => {
            let factor = keys.float("rope.scaling.factor")?;
            if factor <= 0.0 {
                return Err(keys.invalid("rope.scaling.factor", format!("{factor} is not > 0")));
            }
            rope.divisors = vec![factor; half];
        }
        Some("yarn") => {
            let yarn = yarn(keys)?;
            rope.divisors = family::llama::yarn_divisors(theta, rotary, &yarn);
            rope.attention_factor =
                Some(match keys.float_opt("rope.scaling.yarn_attn_factor")? {
                    Some(given) => positive(keys, "rope.scaling.yarn_attn_factor", given)?,
                    None => family::llama::yarn_mscale(yarn.factor, 1.0),
                });
        }
        Some(other) => {
            return Err(keys.invalid(
                "rope.scaling.type",
                format!(
                    "`{}` is not supported (supported: none, linear, yarn, longrope; Llama 3 \
                     scaling comes as {ROPE_FREQS})",
                    clip(other)
                ),
            ));
        }
    }
    Ok(rope)
}

/// `value` of `{arch}.{suffix}` when > 0 (it is finite already).
fn positive(keys: &ArchKeys<'_>, suffix: &str, value: f32) -> Result<f32> {
    if value > 0.0 {
        Ok(value)
    } else {
        Err(keys.invalid(suffix, format!("{value} is not > 0")))
    }
}

/// YaRN's parameters from `{arch}.rope.scaling.*` (llama.cpp's key names,
/// as its converter writes them from `rope_scaling`).
fn yarn(keys: &ArchKeys<'_>) -> Result<family::llama::Yarn> {
    let float = |suffix: &str, default: Option<f32>| -> Result<f32> {
        let value = match default {
            Some(default) => keys.float_opt(suffix)?.unwrap_or(default),
            None => keys.float(suffix)?,
        };
        positive(keys, suffix, value)
    };
    if let Some(ext) = keys.float_opt("rope.scaling.yarn_ext_factor")?
        && ext != 1.0
    {
        return Err(keys.invalid(
            "rope.scaling.yarn_ext_factor",
            format!("{ext}: only YaRN's full ramp (1) is supported"),
        ));
    }
    let original = keys.int("rope.scaling.original_context_length")?;
    if original == 0 {
        return Err(keys.invalid("rope.scaling.original_context_length", "must be ≥ 1".into()));
    }
    Ok(family::llama::Yarn {
        factor: float("rope.scaling.factor", None)?,
        original_context: original as f32,
        beta_fast: float("rope.scaling.yarn_beta_fast", Some(32.0))?,
        beta_slow: float("rope.scaling.yarn_beta_slow", Some(1.0))?,
        truncate: true,
    })
}

/// The name of LongRoPE's short factors in GGUF.
pub const ROPE_FACTORS_SHORT: &str = "rope_factors_short.weight";
/// The name of LongRoPE's long factors in GGUF.
pub const ROPE_FACTORS_LONG: &str = "rope_factors_long.weight";

/// LongRoPE from `rope_factors_{short,long}.weight` (`half` F32 values each),
/// `{arch}.rope.scaling.original_context_length` and
/// `{arch}.rope.scaling.attn_factor` (default: computed as the converter
/// does): `(short, long, attention factor)`, or none without the tensors.
fn longrope<D: AsRef<[u8]>>(
    file: &GgufFile<D>,
    keys: &ArchKeys<'_>,
    half: usize,
) -> Result<Option<(Vec<f32>, LongRope, f32)>> {
    let short = rope_freqs(file, ROPE_FACTORS_SHORT, half)?;
    let long = rope_freqs(file, ROPE_FACTORS_LONG, half)?;
    let (short, long) = match (short, long) {
        (None, None) => return Ok(None),
        (Some(short), Some(long)) => (short, long),
        (Some(_), None) => return Err(missing_factors(ROPE_FACTORS_LONG, ROPE_FACTORS_SHORT)),
        (None, Some(_)) => return Err(missing_factors(ROPE_FACTORS_SHORT, ROPE_FACTORS_LONG)),
    };
    let original = keys.int("rope.scaling.original_context_length")?;
    if original == 0 {
        return Err(keys.invalid("rope.scaling.original_context_length", "must be ≥ 1".into()));
    }
    let factor = match keys.float_opt("rope.scaling.attn_factor")? {
        Some(given) => positive(keys, "rope.scaling.attn_factor", given)?,
        None => {
            let context = keys.int("context_length")?;
            family::phi3::longrope_attention_factor(context as f32 / original as f32, original)
        }
    };
    let long = LongRope {
        long_divisors: long,
        original_context: original,
    };
    Ok(Some((short, long, factor)))
}

fn missing_factors(missing: &str, present: &str) -> ModelError {
    ModelError::MissingTensor {
        name: format!("{missing} (LongRoPE: {present} is present)"),
    }
}

/// The name of Llama 3.1's RoPE frequency divisors in GGUF.
pub const ROPE_FREQS: &str = "rope_freqs.weight";

/// The F32 tensor `name` as `half` positive divisors, or none if the file
/// has no such tensor.
fn rope_freqs<D: AsRef<[u8]>>(
    file: &GgufFile<D>,
    name: &str,
    half: usize,
) -> Result<Option<Vec<f32>>> {
    let Ok(info) = file.tensor(name) else {
        return Ok(None);
    };
    let bad = |reason: String| ModelError::UnsupportedGgufTensor {
        name: name.to_owned(),
        reason,
    };
    if info.ggml_type() != GgmlType::F32 || info.dims() != [half as u64] {
        return Err(bad(format!(
            "expected F32 of dims [{half}] (rotary width / 2), found {} of dims {:?}",
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
    Ok(Some(values))
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
