//! Real GGUF files written by llama.cpp's converters: the vocabulary files
//! shipped in the llama.cpp source tree (v2 and v3, tokenizer metadata of
//! 19 model families, up to 260k tokens). Skipped, with a note, where the
//! llama.cpp checkout of the peer benchmarks is not present.

use std::path::Path;

use smallmind_formats::gguf::GgufFile;

/// llama.cpp's `models/` directory, as vendored by the peer setup.
const LLAMA_CPP_MODELS: &str =
    "/root/.cache/smallmind-peers/llama_cpp_python-0.3.36/vendor/llama.cpp/models";

#[test]
fn llama_cpp_vocab_files_parse() {
    let dir = Path::new(LLAMA_CPP_MODELS);
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("skipped: {LLAMA_CPP_MODELS} not present");
        return;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "gguf") {
            continue;
        }
        let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let m = file.metadata();
        let tokens = m.get_str_array("tokenizer.ggml.tokens").unwrap();
        assert!(!tokens.is_empty(), "{}", path.display());
        if let Ok(types) = m.get_i32_array("tokenizer.ggml.token_type") {
            assert_eq!(types.len(), tokens.len(), "{}", path.display());
        }
        m.get_str("general.architecture").unwrap();
        n += 1;
    }
    assert!(n > 0, "no .gguf files in {LLAMA_CPP_MODELS}");
}
