//! Fuzz target: arbitrary bytes through the whole GGUF model path.
//!
//! Bytes that parse are loaded as a model (every weight type the engine reads, its
//! tokenizer and config checks); a model that loads runs one prefill and one decode step
//! at one thread, so every block type's rows are read, whatever their bytes. Any outcome
//! but a panic is fine: errors for bad files, possibly non-finite logits for garbage
//! weights.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use smallmind_model::{Session, SessionOptions, gguf};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = gguf::from_bytes(data.to_vec()) else {
        return;
    };
    let Ok(model) = gguf::model_from_gguf(&file) else {
        return;
    };
    let model = Arc::new(model);
    let options = SessionOptions {
        threads: Some(1),
        capacity: Some(4),
        ..SessionOptions::default()
    };
    let Ok(mut session) = Session::new(model, &options) else {
        return;
    };
    if session.prefill(&[0, 1]).is_ok() {
        let _ = session.decode(1);
    }
});
