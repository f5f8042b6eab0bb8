//! `tokenizer.json` parsing on small hand-written documents: the supported subset and clear
//! errors for everything else.

use serde_json::{Value, json};
use smallmind_tokenizer::{EncodeOptions, PreTokenizer, Tokenizer, TokenizerError};

fn doc() -> Value {
    json!({
        "version": "1.0",
        "added_tokens": [
            {"id": 5, "content": "<s>", "special": true},
            {"id": 6, "content": "[x]", "special": false}
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}]
        },
        "decoder": {"type": "ByteLevel"},
        "model": {
            "type": "BPE",
            "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "1": 4},
            "merges": ["a b"]
        }
    })
}

fn build(value: &Value) -> Result<Tokenizer, TokenizerError> {
    Tokenizer::from_tokenizer_json(&value.to_string())
}

#[test]
fn supported_subset() {
    let tok = build(&doc()).unwrap();
    assert_eq!(tok.vocab_size(), 7);
    assert_eq!((tok.bos(), tok.add_bos()), (Some(5), true));
    assert_eq!(
        tok.encode("ab a", EncodeOptions::PROMPT).unwrap(),
        [5, 2, 3, 0]
    );
    // User-defined (non-special) added tokens match even in plain mode; specials do not.
    assert_eq!(tok.encode("[x]<s>", EncodeOptions::PLAIN).unwrap()[0], 6);
    assert_eq!(tok.decode(&[5, 2, 6]).unwrap(), "<s>ab[x]");
    assert_eq!(tok.decode_with(&[5, 2, 6], true).unwrap(), "ab[x]");
}

#[test]
fn merges_as_pairs_and_digits_sequence() {
    let mut d = doc();
    d["model"]["merges"] = json!([["a", "b"]]);
    d["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
    ]});
    let tok = build(&d).unwrap();
    assert_eq!(tok.pre_tokenizer(), Some(PreTokenizer::SmolLm));
    assert_eq!(tok.encode("ab", EncodeOptions::PLAIN).unwrap(), [2]);
}

#[test]
fn hf_config_sets_specials_and_template() {
    let config = r#"{"bos_token": "<s>", "eos_token": {"content": "<s>"}, "chat_template": "x"}"#;
    let tok = build(&doc())
        .unwrap()
        .with_hf_config(Some(config), None)
        .unwrap();
    assert_eq!(tok.eos(), Some(5));
    assert_eq!(tok.chat_template(), Some("x"));
}

/// An edit of the document under test.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn error_of(edit: impl FnOnce(&mut Value)) -> TokenizerError {
    let mut d = doc();
    edit(&mut d);
    build(&d).unwrap_err()
}

#[test]
fn unsupported_features_are_named() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|d| d["model"]["type"] = json!("WordPiece")),
            "WordPiece",
        ),
        (
            Box::new(|d| d["model"]["byte_fallback"] = json!(true)),
            "byte_fallback",
        ),
        (
            Box::new(|d| d["model"]["continuing_subword_prefix"] = json!("##")),
            "##",
        ),
        (
            Box::new(|d| d["normalizer"] = json!({"type": "NFC"})),
            "NFC",
        ),
        (
            Box::new(|d| d["pre_tokenizer"] = json!({"type": "Split"})),
            "Split",
        ),
        (
            Box::new(|d| d["pre_tokenizer"]["add_prefix_space"] = json!(true)),
            "add_prefix_space",
        ),
    ];
    for (edit, needle) in cases {
        let err = error_of(edit);
        assert!(matches!(err, TokenizerError::UnsupportedJson(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn malformed_documents_are_errors() {
    assert!(matches!(
        Tokenizer::from_tokenizer_json("{"),
        Err(TokenizerError::MalformedJson(_))
    ));
    assert!(matches!(
        Tokenizer::from_tokenizer_json("[]"),
        Err(TokenizerError::MalformedJson(_))
    ));
    let malformed: Vec<Edit> = vec![
        Box::new(|d| {
            d.as_object_mut().unwrap().remove("model");
        }),
        Box::new(|d| d["model"]["vocab"]["zz"] = json!(4_000_000_000u64)),
        Box::new(|d| d["model"]["vocab"]["zz"] = json!(-1)),
        Box::new(|d| d["model"]["merges"] = json!([["a"]])),
        Box::new(|d| d["model"]["merges"] = json!(["ab"])),
        Box::new(|d| d["added_tokens"] = json!([{"id": 9}])),
    ];
    for edit in malformed {
        let err = error_of(edit);
        assert!(matches!(err, TokenizerError::MalformedJson(_)), "{err}");
    }
    assert!(matches!(
        error_of(|d| d["model"]["merges"] = json!(["a zz"])),
        TokenizerError::MergeUnknownToken { .. }
    ));
    assert!(matches!(
        error_of(|d| d["model"]["merges"] = json!(["b a"])),
        TokenizerError::MergeResultMissing { .. }
    ));
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Tokenizer::from_tokenizer_json_file("/nonexistent/tokenizer.json").unwrap_err();
    assert!(matches!(err, TokenizerError::Io { .. }));
}
