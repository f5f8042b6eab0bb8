//! Wall-clock bench of one training step (forward + backward, the optimizer
//! excluded) of `smallmind_train::Gpt2Trainer` on the seeded presets:
//! `train/step/<m-small|m-medium>/<threads>t` at batch 8 and the preset's
//! full context, throughput in tokens (`B·T`) per second, each in its own
//! rayon pool of 1 and 2 threads.
//!
//! `cargo bench -p smallmind-benches --bench train` (filter e.g. `-- m-small`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use smallmind_model::preset::{PRESET_SEED, Preset, gpt2_random_tensors};
use smallmind_train::Gpt2Trainer;

/// Sequences per step.
const BATCH: usize = 8;

/// Deterministic token ids inside the vocabulary.
fn tokens(n: usize, vocab: usize, salt: u64) -> Vec<u32> {
    (0..n as u64)
        .map(|i| ((i * 2_654_435_761 + salt) % vocab as u64) as u32)
        .collect()
}

fn bench_preset(c: &mut Criterion, preset: Preset) {
    let config = preset.config();
    let context = config.max_position_embeddings;
    let params: Vec<f32> = gpt2_random_tensors(&config, PRESET_SEED)
        .expect("preset weights")
        .into_iter()
        .flat_map(|t| t.data)
        .collect();
    let n = BATCH * context;
    let inputs = tokens(n, config.vocab_size, 7);
    let targets = tokens(n, config.vocab_size, 11);
    let mut group = c.benchmark_group("train");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(n as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let mut trainer = pool
            .install(|| Gpt2Trainer::new(&config, BATCH, context))
            .expect("trainer");
        assert_eq!(trainer.layout().len(), params.len());
        let mut grads = vec![0.0; params.len()];
        group.bench_function(format!("step/{}/{threads}t", preset.name()), |b| {
            b.iter_custom(|iters| {
                pool.install(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let loss = trainer
                            .forward(&params, &inputs, &targets)
                            .expect("forward");
                        trainer
                            .backward(&params, &mut grads, 1.0)
                            .expect("backward");
                        black_box(loss);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for preset in [Preset::Small, Preset::Medium] {
        bench_preset(&mut c, preset);
    }
    c.final_summary();
}
