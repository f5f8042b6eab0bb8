//! SentencePiece-style tokenization: spaces written as `▁` (U+2581), optional "dummy prefix"
//! space, and `<0xNN>` byte tokens for characters outside the vocabulary.
//!
//! Two ways to merge, after the text is split into characters:
//!
//! * [`SentencePiece`] (GGUF `tokenizer.ggml.model = "llama"`): the adjacent pair whose
//!   concatenation is a token with the highest score merges first (the leftmost among equal
//!   scores), until no adjacent pair forms a token; then each symbol that is not a token is
//!   written as its bytes' `<0xNN>` tokens. This is SentencePiece's BPE encoder as llama.cpp's
//!   `llm_tokenizer_spm` runs it on the scores of the vocabulary.
//! * [`MetaspaceBpe`] (`tokenizer.json` `BPE` with `byte_fallback: true`, as transformers
//!   writes Llama 2, Mistral and Gemma tokenizers): each character becomes its token, or its
//!   bytes' `<0xNN>` tokens, and the pairs then merge by the rank of `model.merges`
//!   ([`crate::bpe`]).
//!
//! The symbols of [`SentencePiece`] form a linked list over byte ranges of the escaped text,
//! and candidate pairs sit in a max-heap; a popped pair is stale (skipped) when either side
//! has changed length since it was pushed.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::bpe::{BpeScratch, MergeTable, merge_piece};

/// The character SentencePiece writes for a space.
pub(crate) const SPACE_MARK: char = '\u{2581}';

/// No neighbour.
const NONE: u32 = u32::MAX;

/// The byte a `<0xNN>` token stands for.
pub(crate) fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Token of each byte: `<0xNN>`, else the one-byte string itself (as llama.cpp falls back).
pub(crate) fn byte_token_ids(text_to_id: &HashMap<String, u32>) -> [Option<u32>; 256] {
    let mut ids = [None; 256];
    for (b, id) in (0..=255u8).zip(ids.iter_mut()) {
        *id = text_to_id
            .get(&format!("<0x{b:02X}>"))
            .copied()
            .or_else(|| {
                char::from_u32(u32::from(b))
                    .filter(|_| b.is_ascii())
                    .and_then(|c| text_to_id.get(c.encode_utf8(&mut [0; 4]) as &str))
                    .copied()
            });
    }
    ids
}

/// Writes `text` with spaces as `▁` into `out` (cleared first), after a `▁` if `prefix`.
fn escape_spaces(text: &str, prefix: bool, out: &mut String) {
    out.clear();
    if prefix {
        out.push(SPACE_MARK);
    }
    for c in text.chars() {
        out.push(if c == ' ' { SPACE_MARK } else { c });
    }
}

/// Appends the byte tokens of `bytes` to `out`; a byte without one becomes `unk`, or is
/// dropped without it.
fn push_bytes(bytes: &[u8], byte_ids: &[Option<u32>; 256], unk: Option<u32>, out: &mut Vec<u32>) {
    out.extend(
        bytes
            .iter()
            .filter_map(|&b| byte_ids[usize::from(b)].or(unk)),
    );
}

/// One symbol: a byte range of the escaped text, linked to its neighbours.
#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    /// Byte length; 0 once merged into its left neighbour.
    len: u32,
    prev: u32,
    next: u32,
}

/// A candidate merge of the symbols at `left` and `right` into a token with `score`.
#[derive(Clone, Copy)]
struct Bigram {
    score: f32,
    left: u32,
    right: u32,
    /// Byte length of the merged text, to recognise stale entries.
    len: u32,
}

impl Ord for Bigram {
    /// Higher score first; then the leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

/// Reusable buffers for one `encode` call.
#[derive(Default)]
pub(crate) struct SpmScratch {
    escaped: String,
    ids: Vec<u32>,
    symbols: Vec<Symbol>,
    heap: BinaryHeap<Bigram>,
    bpe: BpeScratch,
}

/// A SentencePiece vocabulary's scores and byte tokens (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct SentencePiece {
    /// Score of each token (empty: all 0).
    scores: Vec<f32>,
    byte_ids: [Option<u32>; 256],
    /// Stands for bytes without a token; `None` drops them.
    unk: Option<u32>,
}

impl SentencePiece {
    pub(crate) fn new(
        scores: Vec<f32>,
        text_to_id: &HashMap<String, u32>,
        unk: Option<u32>,
    ) -> Self {
        Self {
            scores,
            byte_ids: byte_token_ids(text_to_id),
            unk,
        }
    }

    /// Encodes `text` (after a `▁` if `prefix`) and appends the ids to `out`.
    pub(crate) fn encode(
        &self,
        text: &str,
        prefix: bool,
        text_to_id: &HashMap<String, u32>,
        scratch: &mut SpmScratch,
        out: &mut Vec<u32>,
    ) {
        let SpmScratch {
            escaped,
            symbols,
            heap,
            ..
        } = scratch;
        escape_spaces(text, prefix, escaped);
        let text = escaped.as_str();
        symbols.clear();
        heap.clear();
        let count = text.chars().count() as u32;
        symbols.extend(text.char_indices().enumerate().map(|(i, (at, c))| Symbol {
            start: at as u32,
            len: c.len_utf8() as u32,
            prev: if i == 0 { NONE } else { i as u32 - 1 },
            next: if i as u32 + 1 == count {
                NONE
            } else {
                i as u32 + 1
            },
        }));
        for left in 1..symbols.len() as u32 {
            self.push_bigram(text, text_to_id, symbols, heap, left - 1, left);
        }
        while let Some(bigram) = heap.pop() {
            let (l, r) = (
                symbols[bigram.left as usize],
                symbols[bigram.right as usize],
            );
            if l.len == 0 || r.len == 0 || l.len + r.len != bigram.len {
                continue;
            }
            symbols[bigram.left as usize].len += r.len;
            symbols[bigram.left as usize].next = r.next;
            symbols[bigram.right as usize].len = 0;
            if r.next != NONE {
                symbols[r.next as usize].prev = bigram.left;
            }
            self.push_bigram(text, text_to_id, symbols, heap, l.prev, bigram.left);
            self.push_bigram(text, text_to_id, symbols, heap, bigram.left, r.next);
        }
        let mut at = if symbols.is_empty() { NONE } else { 0 };
        while at != NONE {
            let s = symbols[at as usize];
            let piece = &text[s.start as usize..(s.start + s.len) as usize];
            // A merged symbol is a token by construction; a single character may not be.
            match text_to_id.get(piece) {
                Some(&id) => out.push(id),
                None => push_bytes(piece.as_bytes(), &self.byte_ids, self.unk, out),
            }
            at = s.next;
        }
    }

    /// Queues the merge of `left` and `right` if their text is a token.
    fn push_bigram(
        &self,
        text: &str,
        text_to_id: &HashMap<String, u32>,
        symbols: &[Symbol],
        heap: &mut BinaryHeap<Bigram>,
        left: u32,
        right: u32,
    ) {
        if left == NONE || right == NONE {
            return;
        }
        let (l, r) = (symbols[left as usize], symbols[right as usize]);
        let len = l.len + r.len;
        let Some(&id) = text_to_id.get(&text[l.start as usize..(l.start + len) as usize]) else {
            return;
        };
        let score = self.scores.get(id as usize).copied().unwrap_or(0.0);
        heap.push(Bigram {
            score,
            left,
            right,
            len,
        });
    }
}

/// A `tokenizer.json` BPE with byte fallback (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct MetaspaceBpe {
    merges: MergeTable,
    byte_ids: [Option<u32>; 256],
    /// HF `model.unk_token`: a character with neither a token nor byte tokens.
    unk: Option<u32>,
}

impl MetaspaceBpe {
    pub(crate) fn new(
        merges: MergeTable,
        text_to_id: &HashMap<String, u32>,
        unk: Option<u32>,
    ) -> Self {
        Self {
            merges,
            byte_ids: byte_token_ids(text_to_id),
            unk,
        }
    }

    /// The merge table, to count merges.
    pub(crate) fn merges(&self) -> &MergeTable {
        &self.merges
    }

    /// Encodes `text` (after a `▁` if `prefix`) and appends the ids to `out`.
    pub(crate) fn encode(
        &self,
        text: &str,
        prefix: bool,
        text_to_id: &HashMap<String, u32>,
        scratch: &mut SpmScratch,
        out: &mut Vec<u32>,
    ) {
        let SpmScratch {
            escaped,
            ids: initial,
            bpe,
            ..
        } = scratch;
        escape_spaces(text, prefix, escaped);
        initial.clear();
        let mut buf = [0u8; 4];
        for c in escaped.chars() {
            let s = c.encode_utf8(&mut buf);
            match text_to_id.get(s as &str) {
                Some(&id) => initial.push(id),
                None => {
                    let all_bytes = s.bytes().all(|b| self.byte_ids[usize::from(b)].is_some());
                    if all_bytes {
                        push_bytes(s.as_bytes(), &self.byte_ids, None, initial);
                    } else if let Some(unk) = self.unk {
                        initial.push(unk);
                    }
                }
            }
        }
        merge_piece(&self.merges, initial.drain(..), bpe, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(tokens: &[&str]) -> HashMap<String, u32> {
        tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect()
    }

    #[test]
    fn byte_token_values() {
        assert_eq!(byte_token_value("<0x0A>"), Some(10));
        assert_eq!(byte_token_value("<0xFF>"), Some(255));
        assert_eq!(byte_token_value("<0x0>"), None);
        assert_eq!(byte_token_value("<s>"), None);
    }

    #[test]
    fn highest_score_merges_first_then_bytes() {
        // "abc": "ab" (score -1) and "bc" (score -0.5): "bc" wins, leaving "a" + "bc".
        let tokens = ["<unk>", "a", "b", "c", "ab", "bc", "<0xC3>", "<0xA9>"];
        let scores = vec![0.0, -5.0, -5.0, -5.0, -1.0, -0.5, 0.0, 0.0];
        let map = index(&tokens);
        let spm = SentencePiece::new(scores, &map, Some(0));
        let mut scratch = SpmScratch::default();
        let mut out = Vec::new();
        spm.encode("abcé", false, &map, &mut scratch, &mut out);
        assert_eq!(out, [1, 5, 6, 7]);
    }
}
