//! Wall-clock benches of the model workloads of `WORKLOADS.md`, as llama-bench
//! measures them:
//! - `tg64`: from an empty cache, 64 decode steps (throughput in tokens/s);
//! - `pp128`: a 128-token prefill into an empty cache;
//! - `profile`: one run of the profile scenario (three sessions of a 10-token prompt and 50
//!   sampled tokens) through `smallmind_model::workload`, the very code `smallmind profile`
//!   times, on M-small and M-medium at the default thread count: its time per iteration is
//!   that report's "scenario run".
//!
//! Models: the seeded presets M-small, M-medium (1 thread) and M-gpt2 (1 and
//! 2 threads), and every Hugging Face directory listed, comma-separated, in
//! `SMALLMIND_BENCH_MODELS` (e.g. f32 and bf16 copies of
//! SmolLM2-135M-Instruct), at 1 and 2 threads, named after the directory.
//! Every measured loop runs inside the session's pool.
//!
//! `cargo bench -p smallmind-benches --bench model` (filter e.g. `-- m-small`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use smallmind_model::preset::{PRESET_SEED, Preset};
use smallmind_model::workload::{Scenario, Workload};
use smallmind_model::{Model, Session, SessionOptions, loader};

const TG: usize = 64;
const PP: usize = 128;

fn session(model: &Arc<Model>, threads: usize) -> Session {
    let options = SessionOptions {
        threads: Some(threads),
        ..SessionOptions::default()
    };
    Session::new(Arc::clone(model), &options).expect("session")
}

/// Deterministic token ids inside the vocabulary.
fn tokens(model: &Model, n: usize) -> Vec<u32> {
    let vocab = model.config().vocab_size as u64;
    (0..n as u64)
        .map(|i| ((i * 2_654_435_761 + 7) % vocab) as u32)
        .collect()
}

/// Times `iters` runs of `work` inside the session's pool.
fn timed(s: &mut Session, iters: u64, work: impl Fn(&mut Session) + Send + Sync) -> Duration {
    s.install(|s| {
        let start = Instant::now();
        for _ in 0..iters {
            work(s);
        }
        start.elapsed()
    })
}

fn bench_model(c: &mut Criterion, name: &str, model: &Arc<Model>, threads: &[usize]) {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    let ctx = model.config().max_position_embeddings;
    for &t in threads {
        let mut s = session(model, t);
        let decode_tokens = tokens(model, TG.min(ctx));
        group.throughput(Throughput::Elements(decode_tokens.len() as u64));
        group.bench_function(format!("tg{}/{t}t", decode_tokens.len()), |b| {
            b.iter_custom(|iters| {
                timed(&mut s, iters, |s| {
                    s.reset();
                    for &tok in &decode_tokens {
                        black_box(s.decode(tok).expect("decode"));
                    }
                })
            })
        });
        if ctx >= PP {
            let prompt = tokens(model, PP);
            group.throughput(Throughput::Elements(PP as u64));
            group.bench_function(format!("pp{PP}/{t}t"), |b| {
                b.iter_custom(|iters| {
                    timed(&mut s, iters, |s| {
                        s.reset();
                        black_box(s.prefill(&prompt).expect("prefill"));
                    })
                })
            });
        }
    }
    group.finish();
}

/// The profile scenario, as `smallmind profile` runs it (default threads).
fn bench_profile_scenario(c: &mut Criterion, preset: Preset) {
    let model = Arc::new(preset.model(PRESET_SEED).expect("preset"));
    let mut s = Session::new(Arc::clone(&model), &SessionOptions::default()).expect("session");
    let mut workload = Workload::new(Scenario::Profile, model.config()).expect("workload");
    let mut group = c.benchmark_group(format!("profile/{}", preset.name()));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function(format!("{}t", s.threads()), |b| {
        b.iter(|| black_box(workload.run(&mut s, &mut ()).expect("scenario")))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for preset in [Preset::Small, Preset::Medium] {
        bench_profile_scenario(&mut c, preset);
    }
    eprintln!(
        "smallmind model benches: SIMD path {}",
        smallmind_kernels::active_path()
    );
    let presets = [
        (Preset::Small, &[1][..]),
        (Preset::Medium, &[1][..]),
        (Preset::Gpt2, &[1, 2][..]),
    ];
    for (preset, threads) in presets {
        let model = Arc::new(preset.model(PRESET_SEED).expect("preset"));
        bench_model(&mut c, preset.name(), &model, threads);
    }
    let dirs = std::env::var("SMALLMIND_BENCH_MODELS").unwrap_or_default();
    for dir in dirs.split(',').filter(|d| !d.is_empty()) {
        let model = Arc::new(loader::load_dir(dir).expect("SMALLMIND_BENCH_MODELS entry loads"));
        let name = std::path::Path::new(dir)
            .file_name()
            .map_or(dir.into(), |n| n.to_string_lossy());
        bench_model(&mut c, &name, &model, &[1, 2]);
    }
    c.final_summary();
}
