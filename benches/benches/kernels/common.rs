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

/// Settings for groups whose single call takes microseconds to a few milliseconds:
/// many short samples, about 1.5 s per benchmark.
pub(crate) fn quick(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(40)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200));
}

/// Settings for groups whose single call takes up to a few hundred milliseconds (large
/// GEMMs): ten equal samples (`SamplingMode::Flat`), so the slowest case costs about
/// `10 × call` instead of criterion's `55 × call` minimum in linear mode.
pub(crate) fn long(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
}
