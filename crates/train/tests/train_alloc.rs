//! Steady-state training steps allocate nothing: the telemetry crate's
//! counting allocator watches every thread while forward + backward run,
//! after one warm-up step, at 1 and 2 threads.
//!
//! One `#[test]` only, so no other test allocates concurrently; each pool is
//! started (its threads' start-up allocates) and entered before counting.
//! The GEMM kernel allocates its per-thread packing buffers on a thread's
//! first GEMM, and which pool thread runs which GEMM is up to work stealing,
//! so every pool thread first runs one small GEMM (a one-time cost per
//! thread, not per step).

mod common;

use common::{Rng, random_params};
use smallmind_model::Preset;
use smallmind_telemetry::alloc::{CountingAllocator, Scope, is_installed};
use smallmind_train::{Gpt2Trainer, ParamLayout};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// (allocations, bytes) of `steps` training steps after a warm-up step.
fn step_allocations(threads: usize, steps: usize) -> (u64, u64) {
    let config = Preset::Small.config();
    let layout = ParamLayout::gpt2(&config).unwrap();
    let params = random_params(&layout, 1);
    let mut grads = vec![0.0; params.len()];
    let (b, t) = (4, 64);
    let mut rng = Rng(9);
    let inputs = rng.tokens(b * t, config.vocab_size);
    let targets = rng.tokens(b * t, config.vocab_size);
    let pool = common::warm_pool(threads);
    pool.install(|| {
        let mut trainer = Gpt2Trainer::new(&config, b, t).unwrap();
        let mut step = |grads: &mut [f32]| {
            grads.fill(0.0);
            trainer.forward(&params, &inputs, &targets).unwrap();
            trainer.backward(&params, grads, 1.0).unwrap();
            trainer.evaluate(&params, &inputs, &targets).unwrap();
        };
        step(&mut grads);
        let scope = Scope::start();
        for _ in 0..steps {
            step(&mut grads);
        }
        let counts = scope.counts();
        (counts.count, counts.bytes)
    })
}

#[test]
fn training_steps_allocate_nothing() {
    let scope = Scope::start();
    let probe = std::hint::black_box(vec![1u8; 64]);
    drop(probe);
    let seen = scope.counts();
    assert!(
        is_installed() && seen.count >= 1 && seen.bytes >= 64,
        "the counter sees nothing"
    );
    for threads in [1, 2] {
        let (count, bytes) = step_allocations(threads, 3);
        assert_eq!(
            (count, bytes),
            (0, 0),
            "{threads} threads: {count} allocations, {bytes} bytes in 3 steps"
        );
    }
}
