//! [`load`]: one call from "a path or a name" to a [`TextModel`] — the weights, the text codec
//! and the generation defaults the files carry.
//!
//! | spec | weights | codec |
//! |---|---|---|
//! | a file | GGUF (`llama`), mapped once | byte-level BPE or SentencePiece, as the GGUF metadata's `tokenizer.ggml.model` says |
//! | a directory | Hugging Face `config.json` + safetensors | `tokenizer.json` (byte-level or SentencePiece-style BPE) if present, else the `tokenizer_chars.json` of a `smallmind train` checkpoint, else none |
//! | `m-small`, `m-medium`, `m-large`, `m-gpt2` | a preset, seeded random weights | none (token ids only) |

use std::path::Path;
use std::sync::Arc;

use smallmind_model::preset::{PRESET_SEED, Preset};
use smallmind_model::{Model, SessionOptions, gguf, loader};
use smallmind_tokenizer::{
    AddPolicy, CHAR_TOKENIZER_FILE, CharTokenizer, ChatMessage, ChatTemplate, EncodeOptions,
    StreamDecoder, Tokenizer,
};

use crate::error::{Error, Result};
use crate::text::TextSession;

/// Loads `spec`: a GGUF file, a Hugging Face directory (or `smallmind train` checkpoint), or a
/// preset name (see the module docs).
///
/// ```no_run
/// let model = smallmind::load("SmolLM2-135M-Instruct.Q4_1.gguf")?;
/// println!("{}: {} parameters", model.name(), model.model().param_count());
/// # Ok::<(), smallmind::Error>(())
/// ```
///
/// # Errors
/// [`Error::NotAModel`] when `spec` is neither a file, a directory nor a preset;
/// [`Error::Model`] (a file that cannot be read, a malformed GGUF or safetensors file, a
/// config or tensor the architectures do not support); [`Error::Tokenizer`] and
/// [`Error::CharTokenizer`] for a tokenizer that cannot be built.
pub fn load(spec: impl AsRef<Path>) -> Result<TextModel> {
    let path = spec.as_ref();
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if path.is_file() {
        let (model, tokenizer) = gguf::load_gguf_with_tokenizer(path)?;
        return Ok(TextModel::new(name, model, Some(Codec::Subword(tokenizer))));
    }
    if path.is_dir() {
        let codec = directory_codec(path)?;
        return Ok(TextModel::new(name, loader::load_dir(path)?, codec));
    }
    let preset = path
        .to_str()
        .and_then(|text| Preset::parse(text).ok())
        .ok_or_else(|| Error::NotAModel {
            spec: path.display().to_string(),
        })?;
    Ok(TextModel::new(
        preset.name(),
        preset.model(PRESET_SEED)?,
        None,
    ))
}

/// The codec of a model directory: `tokenizer.json`, else `tokenizer_chars.json`, else none.
fn directory_codec(dir: &Path) -> Result<Option<Codec>> {
    let tokenizer_json = dir.join("tokenizer.json");
    if tokenizer_json.is_file() {
        let tokenizer = Tokenizer::from_tokenizer_json_file(&tokenizer_json)?;
        return Ok(Some(Codec::Subword(tokenizer)));
    }
    let chars = dir.join(CHAR_TOKENIZER_FILE);
    if chars.is_file() {
        return Ok(Some(Codec::Chars(CharTokenizer::load(&chars)?)));
    }
    Ok(None)
}

/// How a model turns text into token ids and back.
// One codec per model, behind an `Arc`: the BPE variant's size costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Codec {
    /// A subword tokenizer (byte-level BPE or SentencePiece), from GGUF metadata or
    /// `tokenizer.json`.
    Subword(Tokenizer),
    /// The char-level vocabulary of a `smallmind train` checkpoint.
    Chars(CharTokenizer),
}

impl Codec {
    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Codec::Subword(t) => t.vocab_size(),
            Codec::Chars(c) => c.vocab_size(),
        }
    }

    /// Encodes prompt `text`: control-token text (`<|im_start|>`) becomes its id, BOS comes
    /// first if `add_bos`, EOS is never added.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] (BOS asked for but absent), [`Error::CharTokenizer`] (a char
    /// outside the vocabulary).
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        Ok(match self {
            Codec::Subword(t) => {
                let options = EncodeOptions {
                    add_bos: if add_bos {
                        AddPolicy::Always
                    } else {
                        AddPolicy::Never
                    },
                    add_eos: AddPolicy::Never,
                    parse_special: true,
                };
                t.encode(text, options)?
            }
            Codec::Chars(c) => c.encode(text)?,
        })
    }

    /// Decodes `ids` to text, leaving control tokens out (as generation streams them).
    ///
    /// # Errors
    /// An id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(match self {
            Codec::Subword(t) => t.decode_with(ids, true)?,
            Codec::Chars(c) => c.decode(ids)?,
        })
    }

    /// The subword tokenizer, if that is the codec.
    pub fn subword(&self) -> Option<&Tokenizer> {
        match self {
            Codec::Subword(t) => Some(t),
            Codec::Chars(_) => None,
        }
    }

    /// A decoder that appends each token's text to a buffer, UTF-8 safe across tokens.
    pub(crate) fn piece_decoder(&self) -> PieceDecoder<'_> {
        match self {
            Codec::Subword(t) => PieceDecoder::Subword(StreamDecoder::new(t).skip_special(true)),
            Codec::Chars(c) => PieceDecoder::Chars(c),
        }
    }
}

/// Token ids to text, one id at a time, into a caller's buffer (no allocation once its
/// buffers have grown).
#[derive(Debug)]
pub(crate) enum PieceDecoder<'t> {
    /// Holds the bytes of an unfinished character until the token completing it arrives.
    Subword(StreamDecoder<'t>),
    /// One char per id.
    Chars(&'t CharTokenizer),
}

impl PieceDecoder<'_> {
    /// Appends the text that token `id` completes to `out`.
    pub(crate) fn push(&mut self, id: u32, out: &mut String) -> Result<()> {
        match self {
            PieceDecoder::Subword(d) => out.push_str(d.push(id)?),
            PieceDecoder::Chars(c) => out.push(c.decode_id(id)?),
        }
        Ok(())
    }

    /// Appends what is still held (an unfinished character, as U+FFFD) to `out`.
    pub(crate) fn finish(&mut self, out: &mut String) {
        if let PieceDecoder::Subword(d) = self {
            out.push_str(d.finish());
        }
    }
}

/// What a generation does unless told otherwise, read from the model's files at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationDefaults {
    /// Tokens that end a generation: the config's EOS ids and every end-of-generation control
    /// token of the tokenizer (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, ... as llama.cpp's
    /// EOG set), sorted.
    pub stop_tokens: Vec<u32>,
    /// Whether an encoded prompt starts with BOS (the tokenizer's `add_bos_token`, when it has
    /// a BOS token).
    pub add_bos: bool,
    /// The chat format: the tokenizer's own Jinja template (GGUF `tokenizer.chat_template`, HF
    /// `chat_template`) when it has one that compiles, else the built-in format its turn
    /// tokens name ([`ChatTemplate::for_vocabulary`]: Gemma's `<start_of_turn>`, ChatML's
    /// `<|im_start|>`, ...); `None` otherwise.
    pub chat_template: Option<ChatTemplate>,
}

impl GenerationDefaults {
    /// The defaults of a model with `codec`.
    pub fn new(model: &Model, codec: Option<&Codec>) -> GenerationDefaults {
        let tokenizer = codec.and_then(Codec::subword);
        GenerationDefaults {
            stop_tokens: end_of_generation_ids(model, tokenizer),
            add_bos: tokenizer.is_some_and(|t| t.add_bos() && t.bos().is_some()),
            chat_template: tokenizer.and_then(|t| match ChatTemplate::of_tokenizer(t) {
                Some(template) => template.ok(),
                None => ChatTemplate::for_vocabulary(t),
            }),
        }
    }
}

/// The config's EOS ids plus every end-of-generation token of `tokenizer`, sorted.
fn end_of_generation_ids(model: &Model, tokenizer: Option<&Tokenizer>) -> Vec<u32> {
    let mut ids = model.config().eos_token_ids.clone();
    if let Some(t) = tokenizer {
        let vocab = t.vocab_size() as u32;
        ids.extend((0..vocab).filter(|&id| t.is_end_of_generation(id)));
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A model ready for text: the weights (shared, [`Arc<Model>`]), its [`Codec`] (none for a
/// preset) and its [`GenerationDefaults`].
///
/// Cloning is cheap and shares the weights and the codec: clone it into each thread and give
/// each its own [`TextSession`] ([`TextModel::session`]).
#[derive(Clone, Debug)]
pub struct TextModel {
    name: String,
    model: Arc<Model>,
    codec: Option<Arc<Codec>>,
    defaults: GenerationDefaults,
}

impl TextModel {
    /// A model built elsewhere, with its codec; the defaults are read from both.
    pub fn new(
        name: impl Into<String>,
        model: impl Into<Arc<Model>>,
        codec: Option<Codec>,
    ) -> Self {
        let model = model.into();
        let defaults = GenerationDefaults::new(&model, codec.as_ref());
        TextModel {
            name: name.into(),
            model,
            codec: codec.map(Arc::new),
            defaults,
        }
    }

    /// Replaces the generation defaults (for example to set a chat template the files lack).
    pub fn with_defaults(mut self, defaults: GenerationDefaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// The same model with `template` as its chat format (e.g. a built-in one chosen by name,
    /// [`ChatTemplate::named`], over the files' own).
    pub fn with_chat_template(mut self, template: ChatTemplate) -> Self {
        self.defaults.chat_template = Some(template);
        self
    }

    /// A short name: the file or directory name, or the preset's.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The weights, shared by every session.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The text codec; `None` for presets.
    pub fn codec(&self) -> Option<&Codec> {
        self.codec.as_deref()
    }

    /// The subword tokenizer, if the codec is one.
    pub fn tokenizer(&self) -> Option<&Tokenizer> {
        self.codec().and_then(Codec::subword)
    }

    /// The generation defaults.
    pub fn defaults(&self) -> &GenerationDefaults {
        &self.defaults
    }

    /// The codec, or [`Error::NoTokenizer`].
    pub(crate) fn require_codec(&self) -> Result<&Codec> {
        self.codec().ok_or_else(|| Error::NoTokenizer {
            model: self.name.clone(),
        })
    }

    /// Encodes prompt text as a generation does (BOS as [`GenerationDefaults::add_bos`] says).
    ///
    /// # Errors
    /// [`Error::NoTokenizer`], and those of [`Codec::encode`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.require_codec()?.encode(text, self.defaults.add_bos)
    }

    /// The prompt text of a conversation in the model's chat template, ending with the
    /// assistant's opening.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] for a template that does not compile or raises
    /// ([`smallmind_tokenizer::TokenizerError::ChatTemplate`]) or a conversation a built-in
    /// format cannot express; [`Error::NoChatTemplate`] when the model has none.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        let Some(template) = &self.defaults.chat_template else {
            if let Some(Err(err)) = self.tokenizer().and_then(ChatTemplate::of_tokenizer) {
                // Compiling it again gives the error that says what is wrong with it.
                return Err(err.into());
            }
            return Err(Error::NoChatTemplate {
                model: self.name.clone(),
            });
        };
        Ok(template.render(messages, true)?)
    }

    /// The prompt tokens of a conversation: [`TextModel::render_chat`], encoded (to check it
    /// fits a session before starting, for example).
    ///
    /// # Errors
    /// Those of [`TextModel::render_chat`] and [`TextModel::encode`].
    ///
    /// A template that writes `{{ bos_token }}` itself is not given a second BOS.
    pub fn chat_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let text = self.render_chat(messages)?;
        let bos_text = self
            .tokenizer()
            .and_then(|t| t.bos().and_then(|id| t.token_text(id)));
        let has_bos = bos_text.is_some_and(|bos| !bos.is_empty() && text.starts_with(bos));
        let add_bos = self.defaults.add_bos && !has_bos;
        self.require_codec()?.encode(&text, add_bos)
    }

    /// A session: its own KV cache, buffers and thread pool over the shared weights.
    ///
    /// # Errors
    /// Those of [`smallmind_model::Session::new`] (a capacity past the model's context, zero
    /// threads, ...).
    pub fn session(&self, options: &SessionOptions) -> Result<TextSession> {
        TextSession::new(self.clone(), options)
    }
}
