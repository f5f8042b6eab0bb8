//! K-gemv: f32 decode-shaped products `y (1, n) = x (1, k) · W`, at 1 and 2 threads.
//!
//! Shapes (1×K×N): 1×576×1536, 1×1536×576, 1×576×49152 (the 113 MB LM head of a 576-wide
//! model) and 1×768×3072. Two weight layouts: "nt", `W` stored `(n, k)` (HF linear weights,
//! `y = x·Wᵀ`), and "nn", `W` stored `(k, n)`.
//!
//! GEMV streams its weights once, so it is bound by memory (or cache) bandwidth. The anchor
//! is a plain read — a sum — of the same `n·k·4` bytes, at the same thread count. Throughput
//! is those weight bytes, so criterion's "B/s" column compares directly (FLOP/s is half the
//! byte rate: 2 FLOPs per 4-byte weight). The `gemm` crate is timed at 1 thread, layout "nt"
//! (with M = 1 it never uses a second thread).

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use smallmind_benches::{read_sum, uniform_vec};
use smallmind_kernels::gemm::Gemm;
use smallmind_kernels::gemv::gemv;

use crate::common::{THREADS, approx_memory, configure, id, iter_on};
use crate::gemm::{Layout, gemm_crate};

/// (k, n) of every K-gemv workload (m = 1).
const SHAPES: [(usize, usize); 4] = [(576, 1536), (1536, 576), (576, 49152), (768, 3072)];

/// Registers every K-gemv benchmark.
pub(crate) fn bench(c: &mut Criterion) {
    for (k, n) in SHAPES {
        bench_shape(c, k, n);
    }
}

fn bench_shape(c: &mut Criterion, k: usize, n: usize) {
    let mut group = c.benchmark_group(format!("gemv/1x{k}x{n}"));
    group.throughput(Throughput::Bytes((k * n * size_of::<f32>()) as u64));
    configure(&mut group, approx_memory(k * n * size_of::<f32>()));
    // The same weight bytes serve both layouts: only the interpretation differs.
    let inputs: OnceCell<(Vec<f32>, Vec<f32>)> = OnceCell::new();
    let inputs = || {
        inputs.get_or_init(|| {
            (
                uniform_vec(k, 21, -1.0, 1.0),
                uniform_vec(k * n, 22, -1.0, 1.0),
            )
        })
    };

    for threads in THREADS {
        for layout in [Layout::Nt, Layout::Nn] {
            let name = match layout {
                Layout::Nt => "smallmind-nt",
                Layout::Nn => "smallmind-nn",
            };
            group.bench_function(id(name, threads), |b| {
                let (x, w) = inputs();
                let mut y = vec![0.0f32; n];
                let spec = match layout {
                    Layout::Nn => Gemm::new(1, n, k),
                    Layout::Nt => Gemm::new(1, n, k).transpose_b(),
                };
                iter_on(b, threads, || {
                    gemv(&spec, black_box(x), black_box(w), black_box(&mut y))
                        .expect("smallmind gemv");
                });
            });
        }
        group.bench_function(id("read", threads), |b| {
            let (_, w) = inputs();
            iter_on(b, threads, || {
                black_box(read_sum(black_box(w)));
            });
        });
    }
    group.bench_function(id("gemm-crate-nt", 1), |b| {
        let (x, w) = inputs();
        let mut y = vec![0.0f32; n];
        iter_on(b, 1, || {
            gemm_crate(
                1,
                k,
                n,
                Layout::Nt,
                black_box(x),
                black_box(w),
                black_box(&mut y),
                gemm::Parallelism::None,
            );
        });
    });
    group.finish();
}
