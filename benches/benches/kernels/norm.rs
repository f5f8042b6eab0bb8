//! K-norm: LayerNorm (γ, β, eps 1e-5) and RMSNorm (γ, eps 1e-5) over rows, next to the copy
//! anchor (`rows·cols` f32: the same bytes the norm reads and writes).
//!
//! Shapes (rows × cols): 1024 × 512 (a batch of 16 sequences of 64 tokens at width 512, also
//! measured at 2 threads), and single rows of 576 and 768 (one decode token at the widths of
//! SmolLM2-135M and GPT-2 small).

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use smallmind_benches::uniform_vec;
use smallmind_kernels::norm::{layer_norm_rows, rms_norm_rows};

use crate::common::{THREADS, approx_memory, configure, id, iter_on};
use crate::elementwise::bench_copy;

/// (rows, cols) of every K-norm workload.
const SHAPES: [(usize, usize); 3] = [(16 * 64, 512), (1, 576), (1, 768)];
/// The epsilon of GPT-2 style models.
const EPS: f32 = 1e-5;

/// Inputs of one shape: activations `(rows, cols)`, γ and β `(cols,)`.
struct Inputs {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// Registers every K-norm benchmark.
pub(crate) fn bench(c: &mut Criterion) {
    for (rows, cols) in SHAPES {
        let n = rows * cols;
        let mut group = c.benchmark_group(format!("norm/{rows}x{cols}"));
        configure(&mut group, approx_memory(2 * n * size_of::<f32>()));
        group.throughput(Throughput::Bytes((2 * n * size_of::<f32>()) as u64));
        let data: OnceCell<Inputs> = OnceCell::new();
        let data = || {
            data.get_or_init(|| Inputs {
                // Residual-stream activations: non-zero mean, a few units of spread.
                x: uniform_vec(n, 61, -3.0, 5.0),
                gamma: uniform_vec(cols, 62, 0.5, 1.5),
                beta: uniform_vec(cols, 63, -0.1, 0.1),
            })
        };
        let threads: &[usize] = if rows > 1 { &THREADS } else { &THREADS[..1] };
        for &t in threads {
            group.bench_function(id("layer_norm", t), |b| {
                let Inputs { x, gamma, beta } = data();
                let mut out = vec![0.0f32; n];
                iter_on(b, t, || {
                    layer_norm_rows(
                        black_box(x),
                        black_box(gamma),
                        black_box(beta),
                        EPS,
                        black_box(&mut out),
                    )
                    .expect("layer_norm_rows");
                });
            });
            group.bench_function(id("rms_norm", t), |b| {
                let Inputs { x, gamma, .. } = data();
                let mut out = vec![0.0f32; n];
                iter_on(b, t, || {
                    rms_norm_rows(black_box(x), black_box(gamma), EPS, black_box(&mut out))
                        .expect("rms_norm_rows");
                });
            });
            bench_copy(&mut group, t, n, || &data().x);
            group.throughput(Throughput::Bytes((2 * n * size_of::<f32>()) as u64));
        }
        group.finish();
    }
}
