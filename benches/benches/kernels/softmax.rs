//! K-softmax: row softmax in place, over one row of 256, 1024 or 2048 logits and over a
//! 1000×1000 matrix, each with and without a causal valid length, next to the copy anchor
//! (`n` f32 copied, the same bytes the softmax reads and writes back).
//!
//! - one row, "causal": only the first half of the row is valid (a query halfway through
//!   its context); the rest is written as zeros;
//! - matrix, "causal": row `i` has `i + 1` valid entries (causal offset 0), the shape of a
//!   square attention-score matrix.
//!
//! The kernels work in place, so every iteration re-normalises the previous output. Its
//! values stay in [0, 1], so the work per call does not change from one call to the next.
//! The matrix is also measured at 2 threads.

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use smallmind_benches::uniform_vec;
use smallmind_kernels::softmax::{softmax_row_inplace, softmax_rows_inplace};

use crate::common::{THREADS, approx_memory, configure, id, iter_on};
use crate::elementwise::bench_copy;

/// Row lengths of the one-row workloads.
const ROW_LENS: [usize; 3] = [256, 1024, 2048];
/// Side of the square matrix workload.
const MATRIX_SIDE: usize = 1000;

/// Attention logits: a spread of a few units, as after the 1/√d scaling.
fn logits(n: usize) -> Vec<f32> {
    uniform_vec(n, 51, -8.0, 8.0)
}

/// Registers every K-softmax benchmark.
pub(crate) fn bench(c: &mut Criterion) {
    for len in ROW_LENS {
        let mut group = c.benchmark_group(format!("softmax/row{len}"));
        configure(&mut group, approx_memory(2 * len * size_of::<f32>()));
        group.throughput(Throughput::Bytes((2 * len * size_of::<f32>()) as u64));
        let x: OnceCell<Vec<f32>> = OnceCell::new();
        let x = || x.get_or_init(|| logits(len));
        for (name, valid) in [("full", len), ("causal", len / 2)] {
            group.bench_function(id(name, 1), |b| {
                let mut row = x().clone();
                iter_on(b, 1, || {
                    softmax_row_inplace(black_box(&mut row), black_box(valid)).expect("softmax row")
                });
            });
        }
        bench_copy(&mut group, 1, len, x);
        group.finish();
    }

    let n = MATRIX_SIDE * MATRIX_SIDE;
    let mut group = c.benchmark_group(format!("softmax/{MATRIX_SIDE}x{MATRIX_SIDE}"));
    configure(&mut group, approx_memory(2 * n * size_of::<f32>()));
    let x: OnceCell<Vec<f32>> = OnceCell::new();
    let x = || x.get_or_init(|| logits(n));
    for threads in THREADS {
        group.throughput(Throughput::Bytes((2 * n * size_of::<f32>()) as u64));
        for (name, causal) in [("full", None), ("causal", Some(0))] {
            group.bench_function(id(name, threads), |b| {
                let mut data = x().clone();
                iter_on(b, threads, || {
                    softmax_rows_inplace(black_box(&mut data), MATRIX_SIDE, black_box(causal))
                        .expect("softmax rows");
                });
            });
        }
        bench_copy(&mut group, threads, n, x);
    }
    group.finish();
}
