//! K-gemm: f32 `C = A·B` ("nn") and `C = A·Bᵀ` ("nt"), row-major, at 1 and 2 threads.
//!
//! Shapes (M×K×N): square 64 … 2048, and the prefill shapes of a 576-wide model
//! (128×576×1536, 128×1536×576, 128×576×49152). `A` is `(m, k)`; `B` is `(k, n)` for "nn"
//! and `(n, k)` for "nt" (the HF linear-weight layout); `C` is `(m, n)`.
//!
//! Peers timed in the same group: the `gemm` crate (`Parallelism::None` at 1 thread,
//! `Parallelism::Rayon(2)` inside the 2-thread pool) and `matrixmultiply::sgemm`, whose
//! thread count is fixed per process by `MATMUL_NUM_THREADS` (see `main.rs`), so it appears
//! only under that thread count. Throughput is `2·m·n·k` elements, i.e. criterion's
//! "elem/s" column reads as FLOP/s.

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use smallmind_benches::{gemm_flops, uniform_vec};
use smallmind_kernels::gemm::{Gemm, gemm};

use crate::common::{THREADS, approx_compute, configure, id, iter_on};

/// (m, k, n) of every K-gemm workload.
const SHAPES: [(usize, usize, usize); 9] = [
    (64, 64, 64),
    (128, 128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (128, 576, 1536),
    (128, 1536, 576),
    (128, 576, 49152),
];

/// How `B` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `B` is `(k, n)`: `C = A·B`.
    Nn,
    /// `B` is `(n, k)`: `C = A·Bᵀ`.
    Nt,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Nn => "nn",
            Layout::Nt => "nt",
        }
    }

    /// (row stride, column stride) of the logical `(k, n)` operand `B` in memory.
    fn b_strides(self, k: usize, n: usize) -> (isize, isize) {
        match self {
            Layout::Nn => (n as isize, 1),
            Layout::Nt => (1, k as isize),
        }
    }
}

/// Registers every K-gemm benchmark.
pub(crate) fn bench(c: &mut Criterion, matmul_threads: usize) {
    check_implementations_agree();
    for (m, k, n) in SHAPES {
        for layout in [Layout::Nn, Layout::Nt] {
            bench_shape(c, m, k, n, layout, matmul_threads);
        }
    }
}

fn bench_shape(c: &mut Criterion, m: usize, k: usize, n: usize, layout: Layout, mm_threads: usize) {
    let flops = gemm_flops(m, n, k);
    let mut group = c.benchmark_group(format!("gemm/{m}x{k}x{n}/{}", layout.name()));
    group.throughput(Throughput::Elements(flops));
    configure(&mut group, approx_compute(flops));
    // Built on first use, so benches the filter skips allocate nothing.
    let inputs: OnceCell<(Vec<f32>, Vec<f32>)> = OnceCell::new();
    let inputs = || {
        inputs.get_or_init(|| {
            (
                uniform_vec(m * k, 11, -1.0, 1.0),
                uniform_vec(k * n, 12, -1.0, 1.0),
            )
        })
    };

    for threads in THREADS {
        group.bench_function(id("smallmind", threads), |b| {
            let (lhs, rhs) = inputs();
            let mut dst = vec![0.0f32; m * n];
            let spec = match layout {
                Layout::Nn => Gemm::new(m, n, k),
                Layout::Nt => Gemm::new(m, n, k).transpose_b(),
            };
            iter_on(b, threads, || {
                gemm(&spec, black_box(lhs), black_box(rhs), black_box(&mut dst))
                    .expect("smallmind gemm");
            });
        });
        group.bench_function(id("gemm-crate", threads), |b| {
            let (lhs, rhs) = inputs();
            let mut dst = vec![0.0f32; m * n];
            let parallelism = match threads {
                1 => gemm::Parallelism::None,
                t => gemm::Parallelism::Rayon(t),
            };
            iter_on(b, threads, || {
                gemm_crate(
                    m,
                    k,
                    n,
                    layout,
                    black_box(lhs),
                    black_box(rhs),
                    black_box(&mut dst),
                    parallelism,
                );
            });
        });
        if threads == mm_threads {
            group.bench_function(id("matrixmultiply", threads), |b| {
                let (lhs, rhs) = inputs();
                let mut dst = vec![0.0f32; m * n];
                iter_on(b, threads, || {
                    matrixmultiply_sgemm(
                        m,
                        k,
                        n,
                        layout,
                        black_box(lhs),
                        black_box(rhs),
                        black_box(&mut dst),
                    );
                });
            });
        }
    }
    group.finish();
}

/// Panics unless smallmind, the `gemm` crate and `matrixmultiply` compute the same product
/// as a naive triple loop, for both layouts, on an odd-sized shape: a cheap guard that every
/// implementation timed below is given the operands the way it expects them.
fn check_implementations_agree() {
    const TOL: f32 = 1e-4;
    let (m, k, n) = (7, 37, 19);
    let lhs = uniform_vec(m * k, 1, -1.0, 1.0);
    let rhs = uniform_vec(k * n, 2, -1.0, 1.0);
    for layout in [Layout::Nn, Layout::Nt] {
        let (rs, cs) = layout.b_strides(k, n);
        let expected: Vec<f32> = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..k)
                    .map(|p| lhs[i * k + p] * rhs[(p as isize * rs + j as isize * cs) as usize])
                    .sum()
            })
            .collect();
        let mut ours = vec![0.0f32; m * n];
        let spec = match layout {
            Layout::Nn => Gemm::new(m, n, k),
            Layout::Nt => Gemm::new(m, n, k).transpose_b(),
        };
        gemm(&spec, &lhs, &rhs, &mut ours).expect("smallmind gemm");
        let mut crate_gemm = vec![0.0f32; m * n];
        gemm_crate(
            m,
            k,
            n,
            layout,
            &lhs,
            &rhs,
            &mut crate_gemm,
            gemm::Parallelism::None,
        );
        let mut mm = vec![0.0f32; m * n];
        matrixmultiply_sgemm(m, k, n, layout, &lhs, &rhs, &mut mm);
        for (name, got) in [
            ("smallmind", &ours),
            ("gemm crate", &crate_gemm),
            ("matrixmultiply", &mm),
        ] {
            smallmind_testkit::max_abs_diff(got, &expected).assert_within(
                f64::from(TOL),
                &format!("{name} {layout:?} vs a naive loop"),
            );
        }
    }
}

/// `dst (m, n) = lhs (m, k) · op(rhs)` with the `gemm` crate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_crate(
    m: usize,
    k: usize,
    n: usize,
    layout: Layout,
    lhs: &[f32],
    rhs: &[f32],
    dst: &mut [f32],
    parallelism: gemm::Parallelism,
) {
    assert!(lhs.len() == m * k && rhs.len() == k * n && dst.len() == m * n);
    let (rhs_rs, rhs_cs) = layout.b_strides(k, n);
    // SAFETY: the asserts above make every buffer exactly as long as its row-major shape, and
    // the strides describe those shapes (`lhs` (m, k), `rhs` (k, n) or (n, k), `dst` (m, n)), so
    // every address the crate forms is in bounds; `dst` is an exclusive borrow and does not
    // alias the inputs. `read_dst = false` means `dst` need not be initialised (it is anyway).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `dst (m, n) = lhs (m, k) · op(rhs)` with `matrixmultiply::sgemm`.
pub(crate) fn matrixmultiply_sgemm(
    m: usize,
    k: usize,
    n: usize,
    layout: Layout,
    lhs: &[f32],
    rhs: &[f32],
    dst: &mut [f32],
) {
    assert!(lhs.len() == m * k && rhs.len() == k * n && dst.len() == m * n);
    let (rhs_rs, rhs_cs) = layout.b_strides(k, n);
    // SAFETY: as for `gemm_crate`: buffer lengths are checked against the row-major shapes the
    // strides describe, and `dst` is an exclusive borrow not aliasing the inputs.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            lhs.as_ptr(),
            k as isize,
            1,
            rhs.as_ptr(),
            rhs_rs,
            rhs_cs,
            0.0,
            dst.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
