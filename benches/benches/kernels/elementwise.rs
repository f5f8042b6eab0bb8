//! K-elt (add, mul, scale, axpy at 10 000 and 10 000 000 elements) and K-act (GELU in tanh
//! and erf form, SiLU at 1 K … 1 M), each group with its physical anchor: a plain copy
//! (`copy_from_slice`) of `n` f32 in the same group.
//!
//! Throughput is the bytes each operation must move, reads plus writes, so criterion's "B/s"
//! column compares kernels with the copy directly:
//! - `add`, `mul`: read 2·n, write n; `axpy` (`y ← α·x + y`): read 2·n, write n;
//! - `scale`, activations, copy: read n, write n.
//!
//! The largest size of each family is also measured at 2 threads (ours and the copy, which
//! then copies one half per thread).

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use smallmind_benches::{copy_anchor, uniform_vec};
use smallmind_kernels::activation::{gelu_erf, gelu_tanh, silu};
use smallmind_kernels::vector::{add, axpy, mul, scale};

use crate::common::{THREADS, approx_memory, configure, id, iter_on};

/// K-elt sizes, in elements.
const ELT_SIZES: [usize; 2] = [10_000, 10_000_000];
/// K-act sizes, in elements.
const ACT_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// Bytes moved by an operation touching `streams` arrays of `n` f32.
fn bytes(streams: usize, n: usize) -> Throughput {
    Throughput::Bytes((streams * n * size_of::<f32>()) as u64)
}

/// The thread counts a size is measured at: 1, plus 2 for the largest size.
fn threads_for(n: usize, largest: usize) -> &'static [usize] {
    if n == largest {
        &THREADS
    } else {
        &THREADS[..1]
    }
}

/// Three input streams, built on first use.
struct Inputs {
    a: Vec<f32>,
    b: Vec<f32>,
}

fn inputs(n: usize, lo: f32, hi: f32) -> Inputs {
    Inputs {
        a: uniform_vec(n, 31, lo, hi),
        b: uniform_vec(n, 32, lo, hi),
    }
}

/// Registers every K-elt benchmark.
pub(crate) fn bench_elt(c: &mut Criterion) {
    for n in ELT_SIZES {
        let mut group = c.benchmark_group(format!("elt/{n}"));
        configure(&mut group, approx_memory(3 * n * size_of::<f32>()));
        let data: OnceCell<Inputs> = OnceCell::new();
        let data = || data.get_or_init(|| inputs(n, -1.0, 1.0));
        for &threads in threads_for(n, ELT_SIZES[1]) {
            group.throughput(bytes(3, n));
            group.bench_function(id("add", threads), |bch| {
                let Inputs { a, b } = data();
                let mut out = vec![0.0f32; n];
                iter_on(bch, threads, || {
                    add(black_box(a), black_box(b), black_box(&mut out)).expect("add")
                });
            });
            group.bench_function(id("mul", threads), |bch| {
                let Inputs { a, b } = data();
                let mut out = vec![0.0f32; n];
                iter_on(bch, threads, || {
                    mul(black_box(a), black_box(b), black_box(&mut out)).expect("mul")
                });
            });
            group.bench_function(id("axpy", threads), |bch| {
                let Inputs { a, b } = data();
                let mut y = b.clone();
                // α = 1e-7 keeps y bounded over millions of iterations.
                iter_on(bch, threads, || {
                    axpy(black_box(1e-7), black_box(a), black_box(&mut y)).expect("axpy")
                });
            });
            group.throughput(bytes(2, n));
            group.bench_function(id("scale", threads), |bch| {
                let a = &data().a;
                let mut out = vec![0.0f32; n];
                iter_on(bch, threads, || {
                    scale(black_box(0.5), black_box(a), black_box(&mut out)).expect("scale")
                });
            });
            bench_copy(&mut group, threads, n, || &data().a);
        }
        group.finish();
    }
}

/// Registers every K-act benchmark.
pub(crate) fn bench_act(c: &mut Criterion) {
    for n in ACT_SIZES {
        let mut group = c.benchmark_group(format!("act/{n}"));
        configure(&mut group, approx_memory(2 * n * size_of::<f32>()));
        group.throughput(bytes(2, n));
        // Pre-activation values of a trained MLP sit mostly in a few units around 0.
        let x: OnceCell<Vec<f32>> = OnceCell::new();
        let x = || x.get_or_init(|| uniform_vec(n, 41, -6.0, 6.0));
        for &threads in threads_for(n, ACT_SIZES[3]) {
            type Act = fn(&[f32], &mut [f32]) -> Result<(), smallmind_kernels::KernelError>;
            let kernels: [(&str, Act); 3] = [
                ("gelu_tanh", gelu_tanh),
                ("gelu_erf", gelu_erf),
                ("silu", silu),
            ];
            for (name, kernel) in kernels {
                group.bench_function(id(name, threads), |b| {
                    let x = x();
                    let mut out = vec![0.0f32; n];
                    iter_on(b, threads, || {
                        kernel(black_box(x), black_box(&mut out)).expect(name)
                    });
                });
            }
            bench_copy(&mut group, threads, n, x);
        }
        group.finish();
    }
}

/// The copy anchor: `n` f32 from `src()` into a fresh buffer, on `threads` threads.
pub(crate) fn bench_copy<'a>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    threads: usize,
    n: usize,
    src: impl Fn() -> &'a Vec<f32>,
) {
    group.throughput(bytes(2, n));
    group.bench_function(id("copy", threads), |b| {
        let src = src();
        let mut dst = vec![0.0f32; n];
        iter_on(b, threads, || {
            copy_anchor(black_box(src), black_box(&mut dst))
        });
    });
}
