//! Pre-tokenizers: split text into the pieces that byte-level BPE then encodes one by one.
//!
//! * [`PreTokenizer::Gpt2`] is GPT-2's regex, leftmost-first alternation as in OpenAI's
//!   `encoder.py`, HF `ByteLevel(use_regex=true)` and llama.cpp's `LLAMA_VOCAB_PRE_TYPE_GPT2`:
//!   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! * [`PreTokenizer::SmolLm`] first isolates every `\p{N}` character (HF
//!   `Digits(individual_digits=true)`, llama.cpp's first SmolLM regex `\p{N}`), then applies the
//!   GPT-2 regex to each remaining run, never looking across a digit.
//! * [`PreTokenizer::Llama3`] is Llama 3's (tiktoken's cl100k) regex:
//!   `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//!   with the contractions matched as `'[sS]|'[tT]|...` (as llama.cpp adapts it).
//! * [`PreTokenizer::Qwen2`] is the same with `\p{N}` (one number character) for `\p{N}{1,3}`.
//! * [`PreTokenizer::Gpt4o`] is tiktoken's o200k regex (GPT-4o, Phi-4), which splits words at
//!   case changes and keeps a contraction with its word:
//!   `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)?`
//!   `|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?`
//!   `|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//!
//! The regexes are hand-written (no regex engine at run time): one forward scan per piece,
//! with the backtracking each alternative needs worked out in closed form (see the functions'
//! docs). Classes follow Unicode: `\p{L}` is general category L (Lu, Ll, Lt, Lm, Lo; from
//! `unicode-general-category`), `\p{M}` is M (Mn, Mc, Me), `\p{N}` is N (Nd, Nl, No;
//! `char::is_numeric`) and `\s` is the White_Space property (`char::is_whitespace`). The tests
//! check each against `fancy-regex` running the regex itself.

use crate::error::{Result, TokenizerError};
use unicode_general_category::{GeneralCategory, get_general_category};

/// Which pre-tokenizer splits text before byte-level BPE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreTokenizer {
    /// GPT-2's regex.
    #[default]
    Gpt2,
    /// Every `\p{N}` character alone, then GPT-2's regex (SmolLM, StarCoder).
    SmolLm,
    /// Llama 3's regex: numbers in groups of up to three, a word keeps one leading
    /// non-letter.
    Llama3,
    /// Qwen2's regex: Llama 3's with every number character alone.
    Qwen2,
    /// GPT-4o's (o200k) regex: words split at case changes (Phi-4).
    Gpt4o,
}

impl PreTokenizer {
    /// Maps a GGUF `tokenizer.ggml.pre` value to a pre-tokenizer, with llama.cpp's names.
    ///
    /// * GPT-2 regex: `gpt-2`, `gpt2`, `phi-2`, `gigachat`, `jina-es`, `jina-de`, `jina-v1-en`,
    ///   `jina-v2-es`, `jina-v2-de`, `jina-v2-code`.
    /// * SmolLM variant: `smollm`, `starcoder`, `refact`, `command-r`, `codeshell`.
    /// * Llama 3: `llama-bpe`, `llama3`, `llama-v3`, `falcon3`, `falcon-h1`, `pixtral`,
    ///   `midm-2.0`, `lfm2`.
    /// * Qwen2: `qwen2`, `deepseek-r1-qwen`, `stablelm2`, `megrez`.
    /// * GPT-4o: `gpt-4o`, `llama4`.
    ///
    /// Anything else (including llama.cpp's `default`, which is a different regex) is
    /// [`TokenizerError::UnsupportedPreTokenizer`] naming it; a GGUF adapter may choose
    /// GPT-2 when the key is absent, as old GPT-2 conversions had none.
    pub fn from_gguf_name(name: &str) -> Result<Self> {
        match name {
            "gpt-2" | "gpt2" | "phi-2" | "gigachat" | "jina-es" | "jina-de" | "jina-v1-en"
            | "jina-v2-es" | "jina-v2-de" | "jina-v2-code" => Ok(Self::Gpt2),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" => Ok(Self::SmolLm),
            "llama-bpe" | "llama3" | "llama-v3" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" => Ok(Self::Llama3),
            "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => Ok(Self::Qwen2),
            "gpt-4o" | "llama4" => Ok(Self::Gpt4o),
            other => Err(TokenizerError::UnsupportedPreTokenizer(other.to_owned())),
        }
    }

    /// Whether a piece that is itself a token becomes that token without merging (tiktoken's
    /// rule; HF `BPE.ignore_merges`, llama.cpp's `ignore_merges`): true for Llama 3.
    pub fn ignores_merges(self) -> bool {
        self == Self::Llama3
    }

    /// Whether a GGUF file without `tokenizer.ggml.add_bos_token` adds BOS (llama.cpp's
    /// default): true for Llama 3.
    pub fn adds_bos_by_default(self) -> bool {
        self == Self::Llama3
    }

    /// Calls `piece` with each piece of `text`, in order; the pieces concatenate to `text`.
    pub fn split<'t>(self, text: &'t str, mut piece: impl FnMut(&'t str)) {
        match self {
            Self::Gpt2 => split_by(text, gpt2_len, &mut piece),
            Self::SmolLm => split_digits_then_gpt2(text, &mut piece),
            Self::Llama3 => split_by(text, |s| cl100k_len(s, 3), &mut piece),
            Self::Qwen2 => split_by(text, |s| cl100k_len(s, 1), &mut piece),
            Self::Gpt4o => split_by(text, o200k_len, &mut piece),
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

/// Splits all of `text` with `match_len`, the byte length (>= 1) of the regex match at the
/// start of a non-empty string.
fn split_by<'t>(
    mut text: &'t str,
    match_len: impl Fn(&str) -> usize,
    piece: &mut impl FnMut(&'t str),
) {
    while !text.is_empty() {
        let (head, tail) = text.split_at(match_len(text).max(1));
        piece(head);
        text = tail;
    }
}

/// SmolLM: each `\p{N}` character alone, GPT-2 regex on the runs between them.
fn split_digits_then_gpt2<'t>(text: &'t str, piece: &mut impl FnMut(&'t str)) {
    let mut run_start = 0;
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            split_by(&text[run_start..i], gpt2_len, piece);
            let end = i + c.len_utf8();
            piece(&text[i..end]);
            run_start = end;
        }
    }
    split_by(&text[run_start..], gpt2_len, piece);
}

/// Byte length of the GPT-2 regex match at the start of non-empty `s` (always >= 1).
fn gpt2_len(s: &str) -> usize {
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

/// The finer classes the cl100k and o200k regexes distinguish; they partition all characters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    /// Lu, Lt: in o200k's "upper" set only.
    Upper,
    /// Ll: in o200k's "lower" set only.
    Lower,
    /// Lm, Lo: letters without case, in both o200k sets.
    Caseless,
    /// `\p{M}` (Mn, Mc, Me): in both o200k sets, but not `\p{L}`.
    Mark,
    /// `\p{N}`
    Number,
    /// `\s`
    Space,
    /// Anything else.
    Other,
}

fn category(c: char) -> Category {
    if c.is_ascii() {
        return match c {
            'a'..='z' => Category::Lower,
            'A'..='Z' => Category::Upper,
            '0'..='9' => Category::Number,
            _ if c.is_ascii_whitespace() || c == '\x0B' => Category::Space,
            _ => Category::Other,
        };
    }
    if c.is_whitespace() {
        return Category::Space;
    }
    if c.is_numeric() {
        return Category::Number;
    }
    use GeneralCategory as G;
    match get_general_category(c) {
        G::UppercaseLetter | G::TitlecaseLetter => Category::Upper,
        G::LowercaseLetter => Category::Lower,
        G::ModifierLetter | G::OtherLetter => Category::Caseless,
        G::NonspacingMark | G::SpacingMark | G::EnclosingMark => Category::Mark,
        _ => Category::Other,
    }
}

impl Category {
    /// `\p{L}`
    fn is_letter(self) -> bool {
        matches!(self, Self::Upper | Self::Lower | Self::Caseless)
    }

    /// `[^\s\p{L}\p{N}]`
    fn is_symbol(self) -> bool {
        matches!(self, Self::Mark | Self::Other)
    }

    /// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`
    fn is_o200k_upper(self) -> bool {
        matches!(self, Self::Upper | Self::Caseless | Self::Mark)
    }

    /// o200k's `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`
    fn is_o200k_lower(self) -> bool {
        matches!(self, Self::Lower | Self::Caseless | Self::Mark)
    }
}

/// `[^\r\n\p{L}\p{N}]`: the one character a cl100k or o200k word may start with.
fn is_word_lead(c: char) -> bool {
    c != '\r' && c != '\n' && !matches!(category(c), Category::Number) && !category(c).is_letter()
}

/// Byte length of the leading run of characters satisfying `keep`.
fn run_while(s: &str, keep: impl Fn(char) -> bool) -> usize {
    s.char_indices()
        .find(|&(_, c)| !keep(c))
        .map_or(s.len(), |(i, _)| i)
}

/// Byte length of at most `max` leading characters satisfying `keep`.
fn run_at_most(s: &str, max: usize, keep: impl Fn(char) -> bool) -> usize {
    s.char_indices()
        .take(max)
        .take_while(|&(_, c)| keep(c))
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0)
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` written `'[sS]|'[tT]|...` at the start of `s`.
fn contraction_ci_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('\'')?;
    const SUFFIXES: [&str; 7] = ["s", "t", "re", "ve", "m", "ll", "d"];
    SUFFIXES
        .iter()
        .find(|suffix| {
            rest.get(..suffix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(suffix))
        })
        .map(|suffix| 1 + suffix.len())
}

/// `\s*[\r\n]+` at a whitespace run: up to and including the run's last `\r` or `\n` (the
/// greedy `\s*` gives back characters until one of them follows it), or `None` without one.
fn whitespace_to_last_newline(s: &str) -> Option<usize> {
    let run = &s[..run_while(s, |c| category(c) == Category::Space)];
    run.rfind(['\r', '\n']).map(|i| i + 1)
}

/// The whitespace alternatives shared by cl100k and o200k, at a whitespace character:
/// `\s*[\r\n]+|\s+(?!\S)|\s+`.
fn cl100k_whitespace_len(s: &str) -> usize {
    whitespace_to_last_newline(s).unwrap_or_else(|| whitespace_len(s))
}

/// ` ?[^\s\p{L}\p{N}]+` followed by `[\r\n]*` (cl100k) or `[\r\n/]*` (o200k, `slash`).
fn symbols_len(s: &str, slash: bool) -> Option<usize> {
    let mut chars = s.chars();
    let start = match (chars.next(), chars.next()) {
        (Some(' '), Some(c1)) if category(c1).is_symbol() => 1,
        _ => 0,
    };
    let run = run_while(&s[start..], |c| category(c).is_symbol());
    if run == 0 {
        return None;
    }
    let end = start + run;
    let tail = run_while(&s[end..], |c| c == '\r' || c == '\n' || (slash && c == '/'));
    Some(end + tail)
}

/// Byte length of the cl100k-style match (Llama 3 with `max_digits` 3, Qwen2 with 1) at the
/// start of non-empty `s`.
fn cl100k_len(s: &str, max_digits: usize) -> usize {
    if let Some(n) = contraction_ci_len(s) {
        return n;
    }
    let mut chars = s.chars();
    let Some(c0) = chars.next() else { return 0 };
    let letters = |from: usize| run_while(&s[from..], |c| category(c).is_letter());
    // `[^\r\n\p{L}\p{N}]?\p{L}+`
    if is_word_lead(c0) && chars.next().is_some_and(|c1| category(c1).is_letter()) {
        return c0.len_utf8() + letters(c0.len_utf8());
    }
    let cat = category(c0);
    if cat.is_letter() {
        return letters(0);
    }
    if cat == Category::Number {
        return run_at_most(s, max_digits, |c| category(c) == Category::Number);
    }
    if let Some(n) = symbols_len(s, false) {
        return n;
    }
    cl100k_whitespace_len(s)
}

/// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+` at the start of `s`.
///
/// The greedy upper run takes `a` characters. If the next is lower (an Ll), the lower run
/// continues from it. Otherwise the upper run gives back characters until one it gave back
/// is also lower (Lm, Lo, M): the match ends just after the last such character in the run.
fn o200k_cased_word(s: &str) -> Option<usize> {
    let upper = run_while(s, |c| category(c).is_o200k_upper());
    let lower = run_while(&s[upper..], |c| category(c).is_o200k_lower());
    if lower > 0 {
        return Some(upper + lower);
    }
    s[..upper]
        .char_indices()
        .rfind(|&(_, c)| category(c).is_o200k_lower())
        .map(|(i, c)| i + c.len_utf8())
}

/// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*` at the start of `s`.
fn o200k_upper_word(s: &str) -> Option<usize> {
    let upper = run_while(s, |c| category(c).is_o200k_upper());
    (upper > 0).then(|| upper + run_while(&s[upper..], |c| category(c).is_o200k_lower()))
}

/// Byte length of the o200k match at the start of non-empty `s`.
fn o200k_len(s: &str) -> usize {
    let Some(c0) = s.chars().next() else { return 0 };
    let lead = c0.len_utf8();
    for word in [o200k_cased_word, o200k_upper_word] {
        // `[^\r\n\p{L}\p{N}]?` takes its character first, then matches without it.
        let with_lead = is_word_lead(c0)
            .then(|| word(&s[lead..]).map(|n| lead + n))
            .flatten();
        if let Some(end) = with_lead.or_else(|| word(s)) {
            return end + contraction_ci_len(&s[end..]).unwrap_or(0);
        }
    }
    if category(c0) == Category::Number {
        return run_at_most(s, 3, |c| category(c) == Category::Number);
    }
    if let Some(n) = symbols_len(s, true) {
        return n;
    }
    cl100k_whitespace_len(s)
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
        let err = PreTokenizer::from_gguf_name("default").unwrap_err();
        assert!(err.to_string().contains("\"default\""), "{err}");
        assert_eq!(
            PreTokenizer::from_gguf_name("smollm").unwrap(),
            PreTokenizer::SmolLm
        );
    }
}
