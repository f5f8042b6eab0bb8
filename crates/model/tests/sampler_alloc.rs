//! Proves that sampling allocates nothing on the heap once the sampler exists.
//!
//! A counting global allocator wraps the system allocator. Each configuration
//! samples once to warm up, then samples again inside a counted region over a
//! SmolLM2-sized vocabulary; the region must see zero allocations and zero
//! bytes. The configurations cover every pipeline path: greedy, plain
//! temperature, top-k, top-p without top-k (the chunked partial sort), min-p,
//! the repetition penalty and `+inf` logits.
//!
//! Sampling runs on the calling thread, so only that thread's allocations are
//! counted (`smallmind_telemetry`'s per-thread counters): whatever the test
//! harness's other threads allocate meanwhile cannot make the test flaky.

use smallmind_model::sampler::{Sampler, SamplerConfig};
use smallmind_telemetry::alloc::{AllocCounts, CountingAllocator};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const VOCAB: usize = 49_152;

/// Runs `f` twice (warm-up, then counted) and returns the allocations and
/// bytes the counted run made on this thread.
fn allocations_of(mut f: impl FnMut()) -> (u64, u64) {
    f();
    let before = AllocCounts::this_thread();
    f();
    let made = AllocCounts::this_thread().since(before);
    (made.count, made.bytes)
}

/// Deterministic logits in `[-6, 6)` (a 64-bit LCG's top bits).
fn logits(seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..VOCAB)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 12.0 - 6.0
        })
        .collect()
}

fn configs() -> Vec<(&'static str, SamplerConfig)> {
    let base = SamplerConfig::default;
    vec![
        ("greedy", SamplerConfig::greedy()),
        (
            "temperature",
            SamplerConfig {
                temperature: 0.8,
                ..base()
            },
        ),
        (
            "top_k",
            SamplerConfig {
                top_k: 40,
                ..base()
            },
        ),
        (
            "top_p",
            SamplerConfig {
                top_p: 0.9,
                ..base()
            },
        ),
        (
            "min_p",
            SamplerConfig {
                min_p: 0.05,
                ..base()
            },
        ),
        (
            "everything",
            SamplerConfig {
                temperature: 0.8,
                top_k: 40,
                top_p: 0.95,
                min_p: 0.05,
                repetition_penalty: 1.1,
                ..base()
            },
        ),
    ]
}

#[test]
fn sampling_allocates_nothing() {
    let probe = allocations_of(|| drop(std::hint::black_box(vec![0u8; 64])));
    assert_eq!(probe, (1, 64), "the counter must see a known allocation");
    let plain = logits(1);
    let mut with_inf = logits(2);
    with_inf[100] = f32::INFINITY;
    with_inf[200] = f32::INFINITY;
    let recent: Vec<u32> = (0..64).map(|i| i * 701 % VOCAB as u32).collect();
    for (name, config) in configs() {
        let mut sampler = Sampler::new(config, VOCAB).unwrap();
        for row in [&plain, &with_inf] {
            let counted = allocations_of(|| {
                for _ in 0..4 {
                    sampler.sample(row, &recent).unwrap();
                }
                assert!(sampler.filter(row, &recent).unwrap().len() > 0);
                sampler.reset();
            });
            assert_eq!(
                counted,
                (0, 0),
                "{name}: (allocations, bytes) while sampling"
            );
        }
    }
}
