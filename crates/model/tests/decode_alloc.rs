//! Steady-state decode allocates nothing: a counting global allocator watches
//! every thread while a session decodes, after a warm-up, at 1 and 2 threads.
//!
//! Plain decoding enters the session's worker team from outside on every step
//! (no `Session::install`), and generation runs inside `Session::install`:
//! neither may allocate; nor may a `BatchDecoder` step over three sessions. This file holds
//! a single `#[test]` so no other test allocates concurrently, and every team
//! is started before counting and dropped after: thread start-up and shutdown
//! allocate on their own schedule.

mod alloc_counter;
mod common;

use std::sync::Arc;

use alloc_counter::{assert_counter_works, counted};
use smallmind_kernels::Team;
use smallmind_model::preset::Preset;
use smallmind_model::{
    BatchDecoder, Generation, Model, Sampler, SamplerConfig, Session, SessionOptions, StopCriteria,
};

/// A session whose worker threads have all started (their start-up allocates).
fn started_session(model: &Arc<Model>, threads: usize) -> Session {
    let options = SessionOptions {
        threads: Some(threads),
        ..SessionOptions::default()
    };
    let session = Session::new(Arc::clone(model), &options).unwrap();
    session.team().run(&|_| ());
    session
}

/// Decodes greedily for `steps` tokens after a warm-up; returns the
/// (allocations, bytes) of the counted steps.
fn decode_allocations(s: &mut Session, steps: usize) -> (usize, usize) {
    let vocab = s.model().config().vocab_size as u32;
    let prompt: Vec<u32> = (0..8).map(|i| (i * 5 + 1) % vocab).collect();
    let mut next = common::argmax(s.prefill(&prompt).unwrap());
    for _ in 0..4 {
        next = common::argmax(s.decode(next).unwrap());
    }
    let ((), allocations) = counted(|| {
        for _ in 0..steps {
            next = common::argmax(s.decode(next).unwrap());
        }
    });
    allocations
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
        let (n, allocations) = counted(|| generation.by_ref().map(Result::unwrap).count());
        assert_eq!(n, 32);
        allocations
    })
}

/// Three sessions on one started team of `threads` workers and a decoder for them.
fn started_batch(model: &Arc<Model>, threads: usize) -> (Vec<Session>, BatchDecoder) {
    let team = Arc::new(Team::new(threads, "alloc-test").unwrap());
    team.run(&|_| ());
    let options = SessionOptions::default();
    let sessions = (0..3)
        .map(|_| Session::with_team(Arc::clone(model), &options, Arc::clone(&team)).unwrap())
        .collect();
    let decoder = BatchDecoder::new(Arc::clone(model), &options, 3).unwrap();
    (sessions, decoder)
}

/// Decodes the three sessions together, greedily, for `steps` tokens after a warm-up; returns
/// the (allocations, bytes) of the counted steps.
fn batch_allocations(
    sessions: &mut [Session],
    decoder: &mut BatchDecoder,
    steps: usize,
) -> (usize, usize) {
    let vocab = sessions[0].model().config().vocab_size;
    let mut next = [0u32; 3];
    for (i, session) in sessions.iter_mut().enumerate() {
        let prompt: Vec<u32> = (0..4 + i as u32)
            .map(|j| (j * 5 + 1) % vocab as u32)
            .collect();
        next[i] = common::argmax(session.prefill(&prompt).unwrap());
    }
    let mut sessions: Vec<&mut Session> = sessions.iter_mut().collect();
    let mut step = |next: &mut [u32; 3]| {
        let logits = decoder.decode(&mut sessions, &next[..]).unwrap();
        for (row, token) in next.iter_mut().enumerate() {
            *token = common::argmax(&logits[row * vocab..(row + 1) * vocab]);
        }
    };
    for _ in 0..4 {
        step(&mut next);
    }
    let ((), allocations) = counted(|| {
        for _ in 0..steps {
            step(&mut next);
        }
    });
    allocations
}

#[test]
fn steady_state_decode_allocates_zero_bytes() {
    assert_counter_works();

    let models = [
        ("tiny-llama", common::load("tiny-llama")),
        (
            "tiny-llama-bf16 (weights in place)",
            common::load("tiny-llama-bf16"),
        ),
        ("M-small", Arc::new(Preset::Small.model(42).unwrap())),
        ("M-medium", Arc::new(Preset::Medium.model(42).unwrap())),
    ];
    // Every session lives to the end, so no team shuts down (its exiting
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
    // Batched decoding of three sessions.
    let mut batches: Vec<_> = models
        .iter()
        .flat_map(|(name, model)| [1, 2].map(|t| (*name, t, started_batch(model, t))))
        .collect();
    for (name, threads, (sessions, decoder)) in &mut batches {
        let (allocs, bytes) = batch_allocations(sessions, decoder, 16);
        assert_eq!(
            (allocs, bytes),
            (0, 0),
            "{name}, {threads} threads: batched decode allocated {allocs} times, {bytes} bytes over 16 steps"
        );
    }
}
