//! A SentencePiece-style `tokenizer.json` (BPE with byte fallback, `Metaspace` pre-tokenizer):
//! transformers' export of llama.cpp's llama-spm vocabulary (Llama 2's, 32,000 tokens), in
//! `fixtures/tokenizers/llama-spm/`, against the ids transformers gives for the hard strings of
//! `fixtures/tokenizers/llama-spm.json` (see the README there). Needs no model file.

use serde_json::Value;
use smallmind_testkit::fixture;
use smallmind_tokenizer::{
    AddPolicy, EncodeOptions, SpacePrefix, StreamDecoder, Tokenizer, VocabModel,
};

const SPACE_MARK: char = '\u{2581}';

const WITH_SPECIALS: EncodeOptions = EncodeOptions {
    add_bos: AddPolicy::Never,
    add_eos: AddPolicy::Never,
    parse_special: true,
};

fn tokenizer() -> Tokenizer {
    Tokenizer::from_tokenizer_json_file(fixture("tokenizers/llama-spm/tokenizer.json")).unwrap()
}

fn cases() -> Vec<(String, Vec<u32>)> {
    let path = fixture("tokenizers/llama-spm.json");
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let ids = case["ids"].as_array().unwrap();
            let ids = ids.iter().map(|id| id.as_u64().unwrap() as u32).collect();
            (case["text"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

#[test]
fn reads_the_metaspace_bpe() {
    let tok = tokenizer();
    assert_eq!(tok.model(), VocabModel::SentencePiece);
    assert_eq!(tok.pre_tokenizer(), None);
    assert_eq!(tok.space_prefix(), SpacePrefix::FirstStretchWithoutSpace);
    assert_eq!(tok.vocab_size(), 32_000);
    assert!(tok.merge_count() > 60_000, "{}", tok.merge_count());
}

#[test]
fn encodes_as_transformers() {
    let tok = tokenizer();
    let cases = cases();
    assert!(cases.len() >= 300);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(text, want)| {
            let got = tok.encode(text, WITH_SPECIALS).unwrap();
            (got != *want).then(|| format!("{text:?}: got {got:?}, want {want:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Text without special tokens and not starting with a space comes back exactly (the space
/// prefix is removed again), and a stream decoder gives the same text piece by piece, holding
/// the `<0xNN>` bytes of a character until its last byte arrives.
#[test]
fn decodes_back_and_streams_byte_fallback() {
    let tok = tokenizer();
    for (text, ids) in cases() {
        // A literal ▁ decodes as a space, as in HF.
        if text.starts_with([' ', '<'])
            || text.contains([SPACE_MARK])
            || text.contains("<s>")
            || text.contains("</s>")
        {
            continue;
        }
        assert_eq!(tok.decode(&ids).unwrap(), text, "{ids:?}");
    }
    let ids = tok.encode("a 🦙 b", EncodeOptions::PLAIN).unwrap();
    let llama_bytes = ids
        .iter()
        .filter(|&&id| tok.token_text(id).is_some_and(|t| t.starts_with("<0x")))
        .count();
    assert_eq!(llama_bytes, 4, "{ids:?}: the llama is 4 byte tokens");
    let mut stream = StreamDecoder::new(&tok);
    let mut pieces = Vec::new();
    for &id in &ids {
        pieces.push(stream.push(id).unwrap().to_owned());
    }
    pieces.push(stream.finish().to_owned());
    // Streaming keeps the prefix space: it continues a prompt.
    assert_eq!(pieces.concat(), " a 🦙 b");
    assert!(
        pieces.iter().filter(|p| p.is_empty()).count() >= 3,
        "{pieces:?}"
    );
    assert!(pieces.contains(&"🦙".to_owned()), "{pieces:?}");
}
