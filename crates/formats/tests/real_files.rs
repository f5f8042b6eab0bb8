//! Real GGUF files written by llama.cpp's converters: the vocabulary files
//! shipped in the llama.cpp source tree (v2 and v3, tokenizer metadata of
//! 19 model families, up to 260k tokens), which `scripts/get_models.sh` copies to
//! `$SMALLMIND_MODELS/llama.cpp-vocab`; skipped visibly where absent. Each is also written back
//! with `GgufWriter` and must come out byte for byte the same.

use smallmind_formats::gguf::{GgufFile, GgufWriter};
use smallmind_testkit::models::{LLAMA_CPP_VOCAB_DIR, model_file};

#[test]
fn llama_cpp_vocab_files_parse() {
    let Some(dir) = model_file(LLAMA_CPP_VOCAB_DIR) else {
        return;
    };
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
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
        assert_eq!(rewrite(&file), file.as_bytes(), "{}", path.display());
        n += 1;
    }
    assert!(n > 0, "no .gguf files in {}", dir.display());
}

/// The file written back from what the reader returns.
fn rewrite(file: &GgufFile) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.set_version(file.version()).unwrap();
    for (key, value) in file.metadata().iter() {
        w.add_metadata(key, value.clone()).unwrap();
    }
    for info in file.tensors() {
        let data = file.tensor_data(info).unwrap();
        w.add_tensor(info.name(), info.dims(), info.ggml_type(), data)
            .unwrap();
    }
    w.to_bytes().unwrap()
}
