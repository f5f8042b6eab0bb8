//! [`Tokenizer`]: byte-level BPE or SentencePiece, built from a [`Vocab`] (GGUF keys) or from
//! HF `tokenizer.json` (see [`crate::hf`]).
//!
//! Encoding: split the text at special tokens ([`crate::special`]), then encode each plain
//! stretch with the vocabulary's [`Model`]:
//!
//! * byte-level BPE: pre-tokenize ([`PreTokenizer`]), map each piece's bytes to the ids of their
//!   byte-level symbols ([`crate::bytes`]) and merge by rank ([`crate::bpe`]);
//! * SentencePiece: write spaces as `▁` (after a [`SpacePrefix`]) and merge by score or by
//!   rank, with byte fallback ([`crate::spm`]).
//!
//! Decoding maps each id to the bytes it stands for (a flat table built once);
//! [`crate::StreamDecoder`] does so one id at a time.

use std::collections::HashMap;

use crate::bpe::{BpeScratch, Merge, MergeTable, merge_piece};
use crate::bytes::{byte_to_char_table, decode_token_text};
use crate::error::{Result, TokenizerError};
use crate::pretok::PreTokenizer;
use crate::special::{Segment, SpecialMatcher};
use crate::spm::{MetaspaceBpe, SPACE_MARK, SentencePiece, SpmScratch, byte_token_value};
use crate::vocab::{TokenKind, Vocab, VocabModel};

/// Whether to add a BOS or EOS token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AddPolicy {
    /// As the model metadata says (`add_bos_token` / `add_eos_token`).
    #[default]
    FromMetadata,
    /// Always (an error if the vocabulary has no such token).
    Always,
    /// Never.
    Never,
}

/// Options for [`Tokenizer::encode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Whether to prepend BOS.
    pub add_bos: AddPolicy,
    /// Whether to append EOS.
    pub add_eos: AddPolicy,
    /// Whether control tokens written in the text (e.g. `<|im_start|>`) become their ids;
    /// otherwise they are encoded as plain text. User-defined tokens always match.
    pub parse_special: bool,
}

impl EncodeOptions {
    /// A prompt, as llama.cpp's `llama-tokenize` encodes it: BOS/EOS as the metadata says,
    /// special tokens parsed. Also what HF `tokenizers` does with `add_special_tokens=True`.
    pub const PROMPT: Self = Self {
        add_bos: AddPolicy::FromMetadata,
        add_eos: AddPolicy::FromMetadata,
        parse_special: true,
    };

    /// Untrusted plain text: no BOS/EOS, specials encoded as ordinary text.
    pub const PLAIN: Self = Self {
        add_bos: AddPolicy::Never,
        add_eos: AddPolicy::Never,
        parse_special: false,
    };
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self::PROMPT
    }
}

/// Texts of control tokens that end a turn, besides EOS (as llama.cpp's end-of-generation set).
const EOG_TEXTS: [&str; 7] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
];

/// Where a SentencePiece-style tokenizer puts a `▁` before a stretch of plain text (the text
/// before, between and after special tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpacePrefix {
    /// Never (byte-level BPE; Gemma).
    #[default]
    Never,
    /// Before every stretch: llama.cpp's `add_space_prefix` (before the first stretch and
    /// after every special token), HF's `Prepend("▁")` normalizer.
    EveryStretch,
    /// Before every stretch that does not already start with a space: HF
    /// `Metaspace(prepend_scheme="always")`.
    EveryStretchWithoutSpace,
    /// Before the stretch that starts the text, unless it starts with a space: HF
    /// `Metaspace(prepend_scheme="first")`.
    FirstStretchWithoutSpace,
}

impl SpacePrefix {
    /// Whether the stretch `text` gets a `▁`; `at_start` says whether it starts the input.
    fn applies(self, text: &str, at_start: bool) -> bool {
        let has_space = text.starts_with(' ') || text.starts_with(SPACE_MARK);
        match self {
            Self::Never => false,
            Self::EveryStretch => true,
            Self::EveryStretchWithoutSpace => !has_space,
            Self::FirstStretchWithoutSpace => at_start && !has_space,
        }
    }
}

/// How plain text (no special tokens) becomes ids.
#[derive(Clone, Debug)]
enum Model {
    /// GPT-2 style byte-level BPE (boxed: its byte tables make it the largest variant).
    ByteLevel(Box<ByteLevel>),
    /// SentencePiece merging by score (GGUF `llama`).
    SentencePiece(SentencePiece),
    /// `tokenizer.json` BPE with byte fallback over `▁`-escaped text.
    MetaspaceBpe(MetaspaceBpe),
}

/// Byte-level BPE: a pre-tokenizer, GPT-2's byte alphabet and merges by rank.
#[derive(Clone, Debug)]
struct ByteLevel {
    merges: MergeTable,
    /// Token of each byte's byte-level symbol.
    byte_ids: [Option<u32>; 256],
    /// Stands for bytes without a symbol (HF `model.unk_token`); `None` drops them.
    byte_unk: Option<u32>,
    pre: PreTokenizer,
    /// A piece that is itself a token is not merged (Llama 3).
    ignore_merges: bool,
    /// GPT-2's byte alphabet.
    byte_chars: [char; 256],
}

/// Reusable buffers of one `encode` call.
#[derive(Default)]
struct Scratch {
    bpe: BpeScratch,
    spm: SpmScratch,
    /// A piece written in the byte-level alphabet.
    piece_text: String,
}

/// A tokenizer: byte-level BPE or SentencePiece (see the module docs). Immutable once built;
/// share it by reference across threads.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    tokens: Vec<String>,
    kinds: Vec<TokenKind>,
    /// Bytes of token `i` are `decoded[decoded_at[i]..decoded_at[i + 1]]`.
    decoded: Vec<u8>,
    decoded_at: Vec<usize>,
    text_to_id: HashMap<String, u32>,
    model: Model,
    specials: SpecialMatcher,
    space_prefix: SpacePrefix,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

/// What [`Tokenizer::assemble`] takes besides the tokens, their kinds and the model.
pub(crate) struct Settings {
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    pub(crate) unk: Option<u32>,
    pub(crate) pad: Option<u32>,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    pub(crate) space_prefix: SpacePrefix,
    pub(crate) chat_template: Option<String>,
}

impl Settings {
    fn of(vocab: &Vocab) -> Self {
        let spm = vocab.model == VocabModel::SentencePiece;
        Self {
            bos: vocab.bos,
            eos: vocab.eos,
            unk: vocab.unk,
            pad: vocab.pad,
            add_bos: vocab.add_bos,
            add_eos: vocab.add_eos,
            space_prefix: if spm && vocab.add_space_prefix {
                SpacePrefix::EveryStretch
            } else {
                SpacePrefix::Never
            },
            chat_template: vocab.chat_template.clone(),
        }
    }
}

impl Tokenizer {
    /// Builds a tokenizer from GGUF-style parts: byte-level BPE with merges `"left right"`,
    /// or SentencePiece with scores.
    ///
    /// Errors: empty vocabulary, `token_types` of the wrong length or with values outside
    /// 0..=6, `scores` of the wrong length, a malformed merge, a merge naming a token not in
    /// the vocabulary or producing one not in it, a special id out of range.
    ///
    /// As llama.cpp does, a normal token whose text is an end-of-turn marker (`</s>`,
    /// `<|im_end|>`, `<|endoftext|>`, ...) is made a control token (Qwen2's vocabulary has a
    /// normal `</s>`); transformers keeps it normal.
    pub fn from_vocab(vocab: Vocab) -> Result<Self> {
        let mut kinds = token_kinds(&vocab.tokens, &vocab.token_types)?;
        for (kind, text) in kinds.iter_mut().zip(&vocab.tokens) {
            if *kind == TokenKind::Normal && EOG_TEXTS.contains(&text.as_str()) {
                *kind = TokenKind::Control;
            }
        }
        let settings = Settings::of(&vocab);
        match vocab.model {
            VocabModel::ByteLevelBpe => {
                let pairs = vocab
                    .merges
                    .iter()
                    .enumerate()
                    .map(|(rank, m)| split_merge(rank, m))
                    .collect::<Result<Vec<_>>>()?;
                let pre = vocab.pre;
                Self::byte_level(settings, vocab.tokens.clone(), kinds, &pairs, pre, None)
            }
            VocabModel::SentencePiece => {
                if !vocab.scores.is_empty() && vocab.scores.len() != vocab.tokens.len() {
                    return Err(TokenizerError::ScoreCount {
                        scores: vocab.scores.len(),
                        tokens: vocab.tokens.len(),
                    });
                }
                let Vocab {
                    tokens,
                    scores,
                    unk,
                    ..
                } = vocab;
                let text_to_id = index_tokens(&tokens);
                let model = Model::SentencePiece(SentencePiece::new(scores, &text_to_id, unk));
                Self::assemble(settings, tokens, kinds, text_to_id, model)
            }
        }
    }

    /// A byte-level BPE tokenizer, merges given as `(left, right)` pairs in rank order;
    /// `byte_unk` stands for bytes without a symbol.
    pub(crate) fn byte_level(
        settings: Settings,
        tokens: Vec<String>,
        kinds: Vec<TokenKind>,
        merges: &[(&str, &str)],
        pre: PreTokenizer,
        byte_unk: Option<u32>,
    ) -> Result<Self> {
        let text_to_id = index_tokens(&tokens);
        let model = Model::ByteLevel(Box::new(ByteLevel {
            merges: build_merges(&text_to_id, merges)?,
            byte_ids: byte_ids(&text_to_id),
            byte_unk,
            pre,
            ignore_merges: pre.ignores_merges(),
            byte_chars: byte_to_char_table(),
        }));
        Self::assemble(settings, tokens, kinds, text_to_id, model)
    }

    /// A `tokenizer.json` BPE with byte fallback over `▁`-escaped text, merges given as
    /// `(left, right)` pairs in rank order; `unk` stands for characters without tokens.
    pub(crate) fn metaspace_bpe(
        settings: Settings,
        tokens: Vec<String>,
        kinds: Vec<TokenKind>,
        merges: &[(&str, &str)],
        unk: Option<u32>,
    ) -> Result<Self> {
        let text_to_id = index_tokens(&tokens);
        let merges = build_merges(&text_to_id, merges)?;
        let model = Model::MetaspaceBpe(MetaspaceBpe::new(merges, &text_to_id, unk));
        Self::assemble(settings, tokens, kinds, text_to_id, model)
    }

    /// Builds the decode table and the special-token matcher, and checks the special ids.
    fn assemble(
        settings: Settings,
        tokens: Vec<String>,
        kinds: Vec<TokenKind>,
        text_to_id: HashMap<String, u32>,
        model: Model,
    ) -> Result<Self> {
        if tokens.is_empty() {
            return Err(TokenizerError::EmptyVocab);
        }
        if u32::try_from(tokens.len()).is_err() {
            return Err(TokenizerError::VocabTooLarge(tokens.len()));
        }
        let byte_level = matches!(model, Model::ByteLevel(_));
        let (decoded, decoded_at) = decode_table(&tokens, &kinds, byte_level);
        let specials = SpecialMatcher::new(
            tokens
                .iter()
                .zip(&kinds)
                .enumerate()
                .filter(|(_, (_, kind))| kind.is_special())
                .map(|(id, (text, kind))| {
                    (text.clone(), id as u32, *kind == TokenKind::UserDefined)
                }),
        );
        let tokenizer = Self {
            tokens,
            kinds,
            decoded,
            decoded_at,
            text_to_id,
            model,
            specials,
            space_prefix: settings.space_prefix,
            bos: settings.bos,
            eos: settings.eos,
            unk: settings.unk,
            pad: settings.pad,
            add_bos: settings.add_bos,
            add_eos: settings.add_eos,
            chat_template: settings.chat_template,
        };
        tokenizer.check_special_ids()?;
        Ok(tokenizer)
    }

    fn check_special_ids(&self) -> Result<()> {
        let roles = [
            ("bos", self.bos),
            ("eos", self.eos),
            ("unk", self.unk),
            ("pad", self.pad),
        ];
        for (role, id) in roles {
            if let Some(id) = id.filter(|&id| id as usize >= self.tokens.len()) {
                return Err(TokenizerError::SpecialIdOutOfRange {
                    role,
                    id,
                    vocab_size: self.tokens.len(),
                });
            }
        }
        Ok(())
    }

    /// Replaces the pre-tokenizer of a byte-level BPE tokenizer (e.g. to run a
    /// `tokenizer.json` vocabulary the way a GGUF with another `tokenizer.ggml.pre` would);
    /// SentencePiece tokenizers have none and are returned unchanged.
    pub fn with_pre_tokenizer(mut self, pre: PreTokenizer) -> Self {
        if let Model::ByteLevel(model) = &mut self.model {
            model.pre = pre;
            model.ignore_merges = pre.ignores_merges();
        }
        self
    }

    /// Replaces where a SentencePiece tokenizer puts a `▁` before plain text (e.g. to run a
    /// GGUF vocabulary the way a `tokenizer.json` with a `Metaspace(prepend_scheme="first")`
    /// pre-tokenizer would); byte-level BPE tokenizers are returned unchanged.
    pub fn with_space_prefix(mut self, prefix: SpacePrefix) -> Self {
        if !matches!(self.model, Model::ByteLevel(_)) {
            self.space_prefix = prefix;
        }
        self
    }

    /// Applies llama.cpp's Phi-3 rule (for a GGUF whose `general.name` contains `phi-3` or
    /// `phi3`): whitespace after a special token is dropped, except after `<unk>`, `<s>` and
    /// `<|endoftext|>`.
    pub fn with_phi3_special_rstrip(mut self) -> Self {
        self.specials
            .set_rstrip(|_, text| !matches!(text, "<unk>" | "<s>" | "<|endoftext|>"));
        self
    }

    /// Sets whether a byte-level piece that is itself a token skips merging (HF
    /// `model.ignore_merges`; from GGUF, [`PreTokenizer::ignores_merges`]); SentencePiece
    /// tokenizers are returned unchanged.
    pub fn with_ignore_merges(mut self, ignore: bool) -> Self {
        if let Model::ByteLevel(model) = &mut self.model {
            model.ignore_merges = ignore;
        }
        self
    }

    /// Overrides the special ids that are `Some` (from `tokenizer_config.json`).
    pub(crate) fn set_special_ids(
        &mut self,
        bos: Option<u32>,
        eos: Option<u32>,
        unk: Option<u32>,
        pad: Option<u32>,
    ) {
        self.bos = bos.or(self.bos);
        self.eos = eos.or(self.eos);
        self.unk = unk.or(self.unk);
        self.pad = pad.or(self.pad);
    }

    /// Sets the add-BOS/EOS flags that are `Some(true)`; a post-processor that already adds
    /// a token is not overridden by a `false`.
    pub(crate) fn set_add_flags(&mut self, add_bos: Option<bool>, add_eos: Option<bool>) {
        self.add_bos |= add_bos == Some(true) && self.bos.is_some();
        self.add_eos |= add_eos == Some(true) && self.eos.is_some();
    }

    /// Replaces the chat template.
    pub(crate) fn set_chat_template(&mut self, template: Option<String>) {
        self.chat_template = template;
    }

    /// Encodes `text` into token ids.
    ///
    /// Errors only if BOS/EOS is forced ([`AddPolicy::Always`]) but absent.
    pub fn encode(&self, text: &str, options: EncodeOptions) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        self.encode_into(text, options, &mut out)?;
        Ok(out)
    }

    /// Like [`Tokenizer::encode`], appending to `out` (which is not cleared).
    pub fn encode_into(
        &self,
        text: &str,
        options: EncodeOptions,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        if let Some(bos) = Self::resolve(
            options.add_bos,
            self.add_bos,
            self.bos,
            TokenizerError::MissingBos,
        )? {
            out.push(bos);
        }
        let mut scratch = Scratch::default();
        let mut at_start = true;
        let mut after_special = true;
        self.specials
            .for_each_segment(text, options.parse_special, |segment| {
                match segment {
                    Segment::Special(id) => {
                        out.push(id);
                        after_special = true;
                    }
                    Segment::Text(plain) => {
                        let prefix = after_special && self.space_prefix.applies(plain, at_start);
                        self.encode_plain(plain, prefix, &mut scratch, out);
                        after_special = false;
                    }
                }
                at_start = false;
                Ok(())
            })?;
        if let Some(eos) = Self::resolve(
            options.add_eos,
            self.add_eos,
            self.eos,
            TokenizerError::MissingEos,
        )? {
            out.push(eos);
        }
        Ok(())
    }

    /// The id to add under `policy`, or an error if it is forced but missing.
    fn resolve(
        policy: AddPolicy,
        metadata: bool,
        id: Option<u32>,
        missing: TokenizerError,
    ) -> Result<Option<u32>> {
        match policy {
            AddPolicy::Never => Ok(None),
            AddPolicy::FromMetadata => Ok(id.filter(|_| metadata)),
            AddPolicy::Always => id.map(Some).ok_or(missing),
        }
    }

    /// Encodes a stretch without special tokens, after a `▁` if `prefix` (SentencePiece).
    fn encode_plain(&self, text: &str, prefix: bool, scratch: &mut Scratch, out: &mut Vec<u32>) {
        match &self.model {
            Model::ByteLevel(model) => model.pre.split(text, |piece| {
                self.encode_byte_level_piece(model, piece, scratch, out);
            }),
            Model::SentencePiece(model) => {
                model.encode(text, prefix, &self.text_to_id, &mut scratch.spm, out);
            }
            Model::MetaspaceBpe(model) => {
                model.encode(text, prefix, &self.text_to_id, &mut scratch.spm, out);
            }
        }
    }

    /// Merges one pre-tokenized piece. A byte whose symbol is not in the vocabulary becomes
    /// the `tokenizer.json` model's UNK token if it has one, and is otherwise dropped, as both
    /// HF `tokenizers` and llama.cpp do (SmolLM2 lacks e.g. byte 0xF1).
    fn encode_byte_level_piece(
        &self,
        model: &ByteLevel,
        piece: &str,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) {
        if model.ignore_merges {
            let text = &mut scratch.piece_text;
            text.clear();
            text.extend(piece.bytes().map(|b| model.byte_chars[usize::from(b)]));
            if let Some(&id) = self.text_to_id.get(text.as_str()) {
                out.push(id);
                return;
            }
        }
        let initial = piece
            .bytes()
            .filter_map(|b| model.byte_ids[usize::from(b)].or(model.byte_unk));
        merge_piece(&model.merges, initial, &mut scratch.bpe, out);
    }

    /// The bytes token `id` stands for (a control token's text for control tokens).
    pub fn token_bytes(&self, id: u32) -> Result<&[u8]> {
        let i = id as usize;
        if i >= self.tokens.len() {
            return Err(TokenizerError::UnknownTokenId {
                id,
                vocab_size: self.tokens.len(),
            });
        }
        Ok(&self.decoded[self.decoded_at[i]..self.decoded_at[i + 1]])
    }

    /// Appends the bytes of `ids` to `out`, leaving out control and unknown tokens if
    /// `skip_special`.
    pub fn decode_bytes_into(
        &self,
        ids: &[u32],
        skip_special: bool,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        for &id in ids {
            let bytes = self.token_bytes(id)?;
            if !(skip_special && self.is_control(id)) {
                out.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Decodes `ids` to text, special tokens included as their text. Exact when the ids
    /// come from [`Tokenizer::encode`]; other byte sequences that are not valid UTF-8 give
    /// U+FFFD replacement characters.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.decode_with(ids, false)
    }

    /// Like [`Tokenizer::decode`], leaving out control and unknown tokens if `skip_special`.
    ///
    /// A SentencePiece tokenizer that adds a space prefix removes it again: the first token
    /// written (after BOS) loses one leading space, as HF's `Metaspace` decoder and llama.cpp's
    /// `llama_detokenize` do. [`crate::StreamDecoder`] does not, since it usually continues a
    /// prompt.
    pub fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        let mut strip = self.space_prefix != SpacePrefix::Never;
        for &id in ids {
            let mut piece = self.token_bytes(id)?;
            if skip_special && self.is_control(id) {
                continue;
            }
            if strip && Some(id) != self.bos {
                strip = false;
                if self.kinds[id as usize] == TokenKind::Normal {
                    piece = piece.strip_prefix(b" ").unwrap_or(piece);
                }
            }
            bytes.extend_from_slice(piece);
        }
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The vocabulary string of `id` (byte-level alphabet for normal tokens).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of vocabulary string `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.text_to_id.get(text).copied()
    }

    /// The kind of `id`.
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// Whether `id` is a control or unknown token (skipped when skipping specials).
    pub fn is_control(&self, id: u32) -> bool {
        matches!(
            self.token_kind(id),
            Some(TokenKind::Control | TokenKind::Unknown)
        )
    }

    /// Whether generation should stop at `id`: EOS, or a control token that ends a turn
    /// (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, `</s>`, ...), as llama.cpp's EOG set.
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        Some(id) == self.eos
            || (self.is_control(id)
                && self
                    .token_text(id)
                    .is_some_and(|text| EOG_TEXTS.contains(&text)))
    }

    /// Number of distinct merges (0 for a SentencePiece vocabulary merging by score).
    pub fn merge_count(&self) -> usize {
        match &self.model {
            Model::ByteLevel(model) => model.merges.len(),
            Model::SentencePiece(_) => 0,
            Model::MetaspaceBpe(model) => model.merges().len(),
        }
    }

    /// The vocabulary's model: byte-level BPE or SentencePiece (merging by score or, from a
    /// `tokenizer.json`, by rank).
    pub fn model(&self) -> VocabModel {
        match &self.model {
            Model::ByteLevel(_) => VocabModel::ByteLevelBpe,
            Model::SentencePiece(_) | Model::MetaspaceBpe(_) => VocabModel::SentencePiece,
        }
    }

    /// The pre-tokenizer of a byte-level BPE tokenizer; `None` for SentencePiece.
    pub fn pre_tokenizer(&self) -> Option<PreTokenizer> {
        match &self.model {
            Model::ByteLevel(model) => Some(model.pre),
            Model::SentencePiece(_) | Model::MetaspaceBpe(_) => None,
        }
    }

    /// Where a `▁` is put before plain text (SentencePiece).
    pub fn space_prefix(&self) -> SpacePrefix {
        self.space_prefix
    }

    /// Beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Unknown token.
    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    /// Padding token.
    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// Whether encoding adds BOS by default.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether encoding adds EOS by default.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// The model's chat template source (GGUF `tokenizer.chat_template`, HF `chat_template`).
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }
}

fn token_kinds(tokens: &[String], types: &[i32]) -> Result<Vec<TokenKind>> {
    if types.is_empty() {
        return Ok(vec![TokenKind::Normal; tokens.len()]);
    }
    if types.len() != tokens.len() {
        return Err(TokenizerError::TokenTypeCount {
            types: types.len(),
            tokens: tokens.len(),
        });
    }
    types
        .iter()
        .enumerate()
        .map(|(id, &value)| {
            TokenKind::from_gguf(value).ok_or(TokenizerError::InvalidTokenType {
                id: id as u32,
                value,
            })
        })
        .collect()
}

/// Splits a GGUF merge `"left right"` at the first space after the first character (so a
/// left token may itself start with a space, as llama.cpp allows).
fn split_merge(rank: usize, merge: &str) -> Result<(&str, &str)> {
    let malformed = || TokenizerError::MalformedMerge {
        rank,
        merge: merge.to_owned(),
    };
    let first_len = merge.chars().next().ok_or_else(malformed)?.len_utf8();
    let space = merge[first_len..].find(' ').ok_or_else(malformed)? + first_len;
    let (left, right) = (&merge[..space], &merge[space + 1..]);
    if right.is_empty() {
        return Err(malformed());
    }
    Ok((left, right))
}

/// Vocabulary string → id; on duplicates the last id wins (as llama.cpp).
fn index_tokens(tokens: &[String]) -> HashMap<String, u32> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, text)| !text.is_empty())
        .map(|(id, text)| (text.clone(), id as u32))
        .collect()
}

fn build_merges(text_to_id: &HashMap<String, u32>, merges: &[(&str, &str)]) -> Result<MergeTable> {
    let mut table = MergeTable::default();
    let mut joined = String::new();
    for (rank, &(left, right)) in merges.iter().enumerate() {
        let merge_text = || format!("{left} {right}");
        let lookup = |token: &str| {
            text_to_id
                .get(token)
                .copied()
                .ok_or_else(|| TokenizerError::MergeUnknownToken {
                    rank,
                    merge: merge_text(),
                    token: token.to_owned(),
                })
        };
        let (left_id, right_id) = (lookup(left)?, lookup(right)?);
        joined.clear();
        joined.push_str(left);
        joined.push_str(right);
        let id = text_to_id.get(joined.as_str()).copied().ok_or_else(|| {
            TokenizerError::MergeResultMissing {
                rank,
                merge: merge_text(),
                token: joined.clone(),
            }
        })?;
        let rank = u32::try_from(rank).unwrap_or(u32::MAX);
        table.insert(left_id, right_id, Merge { rank, id });
    }
    Ok(table)
}

/// The flat table of each token's bytes (see [`Tokenizer::token_bytes`]). Special tokens
/// stand for their text. Other tokens are written in GPT-2's byte alphabet (`byte_level`) or
/// with `▁` for spaces, where `<0xNN>` stands for the byte `0xNN`.
fn decode_table(tokens: &[String], kinds: &[TokenKind], byte_level: bool) -> (Vec<u8>, Vec<usize>) {
    let mut decoded = Vec::with_capacity(tokens.iter().map(String::len).sum());
    let mut decoded_at = Vec::with_capacity(tokens.len() + 1);
    decoded_at.push(0);
    for (text, kind) in tokens.iter().zip(kinds) {
        if kind.is_special() {
            decoded.extend_from_slice(text.as_bytes());
        } else if byte_level {
            decode_token_text(text, &mut decoded);
        } else if let Some(byte) = byte_token_value(text) {
            decoded.push(byte);
        } else {
            let mut buf = [0u8; 4];
            for c in text.chars() {
                let c = if c == SPACE_MARK { ' ' } else { c };
                decoded.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        decoded_at.push(decoded.len());
    }
    (decoded, decoded_at)
}

/// Token of each byte's single-character symbol, if the vocabulary has it.
fn byte_ids(text_to_id: &HashMap<String, u32>) -> [Option<u32>; 256] {
    let table = byte_to_char_table();
    let mut ids = [None; 256];
    let mut buf = [0u8; 4];
    for (id, c) in ids.iter_mut().zip(table) {
        *id = text_to_id.get(&*c.encode_utf8(&mut buf)).copied();
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_merge_cases() {
        assert_eq!(split_merge(0, "Ġ t").unwrap(), ("Ġ", "t"));
        assert_eq!(split_merge(0, "  x").unwrap(), (" ", "x"));
        assert!(split_merge(0, "ab").is_err());
        assert!(split_merge(0, "a ").is_err());
        assert!(split_merge(0, "").is_err());
    }
}
