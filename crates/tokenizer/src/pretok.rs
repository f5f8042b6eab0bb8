//! Pre-tokenizers: split text into the pieces that BPE then encodes one by one.
//!
//! * [`PreTokenizer::Gpt2`] is GPT-2's regex, leftmost-first alternation as in OpenAI's
//!   `encoder.py`, HF `ByteLevel(use_regex=true)` and llama.cpp's `LLAMA_VOCAB_PRE_TYPE_GPT2`:
//!   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! * [`PreTokenizer::SmolLm`] first isolates every `\p{N}` character (HF
//!   `Digits(individual_digits=true)`, llama.cpp's first SmolLM regex `\p{N}`), then applies the
//!   GPT-2 regex to each remaining run, never looking across a digit.
//!
//! The regex is hand-written (no regex engine at run time): one forward scan, no backtracking
//! beyond the one-character give-back of `\s+(?!\S)`. Classes follow Unicode: `\p{L}` is general
//! category L (Lu, Ll, Lt, Lm, Lo; from `unicode-general-category`), `\p{N}` is N (Nd, Nl, No;
//! `char::is_numeric`) and `\s` is the White_Space property (`char::is_whitespace`). The tests
//! check it against `fancy-regex` running the regex itself.

use crate::error::{Result, TokenizerError};
use unicode_general_category::{GeneralCategory, get_general_category};

/// Which pre-tokenizer splits text before BPE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's regex.
    #[default]
    Gpt2,
    /// Every `\p{N}` character alone, then GPT-2's regex (SmolLM, StarCoder).
    SmolLm,
}

impl PreTokenizer {
    /// Maps a GGUF `tokenizer.ggml.pre` value to a pre-tokenizer, with llama.cpp's names.
    ///
    /// GPT-2 regex: `gpt-2`, `gpt2`, `phi-2`, `gigachat`, `jina-es`, `jina-de`, `jina-v1-en`,
    /// `jina-v2-es`, `jina-v2-de`, `jina-v2-code`. SmolLM variant: `smollm`, `starcoder`,
    /// `refact`, `command-r`, `codeshell`. Anything else (including llama.cpp's `default`,
    /// which is a different regex) is [`TokenizerError::UnsupportedPreTokenizer`]; a GGUF
    /// adapter may choose GPT-2 when the key is absent, as old GPT-2 conversions had none.
    pub fn from_gguf_name(name: &str) -> Result<Self> {
        match name {
            "gpt-2" | "gpt2" | "phi-2" | "gigachat" | "jina-es" | "jina-de" | "jina-v1-en"
            | "jina-v2-es" | "jina-v2-de" | "jina-v2-code" => Ok(Self::Gpt2),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" => Ok(Self::SmolLm),
            other => Err(TokenizerError::UnsupportedPreTokenizer(other.to_owned())),
        }
    }

    /// Calls `piece` with each piece of `text`, in order; the pieces concatenate to `text`.
    pub fn split<'t>(self, text: &'t str, mut piece: impl FnMut(&'t str)) {
        match self {
            Self::Gpt2 => split_gpt2(text, &mut piece),
            Self::SmolLm => split_digits_then_gpt2(text, &mut piece),
        }
    }
}

/// The character classes the GPT-2 regex distinguishes; they partition all characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `\p{L}`
    Letter,
    /// `\p{N}`
    Number,
    /// `\s`
    Space,
    /// `[^\s\p{L}\p{N}]`
    Other,
}

fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::ModifierLetter
            | GeneralCategory::OtherLetter
    )
}

fn class_of(c: char) -> Class {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Class::Letter,
            '0'..='9' => Class::Number,
            _ if c.is_ascii_whitespace() || c == '\x0B' => Class::Space,
            _ => Class::Other,
        };
    }
    if c.is_whitespace() {
        Class::Space
    } else if c.is_numeric() {
        Class::Number
    } else if is_letter(c) {
        Class::Letter
    } else {
        Class::Other
    }
}

/// GPT-2 regex over all of `text`.
fn split_gpt2<'t>(mut text: &'t str, piece: &mut impl FnMut(&'t str)) {
    while !text.is_empty() {
        let len = first_match_len(text);
        let (head, tail) = text.split_at(len);
        piece(head);
        text = tail;
    }
}

/// SmolLM: each `\p{N}` character alone, GPT-2 regex on the runs between them.
fn split_digits_then_gpt2<'t>(text: &'t str, piece: &mut impl FnMut(&'t str)) {
    let mut run_start = 0;
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            split_gpt2(&text[run_start..i], piece);
            let end = i + c.len_utf8();
            piece(&text[i..end]);
            run_start = end;
        }
    }
    split_gpt2(&text[run_start..], piece);
}

/// Byte length of the regex match starting at the beginning of non-empty `s` (always >= 1).
fn first_match_len(s: &str) -> usize {
    let mut chars = s.chars();
    let Some(c0) = chars.next() else { return 0 };
    if c0 == '\''
        && let Some(n) = contraction_len(&s[1..])
    {
        return 1 + n;
    }
    // ` ?` only takes the space when a non-space follows: otherwise the class alternatives
    // cannot match after it and the whitespace alternatives apply from the space itself.
    let (start, c) = match (c0, chars.next()) {
        (' ', Some(c1)) if class_of(c1) != Class::Space => (1, c1),
        _ => (0, c0),
    };
    match class_of(c) {
        Class::Space => whitespace_len(s),
        class => start + run_len(&s[start..], class),
    }
}

/// `'s|'t|'re|'ve|'m|'ll|'d` after the apostrophe (case-sensitive, as GPT-2).
fn contraction_len(rest: &str) -> Option<usize> {
    const SUFFIXES: [&str; 7] = ["s", "t", "re", "ve", "m", "ll", "d"];
    SUFFIXES
        .iter()
        .find(|suffix| rest.starts_with(*suffix))
        .map(|suffix| suffix.len())
}

/// Byte length of the leading run of characters of `class`.
fn run_len(s: &str, class: Class) -> usize {
    s.char_indices()
        .find(|&(_, c)| class_of(c) != class)
        .map_or(s.len(), |(i, _)| i)
}

/// `\s+(?!\S)|\s+` at a whitespace character: the whole run if it ends the text, else the run
/// minus its last character (which then leads the next piece, e.g. `" world"`), unless the run
/// is a single character.
fn whitespace_len(s: &str) -> usize {
    let mut last_start = 0;
    for (i, c) in s.char_indices() {
        if class_of(c) != Class::Space {
            return if last_start > 0 { last_start } else { i };
        }
        last_start = i;
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(pre: PreTokenizer, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        pre.split(text, |p| out.push(p));
        out
    }

    #[test]
    fn gpt2_examples() {
        let got = pieces(PreTokenizer::Gpt2, "Hello, world!  It's 42\t\tok  ");
        assert_eq!(
            got,
            [
                "Hello", ",", " world", "!", " ", " It", "'s", " 42", "\t", "\t", "ok", "  "
            ]
        );
    }

    #[test]
    fn smollm_isolates_digits() {
        let got = pieces(PreTokenizer::SmolLm, "x  12 3.5");
        assert_eq!(got, ["x", "  ", "1", "2", " ", "3", ".", "5"]);
    }

    #[test]
    fn unknown_name_is_an_error() {
        assert!(PreTokenizer::from_gguf_name("llama-bpe").is_err());
        assert_eq!(
            PreTokenizer::from_gguf_name("smollm").unwrap(),
            PreTokenizer::SmolLm
        );
    }
}
