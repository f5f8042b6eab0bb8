//! Criterion plumbing shared by the kernel bench modules: group settings, thread counts and
//! the measured loop.
//!
//! Every benchmark id reads `<family>/<shape>/<implementation>/<threads>t`, so criterion's
//! filter (`cargo bench --bench kernels -- gemm/512`) and the result folders under
//! `target/criterion/` line up with the workload tables of `WORKLOADS.md`.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, BenchmarkId, SamplingMode};
use smallmind_benches::{pool, time_in_pool};

/// Thread counts every workload is measured at when threads can matter.
pub(crate) const THREADS: [usize; 2] = [1, 2];

/// The id of one measurement: `<implementation>/<threads>t`.
pub(crate) fn id(implementation: &str, threads: usize) -> BenchmarkId {
    BenchmarkId::new(implementation, format!("{threads}t"))
}

/// Times `f` on a `threads`-thread rayon pool (see [`time_in_pool`]).
pub(crate) fn iter_on(b: &mut Bencher<'_>, threads: usize, mut f: impl FnMut() + Send) {
    let pool = pool(threads);
    b.iter_custom(|iters| time_in_pool(pool, iters, &mut f));
}

/// Rough single-thread rates used only to pick sampling settings (not reported anywhere).
const APPROX_FLOPS_PER_S: f64 = 80e9;
const APPROX_BYTES_PER_S: f64 = 20e9;

/// The rough duration of one call doing `flops` FLOPs.
pub(crate) fn approx_compute(flops: u64) -> Duration {
    Duration::from_secs_f64(flops as f64 / APPROX_FLOPS_PER_S)
}

/// The rough duration of one call moving `bytes` bytes through memory.
pub(crate) fn approx_memory(bytes: usize) -> Duration {
    Duration::from_secs_f64(bytes as f64 / APPROX_BYTES_PER_S)
}

/// Sampling settings for a group whose single call takes about `call`, so that every
/// benchmark costs roughly 1.5–2.5 s:
/// - under 0.5 ms: 40 samples, criterion's linear sampling (best statistics);
/// - up to 20 ms: 20 samples of equal length (`SamplingMode::Flat`);
/// - longer (large GEMMs): 10 equal samples, so the slowest case costs about `10 × call`
///   instead of linear mode's `55 × call` minimum.
pub(crate) fn configure(group: &mut BenchmarkGroup<'_, WallTime>, call: Duration) {
    let (samples, mode, warm_up, measure) = if call < Duration::from_micros(500) {
        (40, SamplingMode::Linear, 300, 1200)
    } else if call < Duration::from_millis(20) {
        (20, SamplingMode::Flat, 300, 1500)
    } else {
        (10, SamplingMode::Flat, 500, 1500)
    };
    group
        .sample_size(samples)
        .sampling_mode(mode)
        .warm_up_time(Duration::from_millis(warm_up))
        .measurement_time(Duration::from_millis(measure));
}
