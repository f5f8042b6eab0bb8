//! Steady-state decode allocates nothing: a counting global allocator watches
//! every thread while a session decodes, after a warm-up, at 1 and 2 threads.
//!
//! The loop runs inside `Session::install` (see the session docs: entering a
//! rayon pool from outside makes its injector queue allocate now and then).
//! This file holds a single `#[test]` so no other test allocates concurrently,
//! and every pool is started before counting and dropped after: thread
//! start-up and shutdown allocate on their own schedule.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use smallmind_model::preset::Preset;
use smallmind_model::{
    Generation, Model, Sampler, SamplerConfig, Session, SessionOptions, StopCriteria,
};

struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

fn count(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size, Ordering::Relaxed);
    }
}

// SAFETY: defers every call to `System`, only adding relaxed counter updates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A session whose pool threads have all started (their start-up allocates).
fn started_session(model: &Arc<Model>, threads: usize) -> Session {
    let options = SessionOptions {
        threads: Some(threads),
        ..SessionOptions::default()
    };
    let session = Session::new(Arc::clone(model), &options).unwrap();
    session.pool().broadcast(|_| ());
    session
}

/// Decodes greedily for `steps` tokens after a warm-up; returns the
/// (allocations, bytes) of the counted steps.
fn decode_allocations(session: &mut Session, steps: usize) -> (usize, usize) {
    session.install(|s| {
        let vocab = s.model().config().vocab_size as u32;
        let prompt: Vec<u32> = (0..8).map(|i| (i * 5 + 1) % vocab).collect();
        let mut next = common::argmax(s.prefill(&prompt).unwrap());
        for _ in 0..4 {
            next = common::argmax(s.decode(next).unwrap());
        }
        ALLOCATIONS.store(0, Ordering::SeqCst);
        BYTES.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        for _ in 0..steps {
            next = common::argmax(s.decode(next).unwrap());
        }
        COUNTING.store(false, Ordering::SeqCst);
    });
    (
        ALLOCATIONS.load(Ordering::SeqCst),
        BYTES.load(Ordering::SeqCst),
    )
}

/// Allocations of 32 generated tokens (sampling with temperature, top-k,
/// top-p and a repetition penalty) after 4 warm-up tokens.
fn generation_allocations(session: &mut Session) -> (usize, usize) {
    session.install(|s| {
        s.reset();
        let vocab = s.model().config().vocab_size;
        let config = SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            repetition_penalty: 1.1,
            seed: 42,
            ..SamplerConfig::default()
        };
        let mut sampler = Sampler::new(config, vocab).unwrap();
        let stop = StopCriteria {
            stop_tokens: vec![],
            max_new_tokens: 36,
        };
        let mut generation = Generation::new(s, &mut sampler, stop, &[1, 2, 3]).unwrap();
        for token in generation.by_ref().take(4) {
            token.unwrap();
        }
        ALLOCATIONS.store(0, Ordering::SeqCst);
        BYTES.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        let n = generation.by_ref().map(Result::unwrap).count();
        COUNTING.store(false, Ordering::SeqCst);
        assert_eq!(n, 32);
    });
    (
        ALLOCATIONS.load(Ordering::SeqCst),
        BYTES.load(Ordering::SeqCst),
    )
}

#[test]
fn steady_state_decode_allocates_zero_bytes() {
    // The counter works: a known allocation is seen.
    COUNTING.store(true, Ordering::SeqCst);
    let probe = std::hint::black_box(vec![1u8; 64]);
    COUNTING.store(false, Ordering::SeqCst);
    drop(probe);
    assert!(
        BYTES.load(Ordering::SeqCst) >= 64,
        "the counting allocator sees nothing"
    );

    let models = [
        ("tiny-llama", common::load("tiny-llama")),
        ("M-small", Arc::new(Preset::Small.model(42).unwrap())),
        ("M-medium", Arc::new(Preset::Medium.model(42).unwrap())),
    ];
    // Every session lives to the end, so no pool shuts down (its exiting
    // threads allocate) while another session is being counted.
    let mut sessions: Vec<_> = models
        .iter()
        .flat_map(|(name, model)| [1, 2].map(|t| (*name, t, started_session(model, t))))
        .collect();
    for (name, threads, session) in &mut sessions {
        {
            let (allocs, bytes) = decode_allocations(session, 32);
            assert_eq!(
                (allocs, bytes),
                (0, 0),
                "{name}, {threads} threads: decode allocated {allocs} times, {bytes} bytes over 32 tokens"
            );
            let (allocs, bytes) = generation_allocations(session);
            assert_eq!(
                (allocs, bytes),
                (0, 0),
                "{name}, {threads} threads: generation allocated {allocs} times, {bytes} bytes over 32 tokens"
            );
        }
    }
}
