//! The GGUF tokenizers against transformers on the hard strings of `fixtures/tokenizers/`
//! (unicode, whitespace runs, digits, code, emoji, CJK, special tokens in text; made by
//! `scripts/fixtures/tokenizers_fixtures.py`, see the README there). Each fixture names the
//! GGUF file under `$SMALLMIND_MODELS` that transformers read; skipped visibly where absent.
//!
//! Both oracles encode without BOS/EOS but parse special-token text, as [`EncodeOptions`] with
//! `parse_special` does:
//!
//! * llama.cpp's `llama-tokenize` on the GGUF itself: the tokenizer as loaded must give exactly
//!   its ids for every string.
//! * transformers, whose GGUF conversion makes some choices of its own: a `Metaspace` space
//!   prefix (`prepend_scheme: "first"` for llama-spm, where llama.cpp puts a `▁` before every
//!   stretch of text), and `ignore_merges: false` for llama-bpe (where llama.cpp and Llama 3's
//!   own `tokenizer.json` ignore merges). The tokenizer is run with those choices
//!   ([`Tokenizer::with_space_prefix`], [`Tokenizer::with_ignore_merges`]) and must give
//!   transformers' ids, except where transformers differs from llama.cpp for reasons no setting
//!   reproduces (there it must give llama.cpp's, and the test prints them): ids the conversion
//!   invents past the vocabulary (llama-bpe's `<|endoftext|>`), and Gemma's whitespace-run
//!   tokens, which the GGUF marks user-defined (matched whole, longest first, as llama.cpp
//!   does) and transformers merges as ordinary BPE tokens.

use serde_json::Value;
use smallmind_model::gguf;
use smallmind_testkit::fixture;
use smallmind_testkit::models::model_file;
use smallmind_tokenizer::{AddPolicy, ChatTemplate, EncodeOptions, SpacePrefix, Tokenizer};

const WITH_SPECIALS: EncodeOptions = EncodeOptions {
    add_bos: AddPolicy::Never,
    add_eos: AddPolicy::Never,
    parse_special: true,
};

/// The space prefix transformers' conversion gave the tokenizer, if it is a Metaspace one.
fn metaspace_prefix(pre_tokenizer: &Value) -> Option<SpacePrefix> {
    if pre_tokenizer["type"] != "Metaspace" {
        return None;
    }
    Some(match pre_tokenizer["prepend_scheme"].as_str() {
        Some("first") => SpacePrefix::FirstStretchWithoutSpace,
        Some("always") => SpacePrefix::EveryStretchWithoutSpace,
        _ => SpacePrefix::Never,
    })
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

fn check(name: &str) {
    let path = fixture(&format!("tokenizers/{name}.json"));
    let data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let Some(gguf_path) = model_file(data["source"].as_str().unwrap()) else {
        return;
    };
    let file = gguf::open(gguf_path).unwrap();
    let tok = gguf::load_tokenizer(file.file()).unwrap();
    assert_eq!(
        tok.bos(),
        data["bos"].as_u64().map(|id| id as u32),
        "{name}: BOS"
    );
    let mut as_transformers: Tokenizer = tok.clone();
    if let Some(prefix) = metaspace_prefix(&data["pre_tokenizer"]) {
        as_transformers = as_transformers.with_space_prefix(prefix);
    }
    as_transformers = as_transformers.with_ignore_merges(data["ignore_merges"] == true);
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 300, "{name}: {} cases", cases.len());
    let (mut failures, mut llama_cpp_only) = (Vec::new(), Vec::new());
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let (transformers, llama_cpp) = (ids(&case["ids"]), ids(&case["llama_cpp"]));
        let got = tok.encode(text, WITH_SPECIALS).unwrap();
        if got != llama_cpp {
            failures.push(format!("{text:?}: got {got:?}, llama.cpp {llama_cpp:?}"));
        }
        let got = as_transformers.encode(text, WITH_SPECIALS).unwrap();
        if got != transformers {
            if got == llama_cpp {
                llama_cpp_only.push(format!("{text:?}: transformers {transformers:?}"));
            } else {
                failures.push(format!(
                    "{text:?}: got {got:?}, transformers {transformers:?}"
                ));
            }
        }
    }
    eprintln!(
        "{name}: {} strings; {} where transformers differs from llama.cpp and we match llama.cpp:\n{}",
        cases.len(),
        llama_cpp_only.len(),
        llama_cpp_only.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {} strings differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn llama_spm() {
    check("llama-spm");
}

#[test]
fn phi_3() {
    check("phi-3");
}

#[test]
fn llama_bpe() {
    check("llama-bpe");
}

#[test]
fn qwen2() {
    check("qwen2");
}

#[test]
fn gemma3() {
    check("gemma3");
}

/// The real Gemma 3 file has no `tokenizer.chat_template`: its turn tokens choose the built-in
/// Gemma format, as llama.cpp does.
#[test]
fn gemma3_without_a_template_chats_in_gemma_format() {
    let Some(path) = model_file("gemma-3-270m-q4_k_m.gguf") else {
        return;
    };
    let file = gguf::open(path).unwrap();
    let tok = gguf::load_tokenizer(file.file()).unwrap();
    assert_eq!(tok.chat_template(), None);
    assert_eq!(
        ChatTemplate::for_vocabulary(&tok),
        Some(ChatTemplate::Gemma)
    );
    let (bos, eos) = (tok.bos().unwrap(), tok.token_id("<end_of_turn>").unwrap());
    assert!(tok.add_bos() && tok.token_text(bos) == Some("<bos>"));
    assert!(tok.is_end_of_generation(eos), "<end_of_turn> ends a turn");
}
