//! The tiny GGUF vocabulary: `tokenizer_tests.json` from fixtures/tiny-llama-gguf,
//! special tokens, add-BOS policy, round trips and error cases.

mod common;

use common::{tiny, tiny_vocab};
use proptest::prelude::*;
use smallmind_tokenizer::{AddPolicy, EncodeOptions, StreamDecoder, Tokenizer, TokenizerError};

#[test]
fn tokenizer_tests_json_passes() {
    let path = common::fixture("tiny-llama-gguf/tokenizer_tests.json");
    let text = std::fs::read_to_string(&path).expect("tokenizer_tests.json");
    let cases: std::collections::BTreeMap<String, Vec<u32>> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 4);
    let tok = tiny();
    for (text, expected) in &cases {
        let ids = tok.encode(text, EncodeOptions::PROMPT).unwrap();
        assert_eq!(&ids, expected, "{text:?}");
        assert_eq!(tok.decode(&ids).unwrap(), *text);
    }
}

#[test]
fn vocabulary_facts() {
    let tok = tiny();
    assert_eq!(tok.vocab_size(), 128);
    assert_eq!(tok.merge_count(), 27);
    assert_eq!(tok.token_id("Ġthe"), Some(110));
    assert!(tok.is_end_of_generation(2));
    assert!(!tok.is_end_of_generation(90));
}

#[test]
fn specials_only_when_parsing() {
    let tok = tiny();
    let text = "<|im_start|>hi";
    let parsed = tok.encode(text, EncodeOptions::PROMPT).unwrap();
    assert_eq!(parsed[0], 1);
    let plain = tok.encode(text, EncodeOptions::PLAIN).unwrap();
    assert!(!plain.contains(&1));
    assert_eq!(tok.decode(&plain).unwrap(), text);
    assert_eq!(tok.decode_with(&parsed, true).unwrap(), "hi");
}

#[test]
fn add_bos_policy() {
    let tok = tiny();
    let opts = |add_bos| EncodeOptions {
        add_bos,
        ..EncodeOptions::PROMPT
    };
    assert_eq!(
        tok.encode("a", opts(AddPolicy::FromMetadata)).unwrap(),
        [71]
    );
    assert_eq!(tok.encode("a", opts(AddPolicy::Always)).unwrap(), [1, 71]);
    let mut vocab = tiny_vocab();
    vocab.add_bos = true;
    vocab.add_eos = true;
    let tok = Tokenizer::from_vocab(vocab).unwrap();
    assert_eq!(tok.encode("a", EncodeOptions::PROMPT).unwrap(), [1, 71, 2]);
    assert_eq!(tok.encode("a", EncodeOptions::PLAIN).unwrap(), [71]);
    let mut vocab = tiny_vocab();
    vocab.bos = None;
    let tok = Tokenizer::from_vocab(vocab).unwrap();
    assert!(matches!(
        tok.encode("a", opts(AddPolicy::Always)),
        Err(TokenizerError::MissingBos)
    ));
}

#[test]
fn bytes_outside_the_vocab_are_dropped() {
    // "é" is two bytes, neither in the tiny vocabulary: dropped, as llama.cpp does.
    assert_eq!(tiny().encode("aé", EncodeOptions::PLAIN).unwrap(), [71]);
}

#[test]
fn bad_vocabularies_are_errors() {
    let build = |f: fn(&mut smallmind_tokenizer::Vocab)| {
        let mut v = tiny_vocab();
        f(&mut v);
        Tokenizer::from_vocab(v).unwrap_err()
    };
    assert!(matches!(
        build(|v| v.merges.push("Ġ zz".into())),
        TokenizerError::MergeUnknownToken { .. }
    ));
    assert!(matches!(
        build(|v| v.merges.push("a b".into())),
        TokenizerError::MergeResultMissing { .. }
    ));
    assert!(matches!(
        build(|v| v.merges.push("ab".into())),
        TokenizerError::MalformedMerge { .. }
    ));
    assert!(matches!(
        build(|v| {
            v.token_types.pop();
        }),
        TokenizerError::TokenTypeCount { .. }
    ));
    assert!(matches!(
        build(|v| v.token_types[5] = 9),
        TokenizerError::InvalidTokenType { id: 5, value: 9 }
    ));
    assert!(matches!(
        build(|v| v.eos = Some(128)),
        TokenizerError::SpecialIdOutOfRange { role: "eos", .. }
    ));
    assert!(matches!(
        build(|v| v.tokens.clear()),
        TokenizerError::TokenTypeCount { .. }
    ));
    assert!(matches!(
        build(|v| {
            v.tokens.clear();
            v.token_types.clear();
            v.merges.clear();
        }),
        TokenizerError::EmptyVocab
    ));
}

#[test]
fn unknown_ids_are_errors() {
    let tok = tiny();
    assert!(matches!(
        tok.decode(&[3, 128]),
        Err(TokenizerError::UnknownTokenId { id: 128, .. })
    ));
    let mut stream = StreamDecoder::new(&tok);
    assert!(stream.push(u32::MAX).is_err());
    assert_eq!(stream.push(71).unwrap(), "a");
}

fn tiny_text() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "\t\n\r abcdefghijklmnopqrstuvwxyzTHE0123456789.,;:!?'\"<|>_-"
        .chars()
        .collect();
    proptest::collection::vec(proptest::sample::select(alphabet), 0..200)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn round_trip(text in tiny_text()) {
        let tok = tiny();
        for opts in [EncodeOptions::PROMPT, EncodeOptions::PLAIN] {
            let ids = tok.encode(&text, opts).unwrap();
            prop_assert_eq!(tok.decode(&ids).unwrap(), text.clone());
        }
    }
}

/// One 200 KB piece (a single "word" and a single whitespace run): merging is O(n log n), so
/// this takes milliseconds; a quadratic rescan would take minutes.
#[test]
fn long_pieces_are_not_quadratic() {
    let tok = tiny();
    let word = "the".repeat(70_000);
    let ids = tok.encode(&word, EncodeOptions::PLAIN).unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), word);
    let spaces = " ".repeat(200_000) + "x";
    let ids = tok.encode(&spaces, EncodeOptions::PLAIN).unwrap();
    assert_eq!(ids.len(), 200_001);
}
