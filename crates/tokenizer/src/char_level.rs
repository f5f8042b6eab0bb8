//! A character-level tokenizer: one token per Unicode scalar value, the
//! vocabulary being the sorted set of distinct characters of the training
//! text (SmallMind's default for its tiny models).
//!
//! Ids are the ranks of the characters in code-point order, so the same
//! text always gives the same vocabulary. Encoding a character outside the
//! vocabulary is an error ([`CharTokenizerError::UnknownChar`]), not a
//! silent substitution.
//!
//! # File format: [`CHAR_TOKENIZER_FILE`] (`tokenizer_chars.json`)
//!
//! ```json
//! {"type": "char", "chars": ["\n", " ", "!", "a", "b"]}
//! ```
//!
//! `chars[i]` is the character of id `i`; each entry is a string of exactly
//! one character, strictly increasing in code-point order (so no duplicates).
//! A checkpoint directory of `smallmind train` holds this file next to
//! `config.json`; loading validates everything and never panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The file name of a char tokenizer in a checkpoint directory.
pub const CHAR_TOKENIZER_FILE: &str = "tokenizer_chars.json";

/// The `type` value of the file format.
const FORMAT_TYPE: &str = "char";

/// Errors of the char-level tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum CharTokenizerError {
    /// The text (or list) has no characters, so there is no vocabulary.
    #[error("cannot build a char vocabulary from an empty text")]
    EmptyVocab,
    /// Encoding met a character the vocabulary lacks.
    #[error(
        "character {ch:?} (U+{code:04X}) at char offset {offset} is not in the \
         {vocab_size}-character vocabulary",
        code = u32::from(*ch)
    )]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its offset in the text, in characters.
        offset: usize,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// Decoding met an id outside the vocabulary.
    #[error("token id {id} is out of range (the vocabulary has {vocab_size} characters)")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// A vocabulary list that is not strictly increasing (duplicates or unsorted).
    #[error("the vocabulary is not strictly increasing at index {index} ({ch:?})")]
    UnsortedVocab {
        /// Index of the offending entry.
        index: usize,
        /// Its character.
        ch: char,
    },
    /// The file cannot be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid char tokenizer file.
    #[error("{path} is not a valid char tokenizer file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A character-level tokenizer (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl CharTokenizer {
    /// The vocabulary of `text`: its distinct characters, sorted.
    ///
    /// # Errors
    /// [`CharTokenizerError::EmptyVocab`] for an empty text.
    pub fn from_text(text: &str) -> Result<Self, CharTokenizerError> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self::from_chars(chars)
    }

    /// A tokenizer over exactly these characters (id = index).
    ///
    /// # Errors
    /// [`CharTokenizerError::EmptyVocab`] for an empty list,
    /// [`CharTokenizerError::UnsortedVocab`] unless strictly increasing.
    pub fn from_chars(chars: Vec<char>) -> Result<Self, CharTokenizerError> {
        if chars.is_empty() {
            return Err(CharTokenizerError::EmptyVocab);
        }
        if let Some(index) = chars.windows(2).position(|w| w[0] >= w[1]) {
            return Err(CharTokenizerError::UnsortedVocab {
                index: index + 1,
                ch: chars[index + 1],
            });
        }
        // At most 0x110000 distinct chars, so ids always fit u32.
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        Ok(CharTokenizer { chars, ids })
    }

    /// The vocabulary, id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Number of tokens (distinct characters).
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// The id of one character, if in the vocabulary.
    pub fn id(&self, ch: char) -> Option<u32> {
        self.ids.get(&ch).copied()
    }

    /// Encodes `text`, one id per character.
    ///
    /// # Errors
    /// [`CharTokenizerError::UnknownChar`] naming the first character
    /// outside the vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, CharTokenizerError> {
        let mut ids = Vec::with_capacity(text.len());
        self.encode_into(text, &mut ids)?;
        Ok(ids)
    }

    /// Appends the ids of `text` to `out`; on error `out` holds the ids
    /// before the unknown character.
    ///
    /// # Errors
    /// As [`CharTokenizer::encode`].
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), CharTokenizerError> {
        for (offset, ch) in text.chars().enumerate() {
            let id = self.id(ch).ok_or(CharTokenizerError::UnknownChar {
                ch,
                offset,
                vocab_size: self.vocab_size(),
            })?;
            out.push(id);
        }
        Ok(())
    }

    /// The character of one id.
    ///
    /// # Errors
    /// [`CharTokenizerError::UnknownId`] for an id outside the vocabulary.
    pub fn decode_id(&self, id: u32) -> Result<char, CharTokenizerError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.chars.get(i).copied())
            .ok_or(CharTokenizerError::UnknownId {
                id,
                vocab_size: self.vocab_size(),
            })
    }

    /// Decodes ids back to text.
    ///
    /// # Errors
    /// [`CharTokenizerError::UnknownId`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String, CharTokenizerError> {
        ids.iter().map(|&id| self.decode_id(id)).collect()
    }

    /// The file's JSON text (see the module docs).
    pub fn to_json(&self) -> String {
        let chars: Vec<String> = self.chars.iter().map(char::to_string).collect();
        serde_json::json!({ "type": FORMAT_TYPE, "chars": chars }).to_string()
    }

    /// Parses the file's JSON text; `path` only names the file in errors.
    ///
    /// # Errors
    /// [`CharTokenizerError::Malformed`] for anything but a valid file,
    /// [`CharTokenizerError::UnsortedVocab`] / `EmptyVocab` for a bad list.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, CharTokenizerError> {
        let malformed = |reason: String| CharTokenizerError::Malformed {
            path: path.to_owned(),
            reason,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        match value.get("type").and_then(Value::as_str) {
            Some(FORMAT_TYPE) => {}
            Some(other) => {
                return Err(malformed(format!(
                    "`type` is {other:?}, expected \"{FORMAT_TYPE}\""
                )));
            }
            None => return Err(malformed("no string `type` key".into())),
        }
        let list = value
            .get("chars")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("no `chars` array".into()))?;
        let chars = list
            .iter()
            .enumerate()
            .map(|(i, item)| single_char(item).ok_or_else(|| malformed(bad_entry(i))))
            .collect::<Result<Vec<char>, _>>()?;
        Self::from_chars(chars)
    }

    /// Writes [`CharTokenizer::to_json`] to `path`.
    ///
    /// # Errors
    /// [`CharTokenizerError::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CharTokenizerError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|source| CharTokenizerError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a tokenizer file.
    ///
    /// # Errors
    /// [`CharTokenizerError::Io`] if unreadable (or not UTF-8), else those of
    /// [`CharTokenizer::from_json`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CharTokenizerError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CharTokenizerError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, path)
    }
}

/// The character of a JSON string holding exactly one character.
fn single_char(item: &Value) -> Option<char> {
    let mut chars = item.as_str()?.chars();
    let ch = chars.next()?;
    chars.next().is_none().then_some(ch)
}

fn bad_entry(index: usize) -> String {
    format!("`chars[{index}]` is not a string of exactly one character")
}
