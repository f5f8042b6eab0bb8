//! Steady-state optimizer steps of the whole loop — batch drawing,
//! forward and backward with accumulation, clipping, AdamW — allocate
//! nothing, at 1 and 2 threads (the counting allocator watches every
//! thread). One `#[test]`, so no other test allocates concurrently; each
//! pool thread first runs one small GEMM, whose packing buffers are a
//! one-time per-thread cost (see `train_alloc.rs`).

mod common;

use std::path::Path;

use smallmind_model::{ModelConfig, Preset};
use smallmind_telemetry::alloc::{CountingAllocator, Scope, is_installed};
use smallmind_tokenizer::CharTokenizer;
use smallmind_train::{LrSchedule, TextDataset, TrainSettings, Trainer, init_params};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// (allocations, bytes) of `steps` optimizer steps after a warm-up step.
fn step_allocations(threads: usize, steps: usize) -> (u64, u64) {
    let text = "a small text, repeated to fill the windows. ".repeat(200);
    let tokenizer = CharTokenizer::from_text(&text).unwrap();
    let data = TextDataset::from_text(&text, Path::new("t.txt"), tokenizer, 0.1).unwrap();
    let config = ModelConfig {
        vocab_size: data.tokenizer().vocab_size(),
        ..Preset::Small.config()
    };
    let settings = TrainSettings {
        batch_size: 4,
        context: 64,
        grad_accum: 2,
        grad_clip: Some(1.0),
        schedule: LrSchedule::cosine(1e-3, 1e-4, 100).with_warmup(5),
        weight_decay: 0.01,
        seed: 3,
        val_fraction: 0.1,
        val_batches: 2,
    };
    let pool = common::warm_pool(threads);
    pool.install(|| {
        let params = init_params(&config, 3).unwrap();
        let mut trainer = Trainer::new(&config, params, &data, settings).unwrap();
        trainer.step(&data).unwrap();
        let scope = Scope::start();
        for _ in 0..steps {
            trainer.step(&data).unwrap();
        }
        let counts = scope.counts();
        (counts.count, counts.bytes)
    })
}

#[test]
fn optimizer_steps_allocate_nothing() {
    let scope = Scope::start();
    drop(std::hint::black_box(vec![1u8; 64]));
    let seen = scope.counts();
    assert!(
        is_installed() && seen.count >= 1 && seen.bytes >= 64,
        "the counter sees nothing"
    );
    for threads in [1, 2] {
        let (count, bytes) = step_allocations(threads, 5);
        assert_eq!(
            (count, bytes),
            (0, 0),
            "{threads} thread(s): {count} allocations, {bytes} bytes in 5 steps"
        );
    }
}
