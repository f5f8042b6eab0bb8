//! Shared helpers for the kernel conformance suites.
//!
//! Each suite (`tests/<family>.rs`) declares its own named tolerance constants
//! and uses these helpers to run every case on every SIMD path this CPU has.

#![allow(dead_code, unreachable_pub)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use smallmind_kernels::quant::with_narrow_vnni;
use smallmind_kernels::{SimdPath, available_paths, with_path};
use smallmind_testkit::{Worst, max_rel_diff};

/// The lengths every elementwise/reduction suite covers: 0, 1, each path's
/// SIMD width ± 1, the 63/64/65 block edges, and one large size.
pub fn edge_lengths() -> Vec<usize> {
    let mut lens = vec![
        0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000,
        100_003,
    ];
    lens.sort_unstable();
    lens.dedup();
    lens
}

/// Runs `case` once per available SIMD path, with that path forced.
pub fn for_each_path(mut case: impl FnMut(SimdPath)) {
    for path in available_paths() {
        with_path(path, || case(path)).expect("available path");
    }
}

/// Runs `case` once per available SIMD path (named by the path); on V4 also
/// with the quantized kernels held to 256-bit VNNI (`"v4-narrow"`, the code
/// CPUs without AVX-512 VBMI run).
pub fn for_each_quant_path(mut case: impl FnMut(String)) {
    for_each_path(|path| {
        case(path.to_string());
        if path == SimdPath::V4 {
            with_narrow_vnni(|| case(format!("{path}-narrow")));
        }
    });
}

/// A deterministic pseudo-random f32 in [-1, 1) from a 64-bit state (xorshift*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        (bits as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vec(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.next_f32() * scale).collect()
    }
}

/// `|a − b| / max(1, |b|)` (testkit's [`max_rel_diff`] with floor 1), after asserting that
/// `actual` is NaN exactly where `expected` is. Only for the tests that feed NaN on purpose
/// and check it propagates to the same elements: elsewhere a NaN on either side must fail,
/// so they use [`max_rel_diff`] directly.
pub fn rel_err_with_matching_nans(actual: &[f32], expected: &[f32], what: &str) -> Worst {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(
            a.is_nan(),
            e.is_nan(),
            "{what}: NaN pattern at {i}: {a} vs {e}"
        );
    }
    let finite = |v: &[f32]| -> Vec<f32> {
        v.iter()
            .zip(expected)
            .map(|(&x, e)| if e.is_nan() { 0.0 } else { x })
            .collect()
    };
    max_rel_diff(&finite(actual), &finite(expected), 1.0)
}

/// Largest `|a − b| / |b|` over entries with `|b| ≥ 1e-30`: strict relative error of
/// results that may be tiny (below 1e-30 they may flush to zero, an absolute error under
/// 1e-30). A NaN on either side still fails.
pub fn max_strict_rel_err(actual: &[f32], expected: &[f32]) -> Worst {
    let (a, b): (Vec<f32>, Vec<f32>) = actual
        .iter()
        .zip(expected)
        .filter(|(_, b)| b.is_nan() || b.abs() >= 1e-30)
        .unzip();
    max_rel_diff(&a, &b, 0.0)
}

/// Reads one f32 tensor from the PyTorch fixture file, with its shape.
pub fn fixture(name: &str) -> (Vec<f32>, Vec<usize>) {
    let path = smallmind_testkit::fixture("kernels/kernels.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let view = tensors
        .tensor(name)
        .unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name} must be f32");
    let data = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (data, view.shape().to_vec())
}

// ---------------------------------------------------------------------------
// Counting allocator, for the no-allocation tests. A suite installs it with
// `#[global_allocator] static GLOBAL: common::CountingAllocator =
// common::CountingAllocator;`. It counts the allocations of flagged threads
// only while counting is on, so the other tests of the binary, running
// concurrently on unflagged threads, do not disturb it.

/// Wraps the system allocator, counting as above.
pub struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static FLAGGED: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.load(Ordering::Relaxed) && FLAGGED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: defers every call to `System`, only adding counter updates (the
// thread-local is a const-initialised `Cell<bool>`, which never allocates).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The allocations flagged threads make while `f` runs.
fn counted(f: impl FnOnce()) -> usize {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// A two-worker pool whose workers are flagged for [`CountingAllocator`],
/// checked to count a known allocation (or a zero would prove nothing).
pub fn counted_pool() -> rayon::ThreadPool {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| FLAGGED.with(|f| f.set(true)))
        .build()
        .unwrap();
    // `build` does not wait for the workers: one that starts late registers with
    // crossbeam-epoch, which allocates, possibly inside the counting window. Run a job on
    // every worker first, so all of them have started, registered and been flagged.
    pool.broadcast(|_| FLAGGED.with(|f| f.set(true)));
    let probe =
        pool.install(|| counted(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))));
    assert!(
        probe >= 1,
        "the counting allocator missed a known allocation"
    );
    pool
}

/// The allocations of one `call` on a [`counted_pool`], after three
/// warm-up calls (a worker that stole no work in one may take some in the
/// next).
pub fn allocations_after_warm_up(pool: &rayon::ThreadPool, mut call: impl FnMut() + Send) -> usize {
    pool.install(|| {
        for _ in 0..3 {
            call();
        }
        counted(call)
    })
}
