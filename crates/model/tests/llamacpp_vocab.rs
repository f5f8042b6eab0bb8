//! The GGUF tokenizers against llama.cpp's own tokenizer tests: the vocabulary-only files of
//! llama.cpp's source tree come with `.gguf.inp` (texts, each followed by a
//! `\n__ggml_vocab_test__\n` line) and `.gguf.out` (the ids llama.cpp's `test-tokenizer-0`
//! gives, one line per text, encoded without BOS/EOS and without parsing special tokens).
//! `scripts/get_models.sh` copies them to `$SMALLMIND_MODELS/llama.cpp-vocab`; skipped visibly
//! where absent.

use std::path::Path;

use smallmind_model::gguf;
use smallmind_testkit::models::{LLAMA_CPP_VOCAB_DIR, model_file};
use smallmind_tokenizer::{EncodeOptions, PreTokenizer, VocabModel};

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

/// The texts and expected ids of `<name>.gguf.inp` / `.out`.
fn cases(dir: &Path, name: &str) -> Vec<(String, Vec<u32>)> {
    let read = |ext: &str| {
        let path = dir.join(format!("{name}.gguf.{ext}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let inputs = read("inp");
    let texts: Vec<&str> = inputs
        .strip_suffix(SEPARATOR)
        .expect("the .inp file ends with the separator")
        .split(SEPARATOR)
        .collect();
    let outputs = read("out");
    let ids: Vec<Vec<u32>> = outputs
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|t| t.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(texts.len(), ids.len(), "{name}: texts and id lines");
    texts.into_iter().map(str::to_owned).zip(ids).collect()
}

/// Encodes every case of `name` (after checking the tokenizer's kind) and decodes it back.
fn check(name: &str, model: VocabModel, pre: Option<PreTokenizer>) {
    let Some(dir) = model_file(LLAMA_CPP_VOCAB_DIR) else {
        return;
    };
    let file = gguf::open(dir.join(format!("{name}.gguf"))).unwrap();
    let tok = gguf::load_tokenizer(file.file()).unwrap();
    assert_eq!((tok.model(), tok.pre_tokenizer()), (model, pre), "{name}");
    let cases = cases(&dir, name);
    let mut failures = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode(text, EncodeOptions::PLAIN).unwrap();
        if &got != want {
            failures.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
        // Every byte has a token in these vocabularies, so decoding gives the text back (the
        // SentencePiece space prefix removed again).
        assert_eq!(tok.decode(&got).unwrap(), *text, "{name}: decoding {got:?}");
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases differ from llama.cpp:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn llama_spm() {
    check("ggml-vocab-llama-spm", VocabModel::SentencePiece, None);
}

#[test]
fn phi_3() {
    check("ggml-vocab-phi-3", VocabModel::SentencePiece, None);
}

#[test]
fn llama_bpe() {
    check(
        "ggml-vocab-llama-bpe",
        VocabModel::ByteLevelBpe,
        Some(PreTokenizer::Llama3),
    );
}

#[test]
fn qwen2() {
    check(
        "ggml-vocab-qwen2",
        VocabModel::ByteLevelBpe,
        Some(PreTokenizer::Qwen2),
    );
}

#[test]
fn gpt_2() {
    check(
        "ggml-vocab-gpt-2",
        VocabModel::ByteLevelBpe,
        Some(PreTokenizer::Gpt2),
    );
}

#[test]
fn starcoder() {
    check(
        "ggml-vocab-starcoder",
        VocabModel::ByteLevelBpe,
        Some(PreTokenizer::SmolLm),
    );
}

#[test]
fn refact() {
    check(
        "ggml-vocab-refact",
        VocabModel::ByteLevelBpe,
        Some(PreTokenizer::SmolLm),
    );
}

#[test]
fn command_r() {
    check(
        "ggml-vocab-command-r",
        VocabModel::ByteLevelBpe,
        Some(PreTokenizer::SmolLm),
    );
}

#[test]
fn unsupported_vocabularies_name_what_they_lack() {
    let Some(dir) = model_file(LLAMA_CPP_VOCAB_DIR) else {
        return;
    };
    for (name, what) in [
        ("ggml-vocab-deepseek-llm", "\"deepseek-llm\""),
        ("ggml-vocab-bert-bge", "\"bert\""),
        ("ggml-vocab-gemma-4", "\"gemma4\""),
    ] {
        let file = gguf::open(dir.join(format!("{name}.gguf"))).unwrap();
        let err = gguf::load_tokenizer(file.file()).unwrap_err().to_string();
        assert!(err.contains(what), "{name}: {err}");
    }
}
