//! [`Tokenizer`]: GPT-2 style byte-level BPE built from a [`BpeVocab`] (GGUF keys) or from HF
//! `tokenizer.json` (see [`crate::hf`]).
//!
//! Encoding: split the text at special tokens ([`crate::special`]), pre-tokenize each plain
//! stretch ([`PreTokenizer`]), map each piece's bytes to the ids of their byte-level symbols
//! ([`crate::bytes`]) and merge by rank ([`crate::bpe`]). Decoding maps each id to the bytes
//! it stands for; [`crate::StreamDecoder`] does so one id at a time.

use std::collections::HashMap;

use crate::bpe::{BpeScratch, Merge, MergeTable, merge_piece};
use crate::bytes::{byte_to_char_table, decode_token_text};
use crate::error::{Result, TokenizerError};
use crate::pretok::PreTokenizer;
use crate::special::{Segment, SpecialMatcher};
use crate::vocab::{BpeVocab, TokenKind};

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

/// A byte-level BPE tokenizer. Immutable once built; share it by reference across threads.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    tokens: Vec<String>,
    kinds: Vec<TokenKind>,
    /// Bytes of token `i` are `decoded[decoded_at[i]..decoded_at[i + 1]]`.
    decoded: Vec<u8>,
    decoded_at: Vec<usize>,
    text_to_id: HashMap<String, u32>,
    /// Token of each byte's byte-level symbol.
    byte_ids: [Option<u32>; 256],
    /// Stands for bytes without a symbol (HF `model.unk_token`); `None` drops them.
    byte_unk: Option<u32>,
    merges: MergeTable,
    specials: SpecialMatcher,
    pre: PreTokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// Builds a tokenizer from GGUF-style parts; merges are `"left right"` strings.
    ///
    /// Errors: empty vocabulary, `token_types` of the wrong length or with values outside
    /// 0..=6, a malformed merge, a merge naming a token not in the vocabulary or producing one
    /// not in it, a special id out of range.
    pub fn from_vocab(vocab: BpeVocab) -> Result<Self> {
        let BpeVocab {
            tokens,
            token_types,
            merges,
            ..
        } = &vocab;
        let kinds = token_kinds(tokens, token_types)?;
        let pairs = merges
            .iter()
            .enumerate()
            .map(|(rank, m)| split_merge(rank, m))
            .collect::<Result<Vec<_>>>()?;
        Self::from_parts(vocab.clone_settings(), tokens.clone(), kinds, &pairs)
    }

    /// Builds a tokenizer from its parts, merges given as `(left, right)` pairs in rank order.
    pub(crate) fn from_parts(
        settings: BpeVocab,
        tokens: Vec<String>,
        kinds: Vec<TokenKind>,
        merges: &[(&str, &str)],
    ) -> Result<Self> {
        if tokens.is_empty() {
            return Err(TokenizerError::EmptyVocab);
        }
        if u32::try_from(tokens.len()).is_err() {
            return Err(TokenizerError::VocabTooLarge(tokens.len()));
        }
        let text_to_id = index_tokens(&tokens);
        let merges = build_merges(&text_to_id, merges)?;
        let (decoded, decoded_at) = decode_table(&tokens, &kinds);
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
            byte_ids: byte_ids(&text_to_id),
            byte_unk: None,
            tokens,
            kinds,
            decoded,
            decoded_at,
            text_to_id,
            merges,
            specials,
            pre: settings.pre,
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

    /// Replaces the pre-tokenizer (e.g. to run a `tokenizer.json` vocabulary the way a GGUF
    /// with another `tokenizer.ggml.pre` would).
    pub fn with_pre_tokenizer(mut self, pre: PreTokenizer) -> Self {
        self.pre = pre;
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

    /// Sets the token that stands for bytes without a symbol (HF `model.unk_token`).
    pub(crate) fn set_byte_unk(&mut self, unk: Option<u32>) {
        self.byte_unk = unk;
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
        let mut scratch = BpeScratch::default();
        self.specials
            .for_each_segment(text, options.parse_special, |segment| match segment {
                Segment::Special(id) => {
                    out.push(id);
                    Ok(())
                }
                Segment::Text(plain) => {
                    self.encode_plain(plain, &mut scratch, out);
                    Ok(())
                }
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

    /// Pre-tokenizes and merges a stretch without special tokens.
    fn encode_plain(&self, text: &str, scratch: &mut BpeScratch, out: &mut Vec<u32>) {
        self.pre.split(text, |piece| {
            self.encode_piece(piece.as_bytes(), scratch, out);
        });
    }

    /// Merges one piece. A byte whose symbol is not in the vocabulary becomes the
    /// `tokenizer.json` model's UNK token if it has one, and is otherwise dropped, as both HF
    /// `tokenizers` and llama.cpp do (SmolLM2 lacks e.g. byte 0xF1).
    fn encode_piece(&self, piece: &[u8], scratch: &mut BpeScratch, out: &mut Vec<u32>) {
        let initial = piece
            .iter()
            .filter_map(|&b| self.byte_ids[usize::from(b)].or(self.byte_unk));
        merge_piece(&self.merges, initial, scratch, out);
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
    pub fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        self.decode_bytes_into(ids, skip_special, &mut bytes)?;
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

    /// Number of distinct merges.
    pub fn merge_count(&self) -> usize {
        self.merges.len()
    }

    /// The pre-tokenizer in use.
    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre
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

impl BpeVocab {
    /// Everything but the token list and merges.
    fn clone_settings(&self) -> BpeVocab {
        BpeVocab {
            tokens: Vec::new(),
            token_types: Vec::new(),
            merges: Vec::new(),
            pre: self.pre,
            bos: self.bos,
            eos: self.eos,
            unk: self.unk,
            pad: self.pad,
            add_bos: self.add_bos,
            add_eos: self.add_eos,
            chat_template: self.chat_template.clone(),
        }
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

/// The flat table of each token's bytes (see [`Tokenizer::token_bytes`]).
fn decode_table(tokens: &[String], kinds: &[TokenKind]) -> (Vec<u8>, Vec<usize>) {
    let mut decoded = Vec::with_capacity(tokens.iter().map(String::len).sum());
    let mut decoded_at = Vec::with_capacity(tokens.len() + 1);
    decoded_at.push(0);
    for (text, kind) in tokens.iter().zip(kinds) {
        if kind.decodes_raw() {
            decoded.extend_from_slice(text.as_bytes());
        } else {
            decode_token_text(text, &mut decoded);
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
