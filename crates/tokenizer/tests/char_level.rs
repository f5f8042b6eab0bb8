//! The char-level tokenizer: vocabulary, encode/decode, the file format and
//! its corrupt inputs.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use smallmind_tokenizer::{CHAR_TOKENIZER_FILE, CharTokenizer, CharTokenizerError};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "smallmind-char-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn vocabulary_is_the_sorted_distinct_chars() {
    let tok = CharTokenizer::from_text("hello, world\n").unwrap();
    assert_eq!(
        tok.chars(),
        &['\n', ' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
    );
    assert_eq!(tok.vocab_size(), 10);
    assert_eq!(tok.encode("hello").unwrap(), vec![5, 4, 6, 6, 7]);
    assert_eq!(tok.decode(&[5, 4, 6, 6, 7]).unwrap(), "hello");
}

#[test]
fn multibyte_chars_are_one_token_each() {
    let text = "héllo → 世界 🎉";
    let tok = CharTokenizer::from_text(text).unwrap();
    let ids = tok.encode(text).unwrap();
    assert_eq!(ids.len(), text.chars().count());
    assert_eq!(tok.decode(&ids).unwrap(), text);
}

#[test]
fn unknown_char_names_char_and_offset() {
    let tok = CharTokenizer::from_text("abc").unwrap();
    let err = tok.encode("abxc").unwrap_err();
    assert!(matches!(
        err,
        CharTokenizerError::UnknownChar {
            ch: 'x',
            offset: 2,
            vocab_size: 3
        }
    ));
    assert!(err.to_string().contains("'x'"), "{err}");
}

#[test]
fn unknown_id_is_an_error() {
    let tok = CharTokenizer::from_text("abc").unwrap();
    assert!(matches!(
        tok.decode(&[0, 3]),
        Err(CharTokenizerError::UnknownId {
            id: 3,
            vocab_size: 3
        })
    ));
}

#[test]
fn empty_text_has_no_vocabulary() {
    assert!(matches!(
        CharTokenizer::from_text(""),
        Err(CharTokenizerError::EmptyVocab)
    ));
}

#[test]
fn file_round_trip() {
    let dir = TempDir::new("roundtrip");
    let path = dir.0.join(CHAR_TOKENIZER_FILE);
    let tok = CharTokenizer::from_text("The \"quick\" brown\\fox\t\n🎉").unwrap();
    tok.save(&path).unwrap();
    assert_eq!(CharTokenizer::load(&path).unwrap(), tok);
}

fn parse(text: &str) -> Result<CharTokenizer, CharTokenizerError> {
    CharTokenizer::from_json(text, Path::new(CHAR_TOKENIZER_FILE))
}

#[test]
fn corrupt_files_are_errors() {
    let malformed = [
        "",
        "{",
        "[]",
        "{\"chars\": [\"a\"]}",
        "{\"type\": \"bpe\", \"chars\": [\"a\"]}",
        "{\"type\": \"char\"}",
        "{\"type\": \"char\", \"chars\": \"ab\"}",
        "{\"type\": \"char\", \"chars\": [\"ab\"]}",
        "{\"type\": \"char\", \"chars\": [\"\"]}",
        "{\"type\": \"char\", \"chars\": [1]}",
        "{\"type\": \"char\", \"chars\": [\"\\ud800\"]}",
    ];
    for text in malformed {
        let err = parse(text).unwrap_err();
        assert!(
            matches!(err, CharTokenizerError::Malformed { .. }),
            "{text}: {err}"
        );
        assert!(err.to_string().contains(CHAR_TOKENIZER_FILE), "{err}");
    }
    assert!(matches!(
        parse("{\"type\": \"char\", \"chars\": []}"),
        Err(CharTokenizerError::EmptyVocab)
    ));
    assert!(matches!(
        parse("{\"type\": \"char\", \"chars\": [\"b\", \"a\"]}"),
        Err(CharTokenizerError::UnsortedVocab { index: 1, ch: 'a' })
    ));
    assert!(matches!(
        parse("{\"type\": \"char\", \"chars\": [\"a\", \"a\"]}"),
        Err(CharTokenizerError::UnsortedVocab { .. })
    ));
}

#[test]
fn missing_and_binary_files_are_errors() {
    let dir = TempDir::new("binary");
    let missing = dir.0.join("nope.json");
    assert!(matches!(
        CharTokenizer::load(&missing),
        Err(CharTokenizerError::Io { .. })
    ));
    let binary = dir.0.join(CHAR_TOKENIZER_FILE);
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x7b]).unwrap();
    assert!(CharTokenizer::load(&binary).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn encode_decode_round_trips(text in "\\PC{1,64}") {
        let tok = CharTokenizer::from_text(&text).unwrap();
        let ids = tok.encode(&text).unwrap();
        prop_assert_eq!(tok.decode(&ids).unwrap(), text.clone());
        let reloaded = parse(&tok.to_json()).unwrap();
        prop_assert_eq!(reloaded, tok);
    }

    #[test]
    fn arbitrary_json_never_panics(text in "\\PC{0,64}") {
        let _ = parse(&text);
    }
}
