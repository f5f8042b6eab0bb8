//! # smallmind-benches — benchmark support
//!
//! Small helpers shared by the criterion wall-clock benches (`benches/kernels/`) and the
//! gungraun instruction-count benches (`benches/kernels_icount.rs`):
//! - deterministic, seeded input generators ([`Rng`], [`uniform_vec`]), so every run and
//!   every implementation sees the same bytes;
//! - FLOP counting and GFLOP/s conversion ([`gemm_flops`], [`gflops`]);
//! - fixed-size rayon pools ([`pool`]) and a timer that runs the measured loop inside one
//!   ([`time_in_pool`]), so "1 thread" and "2 threads" mean what they say for every
//!   implementation that uses the current rayon pool;
//! - the physical anchors elementwise and memory-bound kernels are compared with: a plain
//!   read ([`read_sum`]) and a plain copy ([`copy_anchor`]) of the same bytes;
//! - the conventions of the instruction-count benches ([`icount`]): the SIMD path they
//!   force and the checks that keep their counts meaningful.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon::ThreadPool;
use rayon::prelude::*;

/// SplitMix64: a tiny, fast, well-mixed 64-bit generator (Steele, Lea, Flood 2014).
///
/// Only used to make bench inputs reproducible; not for statistics.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform f32 in `[lo, hi)`, from the top 24 bits (every value exactly representable).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

/// `len` values uniform in `[lo, hi)`, reproducible from `seed`.
pub fn uniform_vec(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.uniform(lo, hi)).collect()
}

/// Floating-point operations of an `(m, k) · (k, n)` matrix product: one multiply and one
/// add per inner-product term, `2·m·n·k`.
pub fn gemm_flops(m: usize, n: usize, k: usize) -> u64 {
    2 * m as u64 * n as u64 * k as u64
}

/// GFLOP/s achieved by `flops` operations in `elapsed`.
pub fn gflops(flops: u64, elapsed: Duration) -> f64 {
    flops as f64 / elapsed.as_secs_f64() / 1e9
}

/// Largest thread count [`pool`] will build.
pub const MAX_POOL_THREADS: usize = 8;

/// A rayon pool with exactly `threads` worker threads, built on first use and kept for the
/// life of the process (one per thread count).
///
/// # Panics
/// If `threads` is 0 or above [`MAX_POOL_THREADS`], or the OS refuses to spawn threads.
pub fn pool(threads: usize) -> &'static ThreadPool {
    static POOLS: [OnceLock<ThreadPool>; MAX_POOL_THREADS] =
        [const { OnceLock::new() }; MAX_POOL_THREADS];
    assert!(
        (1..=MAX_POOL_THREADS).contains(&threads),
        "pool: {threads} threads is outside 1..={MAX_POOL_THREADS}"
    );
    POOLS[threads - 1].get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("bench-t{threads}-{i}"))
            .build()
            .expect("building a rayon pool for the benches")
    })
}

/// Runs `f` `iters` times on a worker of `pool` and returns the elapsed time of the loop.
///
/// The whole loop runs inside one `pool.install`, so the hop onto the pool is paid once per
/// sample, not per call, and any rayon work `f` spawns uses this pool. Made for criterion's
/// `Bencher::iter_custom`.
pub fn time_in_pool(pool: &ThreadPool, iters: u64, mut f: impl FnMut() + Send) -> Duration {
    pool.install(|| {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    })
}

/// Lanes summed side by side in [`read_sum`]: enough independent add chains to keep two
/// loads per cycle busy even with 128-bit SSE (the portable baseline this crate compiles
/// for), so the anchor is bound by memory, not by add latency.
const READ_LANES: usize = 32;

/// Plain read of `data`: the sum of its values, as a bandwidth anchor for memory-bound
/// kernels (GEMV streams its weight matrix once, exactly like this).
///
/// Uses the current rayon pool: the slice is split into one contiguous part per thread.
pub fn read_sum(data: &[f32]) -> f32 {
    let threads = rayon::current_num_threads().max(1);
    if threads == 1 {
        return read_sum_serial(data);
    }
    let part = data.len().div_ceil(threads).max(1);
    data.par_chunks(part).map(read_sum_serial).sum()
}

fn read_sum_serial(data: &[f32]) -> f32 {
    let mut acc = [0.0f32; READ_LANES];
    let chunks = data.chunks_exact(READ_LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Plain copy of `src` into `dst` (`copy_from_slice`, i.e. the platform `memcpy`), as the
/// anchor for elementwise kernels.
///
/// Uses the current rayon pool: with more than one thread, each copies one contiguous part.
///
/// # Panics
/// If the lengths differ.
pub fn copy_anchor(src: &[f32], dst: &mut [f32]) {
    let threads = rayon::current_num_threads().max(1);
    if threads == 1 {
        dst.copy_from_slice(src);
        return;
    }
    let part = src.len().div_ceil(threads).max(1);
    dst.par_chunks_mut(part)
        .zip(src.par_chunks(part))
        .for_each(|(d, s)| d.copy_from_slice(s));
    black_box(dst);
}

/// Conventions shared by the gungraun instruction-count benches (`benches/*_icount.rs`).
///
/// Valgrind cannot execute AVX-512, so every count is taken on the AVX2+FMA path
/// ([`icount::PATH`], also set process-wide through `SMALLMIND_SIMD=v3` in each bench's
/// `main!` config). Callgrind only counts the threads the benchmark toggles on, so the
/// kernel and op benches run with `RAYON_NUM_THREADS=1` and check it ([`icount::assert_serial`]).
pub mod icount {
    use smallmind_kernels::{SimdPath, active_path, with_path};

    /// The path every instruction-count bench runs: the best one valgrind can execute.
    pub const PATH: SimdPath = SimdPath::V3;

    /// The value of `SMALLMIND_SIMD` the benches set, naming [`PATH`].
    pub const PATH_ENV: &str = "v3";

    /// Runs `f` with [`PATH`] forced on the calling thread.
    ///
    /// # Panics
    /// If the machine (or valgrind's virtual CPU) lacks AVX2+FMA.
    pub fn on_path<R>(f: impl FnOnce() -> R) -> R {
        with_path(PATH, f).expect("valgrind exposes AVX2+FMA (SimdPath::V3)")
    }

    /// Checks that the process-wide default path is [`PATH`], i.e. that `SMALLMIND_SIMD`
    /// reached the benchmark process: code on threads other than the caller's (a session's
    /// pool) does not see a [`with_path`] override.
    ///
    /// # Panics
    /// If another path is active.
    pub fn assert_default_path() {
        assert_eq!(
            active_path(),
            PATH,
            "icount benches need SMALLMIND_SIMD={PATH_ENV} in their environment"
        );
    }

    /// Checks that kernels and ops will stay on the calling thread: they split work across
    /// rayon only when `rayon::current_num_threads() > 1`, and the benches set
    /// `RAYON_NUM_THREADS=1`. Work moved to a pool thread would silently vanish from the
    /// counts.
    ///
    /// # Panics
    /// If the current rayon pool has more than one thread.
    pub fn assert_serial() {
        assert_eq!(
            rayon::current_num_threads(),
            1,
            "icount benches must run single-threaded (RAYON_NUM_THREADS=1)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_reproducible_and_in_range() {
        let a = uniform_vec(1000, 7, -2.0, 3.0);
        assert_eq!(a, uniform_vec(1000, 7, -2.0, 3.0));
        assert_ne!(a, uniform_vec(1000, 8, -2.0, 3.0));
        assert!(a.iter().all(|&x| (-2.0..3.0).contains(&x)));
    }

    #[test]
    fn anchors_compute_what_they_claim() {
        let data = uniform_vec(1001, 1, -1.0, 1.0);
        let expected: f64 = data.iter().map(|&x| f64::from(x)).sum();
        for threads in [1, 2] {
            let got = pool(threads).install(|| read_sum(&data));
            assert!(
                (f64::from(got) - expected).abs() < 1e-3,
                "{threads} threads"
            );
            let mut out = vec![0.0; data.len()];
            pool(threads).install(|| copy_anchor(&data, &mut out));
            assert_eq!(out, data);
        }
    }

    #[test]
    fn flop_helpers() {
        assert_eq!(gemm_flops(2, 3, 4), 48);
        assert!((gflops(2_000_000_000, Duration::from_secs(2)) - 1.0).abs() < 1e-12);
    }
}
