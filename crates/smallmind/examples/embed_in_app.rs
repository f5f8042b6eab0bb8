//! One model in an application, used by two threads at once:
//! `cargo run --release -p smallmind --example embed_in_app -- MODEL`.
//!
//! The weights are loaded (memory-mapped) once and shared through an `Arc<Model>`; each thread
//! has its own `TextSession`, i.e. its own KV cache, buffers and thread pool, so the two
//! generations run concurrently without locks.

use std::sync::Arc;

use smallmind::{GenerateOptions, SessionOptions, TextModel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: embed_in_app MODEL")?;
    let model = smallmind::load(path)?;
    let prompts = ["Once upon a time", "The weather today"];

    let replies = std::thread::scope(|scope| {
        let model = &model;
        let workers: Vec<_> = prompts
            .iter()
            .map(|&prompt| scope.spawn(move || complete(model, prompt)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a worker panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;

    for (prompt, reply) in prompts.iter().zip(&replies) {
        println!("[{prompt}] {reply}");
    }
    // Every session is gone; only `model` holds the weights, which were never copied.
    println!(
        "weights shared by {} handle(s)",
        Arc::strong_count(model.model())
    );
    Ok(())
}

/// One thread's work: its own session over the shared weights.
fn complete(model: &TextModel, prompt: &str) -> Result<String, smallmind::Error> {
    let options = SessionOptions {
        threads: Some(1),
        capacity: Some(128),
        ..Default::default()
    };
    let mut session = model.session(&options)?;
    assert!(
        Arc::ptr_eq(session.model().model(), model.model()),
        "one copy of the weights"
    );
    let options = GenerateOptions::default().temperature(0.0).max_tokens(32);
    Ok(session.generate(prompt, &options)?.complete()?.text)
}
