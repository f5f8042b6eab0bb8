//! Reading Hugging Face `tokenizer.json` (the `tokenizers` library's serialization).
//!
//! Supported subset, which covers GPT-2 style byte-level BPE models (SmolLM2, Llama 3, Qwen2)
//! and SentencePiece-style BPE models (Llama 2, Mistral, TinyLlama, Gemma):
//! * `model`: `{"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] or [["a", "b"], ...]}`
//!   without `continuing_subword_prefix` or `end_of_word_suffix`; `ignore_merges` is honoured.
//!   `unk_token`, if set, stands for bytes (characters with `byte_fallback`) that have no token
//!   (otherwise they are dropped).
//! * Byte-level (no `byte_fallback`):
//!   * `normalizer`: `null`;
//!   * `pre_tokenizer`: `ByteLevel` (`use_regex: true`, `add_prefix_space: false`) → GPT-2
//!     regex; `Sequence[Digits(individual_digits: true), ByteLevel]` → the SmolLM variant;
//!     `Sequence[Split(Regex(r)), ByteLevel(use_regex: false)]` where `r` is Llama 3's,
//!     Qwen2's or GPT-4o's regex → that [`PreTokenizer`].
//! * SentencePiece-style (`byte_fallback: true`): spaces become `▁` by the `normalizer`
//!   (`Replace(" ", "▁")`, after `Prepend("▁")` for the legacy space prefix, possibly inside a
//!   `Sequence`) or by a `Metaspace` `pre_tokenizer` (`split: false`; its `prepend_scheme` or
//!   `add_prefix_space` gives the [`SpacePrefix`]).
//! * `added_tokens`: `special: true` → control tokens, `special: false` → user-defined tokens
//!   (the `lstrip`/`rstrip`/`single_word`/`normalized` flags are not applied).
//! * `post_processor`: a `TemplateProcessing` (alone or inside a `Sequence`) whose `single`
//!   template starts / ends with a `SpecialToken` sets BOS / EOS and `add_bos` / `add_eos`.
//! * `decoder`: not read; decoding is always byte-level.
//!
//! [`Tokenizer::from_tokenizer_json_file`] also reads `tokenizer_config.json` (the
//! `bos_token`, `eos_token`, `unk_token`, `pad_token`, `add_bos_token`, `add_eos_token` and
//! `chat_template` keys) and `chat_template.jinja` beside it when present.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Result, TokenizerError};
use crate::pretok::PreTokenizer;
use crate::tokenizer::{Settings, SpacePrefix, Tokenizer};
use crate::vocab::TokenKind;

fn malformed(what: impl Into<String>) -> TokenizerError {
    TokenizerError::MalformedJson(what.into())
}

fn unsupported(what: impl Into<String>) -> TokenizerError {
    TokenizerError::UnsupportedJson(what.into())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
        path: path.to_owned(),
        source,
    })
}

impl Tokenizer {
    /// Builds a tokenizer from the text of an HF `tokenizer.json` (see [`crate::hf`]).
    pub fn from_tokenizer_json(json: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(json).map_err(|e| malformed(e.to_string()))?;
        let root = root
            .as_object()
            .ok_or_else(|| malformed("the top level is not an object"))?;
        let model = object_field(root, "model")?;
        check_model(model)?;
        let (tokens, kinds) = collect_tokens(model, root)?;
        let merges = collect_merges(model)?;
        let merge_refs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        let lookup = |text: &str| find_id(&tokens, text);
        let unk = model
            .get("unk_token")
            .and_then(Value::as_str)
            .and_then(lookup);
        let mut settings = Settings {
            bos: None,
            eos: None,
            unk,
            pad: None,
            add_bos: false,
            add_eos: false,
            space_prefix: SpacePrefix::Never,
            chat_template: None,
        };
        apply_post_processor(root.get("post_processor"), &lookup, &mut settings)?;
        let flag = |key: &str| model.get(key).and_then(Value::as_bool) == Some(true);
        if flag("byte_fallback") {
            settings.space_prefix = metaspace_prefix(root)?;
            Tokenizer::metaspace_bpe(settings, tokens, kinds, &merge_refs, unk)
        } else {
            check_normalizer(root)?;
            let pre = pre_tokenizer(root.get("pre_tokenizer").unwrap_or(&Value::Null))?;
            let ignore_merges = flag("ignore_merges");
            Tokenizer::byte_level(settings, tokens, kinds, &merge_refs, pre, unk)
                .map(|t| t.with_ignore_merges(ignore_merges))
        }
    }

    /// Reads `path` (a `tokenizer.json`) with [`Tokenizer::from_tokenizer_json`], then the
    /// `tokenizer_config.json` and `chat_template.jinja` beside it, if present, for the
    /// BOS/EOS/UNK/PAD tokens, the add-BOS/EOS flags and the chat template.
    pub fn from_tokenizer_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let tokenizer = Self::from_tokenizer_json(&read_text(path)?)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let config_path = dir.join("tokenizer_config.json");
        let config = if config_path.is_file() {
            Some(read_text(&config_path)?)
        } else {
            None
        };
        let template_path = dir.join("chat_template.jinja");
        let template = if template_path.is_file() {
            Some(read_text(&template_path)?)
        } else {
            None
        };
        tokenizer.with_hf_config(config.as_deref(), template)
    }

    /// Applies the settings of a `tokenizer_config.json` text; `template` (from
    /// `chat_template.jinja`) takes precedence over its `chat_template` key.
    pub fn with_hf_config(
        mut self,
        config: Option<&str>,
        template: Option<String>,
    ) -> Result<Self> {
        if let Some(config) = config {
            let root: Value = serde_json::from_str(config)
                .map_err(|e| malformed(format!("tokenizer_config.json: {e}")))?;
            let root = root
                .as_object()
                .ok_or_else(|| malformed("tokenizer_config.json is not an object"))?;
            self.apply_config(root);
        }
        if template.is_some() {
            self.set_chat_template(template);
        }
        Ok(self)
    }

    fn apply_config(&mut self, config: &Map<String, Value>) {
        let token = |key: &str| {
            let value = config.get(key)?;
            let text = value
                .as_str()
                .or_else(|| value.get("content").and_then(Value::as_str))?;
            self.token_id(text)
        };
        let (bos, eos, unk, pad) = (
            token("bos_token"),
            token("eos_token"),
            token("unk_token"),
            token("pad_token"),
        );
        let flag = |key: &str| config.get(key).and_then(Value::as_bool);
        let (add_bos, add_eos) = (flag("add_bos_token"), flag("add_eos_token"));
        let template = chat_template_value(config.get("chat_template"));
        self.set_special_ids(bos, eos, unk, pad);
        self.set_add_flags(add_bos, add_eos);
        if template.is_some() {
            self.set_chat_template(template);
        }
    }
}

/// `chat_template` is a string, or a list of `{name, template}` of which `default` is used.
fn chat_template_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

fn object_field<'a>(root: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>> {
    root.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| malformed(format!("`{key}` is missing or not an object")))
}

fn check_normalizer(root: &Map<String, Value>) -> Result<()> {
    match root.get("normalizer") {
        None | Some(Value::Null) => Ok(()),
        Some(other) => Err(unsupported(format!(
            "normalizer {} (only null is supported)",
            type_name(other)
        ))),
    }
}

fn type_name(value: &Value) -> String {
    value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("<untyped>")
        .to_owned()
}

fn check_model(model: &Map<String, Value>) -> Result<()> {
    if let Some(kind) = model.get("type").and_then(Value::as_str)
        && kind != "BPE"
    {
        return Err(unsupported(format!("model type {kind:?} (only BPE)")));
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if let Some(s) = model.get(key).and_then(Value::as_str)
            && !s.is_empty()
        {
            return Err(unsupported(format!("BPE {key} {s:?}")));
        }
    }
    Ok(())
}

/// Id of `text` by linear search; only used for the few special-token names.
fn find_id(tokens: &[String], text: &str) -> Option<u32> {
    tokens.iter().rposition(|t| t == text).map(|i| i as u32)
}

/// The dense token list from `model.vocab` and `added_tokens`; ids missing from both become
/// empty unused slots.
fn collect_tokens(
    model: &Map<String, Value>,
    root: &Map<String, Value>,
) -> Result<(Vec<String>, Vec<TokenKind>)> {
    let vocab = object_field(model, "vocab")?;
    let added = match root.get("added_tokens") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => return Err(malformed("`added_tokens` is not an array")),
    };
    let mut entries = Vec::with_capacity(vocab.len() + added.len());
    for (text, id) in vocab {
        entries.push((json_id(id, text)?, text.clone(), TokenKind::Normal));
    }
    for token in added {
        entries.push(added_token(token)?);
    }
    let size = entries.iter().map(|e| e.0 as usize + 1).max().unwrap_or(0);
    if size > entries.len() {
        return Err(malformed(format!(
            "token ids reach {} but only {} tokens are defined",
            size - 1,
            entries.len()
        )));
    }
    let mut tokens = vec![String::new(); size];
    let mut kinds = vec![TokenKind::Unused; size];
    for (id, text, kind) in entries {
        tokens[id as usize] = text;
        kinds[id as usize] = kind;
    }
    Ok((tokens, kinds))
}

fn json_id(value: &Value, what: &str) -> Result<u32> {
    value
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| malformed(format!("id of {what:?} is not a u32")))
}

fn added_token(token: &Value) -> Result<(u32, String, TokenKind)> {
    let content = token
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("an added token has no string `content`"))?;
    let id = json_id(token.get("id").unwrap_or(&Value::Null), content)?;
    let kind = if token.get("special").and_then(Value::as_bool) == Some(true) {
        TokenKind::Control
    } else {
        TokenKind::UserDefined
    };
    Ok((id, content.to_owned(), kind))
}

fn collect_merges(model: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    let list = match model.get("merges") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(malformed("`model.merges` is not an array")),
    };
    list.iter()
        .enumerate()
        .map(|(rank, merge)| merge_pair(rank, merge))
        .collect()
}

fn merge_pair(rank: usize, merge: &Value) -> Result<(String, String)> {
    let bad = || malformed(format!("merge {rank} is not \"a b\" or [\"a\", \"b\"]"));
    match merge {
        Value::String(s) => {
            let (left, right) = s.split_once(' ').ok_or_else(bad)?;
            Ok((left.to_owned(), right.to_owned()))
        }
        Value::Array(pair) => match pair.as_slice() {
            [Value::String(l), Value::String(r)] => Ok((l.clone(), r.clone())),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn pre_tokenizer(value: &Value) -> Result<PreTokenizer> {
    match value.get("type").and_then(Value::as_str) {
        Some("ByteLevel") => byte_level(value).map(|()| PreTokenizer::Gpt2),
        Some("Sequence") => sequence_pre_tokenizer(value),
        _ => Err(unsupported(format!(
            "pre_tokenizer {} (supported: ByteLevel, Sequence[Digits, ByteLevel], \
             Sequence[Split, ByteLevel])",
            type_name(value)
        ))),
    }
}

/// The regexes of the `Split` pre-tokenizers we implement by hand, as `tokenizer.json` spells
/// them.
const SPLIT_REGEXES: [(&str, PreTokenizer); 3] = [
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        PreTokenizer::Llama3,
    ),
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        PreTokenizer::Qwen2,
    ),
    (
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        PreTokenizer::Gpt4o,
    ),
];

/// `Split(Regex(r), behavior: Isolated)` with a regex of [`SPLIT_REGEXES`].
fn split_regex(value: &Value) -> Result<PreTokenizer> {
    let regex = value
        .get("pattern")
        .and_then(|p| p.get("Regex"))
        .and_then(Value::as_str)
        .ok_or_else(|| unsupported("a Split pre_tokenizer without a Regex pattern"))?;
    let behavior = value.get("behavior").and_then(Value::as_str);
    if behavior != Some("Isolated") || value.get("invert").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported(format!(
            "Split pre_tokenizer with behavior {behavior:?} (only Isolated, not inverted)"
        )));
    }
    SPLIT_REGEXES
        .iter()
        .find(|(known, _)| *known == regex)
        .map(|&(_, pre)| pre)
        .ok_or_else(|| {
            unsupported(format!(
                "Split regex {regex:?} (supported: Llama 3's, Qwen2's, GPT-4o's)"
            ))
        })
}

fn byte_level(value: &Value) -> Result<()> {
    if value.get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported("ByteLevel add_prefix_space: true"));
    }
    if value.get("use_regex").and_then(Value::as_bool) == Some(false) {
        return Err(unsupported("ByteLevel use_regex: false"));
    }
    Ok(())
}

fn sequence_pre_tokenizer(value: &Value) -> Result<PreTokenizer> {
    let steps = value
        .get("pretokenizers")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("Sequence pre_tokenizer without `pretokenizers`"))?;
    let types: Vec<String> = steps.iter().map(type_name).collect();
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    match types.as_slice() {
        ["ByteLevel"] => pre_tokenizer(&steps[0]),
        ["Digits", "ByteLevel"]
            if steps[0].get("individual_digits").and_then(Value::as_bool) == Some(true) =>
        {
            byte_level(&steps[1]).map(|()| PreTokenizer::SmolLm)
        }
        ["Split", "ByteLevel"]
            if steps[1].get("use_regex").and_then(Value::as_bool) == Some(false) =>
        {
            let pre = split_regex(&steps[0])?;
            if steps[1].get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
                return Err(unsupported("ByteLevel add_prefix_space: true"));
            }
            Ok(pre)
        }
        _ => Err(unsupported(format!(
            "pre_tokenizer Sequence{types:?} (supported: [ByteLevel], \
             [Digits(individual_digits), ByteLevel], [Split(Regex), ByteLevel(use_regex: false)])"
        ))),
    }
}

/// The space prefix of a SentencePiece-style `tokenizer.json`: its `normalizer` and
/// `pre_tokenizer` must write spaces as `▁` (see the module docs).
fn metaspace_prefix(root: &Map<String, Value>) -> Result<SpacePrefix> {
    let null = Value::Null;
    let normalizer = root.get("normalizer").unwrap_or(&null);
    let steps: Vec<&Value> = match type_name(normalizer).as_str() {
        "Sequence" => normalizer
            .get("normalizers")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("Sequence normalizer without `normalizers`"))?
            .iter()
            .collect(),
        _ if normalizer.is_null() => Vec::new(),
        _ => vec![normalizer],
    };
    let (mut prepend, mut replaced) = (false, false);
    for step in steps {
        let string = |key: &str| step.get(key).and_then(Value::as_str);
        let pattern = step.get("pattern").and_then(|p| p.get("String"));
        match type_name(step).as_str() {
            "Prepend" if !replaced && string("prepend") == Some("\u{2581}") => prepend = true,
            "Replace"
                if pattern.and_then(Value::as_str) == Some(" ")
                    && string("content") == Some("\u{2581}") =>
            {
                replaced = true;
            }
            other => {
                return Err(unsupported(format!(
                    "normalizer {other} with BPE byte_fallback (supported: Prepend(\"▁\") and \
                     Replace(\" \", \"▁\"))"
                )));
            }
        }
    }
    let pre = root.get("pre_tokenizer").unwrap_or(&null);
    if pre.is_null() {
        if !replaced {
            return Err(unsupported(
                "BPE byte_fallback without Replace(\" \", \"▁\") or a Metaspace pre_tokenizer",
            ));
        }
        return Ok(if prepend {
            SpacePrefix::EveryStretch
        } else {
            SpacePrefix::Never
        });
    }
    if type_name(pre) != "Metaspace" || prepend {
        return Err(unsupported(format!(
            "pre_tokenizer {} with BPE byte_fallback (supported: none, or Metaspace without a \
             Prepend normalizer)",
            type_name(pre)
        )));
    }
    metaspace_scheme(pre)
}

/// The [`SpacePrefix`] of a `Metaspace` pre-tokenizer (`replacement: "▁"`, `split: false`).
fn metaspace_scheme(pre: &Value) -> Result<SpacePrefix> {
    if pre.get("replacement").and_then(Value::as_str) != Some("\u{2581}") {
        return Err(unsupported("Metaspace with a replacement other than \"▁\""));
    }
    if pre.get("split").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported("Metaspace split: true"));
    }
    let scheme = pre.get("prepend_scheme").and_then(Value::as_str);
    let add_prefix_space = pre.get("add_prefix_space").and_then(Value::as_bool);
    match (scheme, add_prefix_space) {
        (Some("always"), _) | (None, Some(true)) => Ok(SpacePrefix::EveryStretchWithoutSpace),
        (Some("first"), _) => Ok(SpacePrefix::FirstStretchWithoutSpace),
        (Some("never"), _) | (None, Some(false) | None) => Ok(SpacePrefix::Never),
        (Some(other), _) => Err(unsupported(format!("Metaspace prepend_scheme {other:?}"))),
    }
}

/// Reads BOS/EOS and add-BOS/EOS from a `TemplateProcessing` post-processor.
fn apply_post_processor(
    value: Option<&Value>,
    lookup: &impl Fn(&str) -> Option<u32>,
    settings: &mut Settings,
) -> Result<()> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let template = match type_name(value).as_str() {
        "TemplateProcessing" => Some(value),
        "Sequence" => value
            .get("processors")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|p| type_name(p) == "TemplateProcessing")),
        _ => None,
    };
    let Some(single) = template
        .and_then(|t| t.get("single"))
        .and_then(Value::as_array)
    else {
        return Ok(());
    };
    let special = |item: Option<&Value>| -> Option<u32> {
        let name = item?.get("SpecialToken")?.get("id")?.as_str()?;
        lookup(name)
    };
    if let Some(bos) = special(single.first()) {
        settings.bos = Some(bos);
        settings.add_bos = true;
    }
    if let Some(eos) = special(single.last()).filter(|_| single.len() > 1) {
        settings.eos = Some(eos);
        settings.add_eos = true;
    }
    Ok(())
}
