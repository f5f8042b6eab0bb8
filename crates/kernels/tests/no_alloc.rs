//! Proves that the kernels allocate nothing on the heap.
//!
//! A counting global allocator wraps the system allocator. Each kernel is called
//! once to warm up (GEMM's per-thread packing buffers are allocated on a
//! thread's first call, by design), then called again inside a counted region
//! on every available SIMD path and at both the sequential and the parallel
//! sizes; the region must see zero allocations.
//!
//! This file holds a single `#[test]` so no other test allocates concurrently.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::gemv::gemv;
use smallmind_kernels::gemv_half::{bf16, f16, gemv_bf16, gemv_f16};
use smallmind_kernels::{SimdPath, activation, convert, math, norm, softmax, vector, with_path};

struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to `System`, only adding relaxed counter updates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Warm-up runs before the counted one: a pool worker that stole no GEMM work
/// in one run allocates its packing buffers on its first call in the next, so
/// one warm-up is not always enough under load.
const WARM_UPS: usize = 3;

/// Runs `f` [`WARM_UPS`] times, then once counted, and returns the allocations
/// the counted run made.
fn allocations_of(mut f: impl FnMut()) -> usize {
    for _ in 0..WARM_UPS {
        f();
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// Calls every kernel once on buffers of `len` elements (rows of `row_len`).
fn run_every_kernel(len: usize, row_len: usize) {
    let mut rng = common::Rng::new(len as u64);
    let a = rng.vec(len, 1.0);
    let b = rng.vec(len, 1.0);
    let gamma = rng.vec(row_len, 1.0);
    let beta = rng.vec(row_len, 1.0);
    let mut out = vec![0.0f32; len];
    let mut halfs = vec![half::f16::ZERO; len];
    let mut bhalfs = vec![half::bf16::ZERO; len];
    let head_dim = 64;
    let n_pos = len / head_dim;
    let mut cos = vec![0.0f32; n_pos * head_dim / 2];
    let mut sin = vec![0.0f32; n_pos * head_dim / 2];
    smallmind_kernels::rope::rope_tables(10_000.0, head_dim, 0..n_pos, &mut cos, &mut sin).unwrap();

    let count = allocations_of(|| {
        vector::add(&a, &b, &mut out).unwrap();
        vector::mul(&a, &b, &mut out).unwrap();
        vector::scale(0.5, &a, &mut out).unwrap();
        vector::scale_inplace(0.5, &mut out);
        vector::axpy(0.5, &a, &mut out).unwrap();
        vector::add_inplace(&mut out, &a).unwrap();
        vector::mul_inplace(&mut out, &b).unwrap();
        std::hint::black_box(vector::dot(&a, &b).unwrap());
        std::hint::black_box(vector::sum(&a));
        std::hint::black_box(vector::max(&a));
        math::exp(&a, &mut out).unwrap();
        math::tanh(&a, &mut out).unwrap();
        math::erf(&a, &mut out).unwrap();
        activation::gelu_tanh(&a, &mut out).unwrap();
        activation::gelu_erf(&a, &mut out).unwrap();
        activation::silu(&a, &mut out).unwrap();
        activation::gelu_tanh_inplace(&mut out);
        activation::gelu_erf_inplace(&mut out);
        activation::silu_inplace(&mut out);
        out.copy_from_slice(&a);
        softmax::softmax_rows_inplace(&mut out, row_len, None).unwrap();
        softmax::softmax_rows_inplace(&mut out, row_len, Some(3)).unwrap();
        softmax::softmax_row_inplace(&mut out[..row_len], row_len / 2).unwrap();
        norm::layer_norm_rows(&a, &gamma, &beta, 1e-5, &mut out).unwrap();
        norm::rms_norm_rows(&a, &gamma, 1e-6, &mut out).unwrap();
        smallmind_kernels::rope::rope_rotate_half_inplace(&mut out, 1, head_dim, &cos, &sin)
            .unwrap();
        smallmind_kernels::rope::rope_interleaved_inplace(&mut out, 1, head_dim, &cos, &sin)
            .unwrap();
        convert::f32_to_f16(&a, &mut halfs).unwrap();
        convert::f16_to_f32(&halfs, &mut out).unwrap();
        convert::f32_to_bf16(&a, &mut bhalfs).unwrap();
        convert::bf16_to_f32(&bhalfs, &mut out).unwrap();
    });
    assert_eq!(count, 0, "kernels allocated {count} times at len {len}");
}

/// Calls GEMM (plain and both transposes) and GEMV (f32 weights both ways, bf16
/// and f16 weights) on (n, n, n) and (1, k, n)
/// problems.
fn run_gemm_and_gemv(n: usize, k: usize) {
    let mut rng = common::Rng::new(n as u64);
    let a = rng.vec(n * n, 1.0);
    let b = rng.vec(n * n, 1.0);
    let mut c = vec![0.0f32; n * n];
    let x = rng.vec(k, 1.0);
    let w = rng.vec(k * n, 1.0);
    let mut y = vec![0.0f32; n];
    let w_bf16: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let w_f16: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let mut x_split = vec![0.0f32; k];
    let square = Gemm::new(n, n, n);
    let count = allocations_of(|| {
        gemm(&square, &a, &b, &mut c).unwrap();
        gemm(&square.transpose_b().beta(1.0), &a, &b, &mut c).unwrap();
        gemm(&square.transpose_a().alpha(0.5), &a, &b, &mut c).unwrap();
        gemv(&Gemm::new(1, n, k), &x, &w, &mut y).unwrap();
        gemv(&Gemm::new(1, n, k).transpose_b(), &x, &w, &mut y).unwrap();
        gemv_bf16(&x, &w_bf16, n, k, &mut x_split, &mut y).unwrap();
        gemv_f16(&x, &w_f16, n, k, &mut x_split, &mut y).unwrap();
    });
    assert_eq!(
        count, 0,
        "gemm/gemv allocated {count} times at n {n}, k {k}"
    );
}

#[test]
fn kernels_never_allocate() {
    // Sizes below and far above every parallel threshold; the parallel cases
    // run inside a two-thread pool so rayon splits them across workers.
    // The counter itself must see an allocation, or this test proves nothing.
    let probe = allocations_of(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8))));
    assert_eq!(probe, 1, "the counting allocator missed a known allocation");

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // `build` does not wait for the workers: one that starts late registers with
    // crossbeam-epoch, which allocates, possibly inside a counting window. Run a job on every
    // worker first, so all of them have started.
    pool.broadcast(|_| ());
    let team = smallmind_kernels::Team::new(2, "no-alloc").unwrap();
    team.run(&|_| ());
    for path in smallmind_kernels::available_paths() {
        with_path(path, || {
            run_every_kernel(1024, 64);
            run_gemm_and_gemv(64, 576);
        })
        .unwrap();
        // The override is per thread: set it on the pool's worker, where the
        // kernels are called and dispatch.
        pool.install(|| {
            with_path(path, || {
                run_every_kernel(1 << 21, 512);
                // Scalar GEMM is slow: keep it small, yet above the direct path.
                run_gemm_and_gemv(if path == SimdPath::Scalar { 160 } else { 700 }, 4096);
            })
        })
        .unwrap();
        // The same on a persistent team: entering its regions allocates
        // nothing either (only the team's start did, above the loop).
        with_path(path, || {
            team.install(|| {
                run_every_kernel(1 << 21, 512);
                run_gemm_and_gemv(if path == SimdPath::Scalar { 160 } else { 700 }, 4096);
            });
        })
        .unwrap();
    }
    let sum = std::sync::atomic::AtomicUsize::new(0);
    let region = |w: smallmind_kernels::team::Worker<'_>| {
        w.barrier();
        sum.fetch_add(w.index() + 1, Ordering::Relaxed);
    };
    let count = allocations_of(|| {
        for _ in 0..100 {
            team.run(&region);
        }
    });
    assert_eq!(count, 0, "team regions allocated {count} times");
}
