//! K-gemv with 16-bit weights: `y (n) = W (n, k) · x (k)` with `W` in bf16 or f16, widened in
//! place (`gemv_bf16`, `gemv_f16`), against the alternative of converting `W` to f32 once at
//! load and running the f32 GEMV (`gemm` with m = 1, `W` transposed), at 1 and 2 threads.
//!
//! Shapes (1×K×N) are those of K-gemv: 1×576×1536, 1×1536×576, 1×576×49152 and 1×768×3072.
//! All implementations read the same weight values; the f32 GEMV reads twice the bytes. Two
//! anchors at the same thread count: a plain read of `n·k·4` bytes (`read-f32`, the f32
//! GEMV's floor) and of `n·k·2` bytes (`read-half`, the 16-bit kernels' floor). Throughput is
//! in weights (`elem/s`), so every line of a group compares directly.

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use smallmind_benches::{read_sum, uniform_vec};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::gemv_half::{bf16, f16, gemv_bf16, gemv_f16};

use crate::common::{THREADS, approx_memory, configure, id, iter_on};

/// (k, n) of every K-gemv workload (m = 1).
const SHAPES: [(usize, usize); 4] = [(576, 1536), (1536, 576), (576, 49152), (768, 3072)];

/// The weights of one shape in every precision, built on first use.
struct Inputs {
    x: Vec<f32>,
    w_f32: Vec<f32>,
    w_bf16: Vec<bf16>,
    w_f16: Vec<f16>,
    /// `n·k/2` floats: the byte count of the 16-bit weights, for the read anchor.
    half_bytes: Vec<f32>,
}

/// Registers every 16-bit K-gemv benchmark.
pub(crate) fn bench(c: &mut Criterion) {
    for (k, n) in SHAPES {
        bench_shape(c, k, n);
    }
}

fn bench_shape(c: &mut Criterion, k: usize, n: usize) {
    let mut group = c.benchmark_group(format!("gemv_half/1x{k}x{n}"));
    group.throughput(Throughput::Elements((k * n) as u64));
    configure(&mut group, approx_memory(k * n * size_of::<f32>()));
    let inputs: OnceCell<Inputs> = OnceCell::new();
    let inputs = || {
        inputs.get_or_init(|| {
            // Weights at f16/bf16 precision, so f32 and 16-bit kernels see equal values.
            let w_f32: Vec<f32> = uniform_vec(k * n, 32, -1.0, 1.0)
                .into_iter()
                .map(|v| bf16::from_f32(v).to_f32())
                .collect();
            Inputs {
                x: uniform_vec(k, 31, -1.0, 1.0),
                w_bf16: w_f32.iter().map(|&v| bf16::from_f32(v)).collect(),
                w_f16: w_f32.iter().map(|&v| f16::from_f32(v)).collect(),
                half_bytes: uniform_vec(k * n / 2, 33, -1.0, 1.0),
                w_f32,
            }
        })
    };
    let spec = Gemm::new(1, n, k).transpose_b();

    for threads in THREADS {
        group.bench_function(id("f32-converted-at-load", threads), |b| {
            let inp = inputs();
            let mut y = vec![0.0f32; n];
            iter_on(b, threads, || {
                gemm(
                    &spec,
                    black_box(&inp.x),
                    black_box(&inp.w_f32),
                    black_box(&mut y),
                )
                .expect("smallmind gemv");
            });
        });
        group.bench_function(id("bf16-in-place", threads), |b| {
            let inp = inputs();
            let (mut y, mut split) = (vec![0.0f32; n], vec![0.0f32; k]);
            iter_on(b, threads, || {
                gemv_bf16(
                    black_box(&inp.x),
                    black_box(&inp.w_bf16),
                    n,
                    k,
                    &mut split,
                    &mut y,
                )
                .expect("gemv_bf16");
                black_box(&mut y);
            });
        });
        group.bench_function(id("f16-in-place", threads), |b| {
            let inp = inputs();
            let (mut y, mut split) = (vec![0.0f32; n], vec![0.0f32; k]);
            iter_on(b, threads, || {
                gemv_f16(
                    black_box(&inp.x),
                    black_box(&inp.w_f16),
                    n,
                    k,
                    &mut split,
                    &mut y,
                )
                .expect("gemv_f16");
                black_box(&mut y);
            });
        });
        group.bench_function(id("read-f32", threads), |b| {
            let inp = inputs();
            iter_on(b, threads, || {
                black_box(read_sum(black_box(&inp.w_f32)));
            });
        });
        group.bench_function(id("read-half", threads), |b| {
            let inp = inputs();
            iter_on(b, threads, || {
                black_box(read_sum(black_box(&inp.half_bytes)));
            });
        });
    }
    group.finish();
}
