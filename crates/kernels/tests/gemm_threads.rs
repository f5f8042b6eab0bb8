//! Thread-count invariance of `gemm` and `gemv`: the same call inside a
//! 1-thread and a 2-thread rayon pool must give bit-identical `C` (the model
//! layer promises bit-identical outputs whatever the pool size), on every
//! SIMD path this CPU has.
//!
//! Shapes: prefill-like products (`m` from 1 to 200, `k` ∈ {64, 576, 1536},
//! `n` ∈ {192, 576, 1536, 49152}, plain and transposed `B`), squares from 64
//! to 1024 with all four transpose combinations, `m = 1` (GEMV, including a
//! strided `x`), and shapes where the 2-thread split cuts along `m` (few
//! columns, many rows), where a window's row count differs from the whole
//! product's.

mod common;

use common::{Rng, for_each_path};
use smallmind_kernels::SimdPath;
use smallmind_kernels::gemm::{Gemm, gemm};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}

/// Operands for `g` (contiguous unless `g` says otherwise) and a `C` with
/// non-trivial content so `β` matters.
fn operands(g: &Gemm, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let len = |rows: usize, ld: usize| rows * ld;
    let a_rows = match g.trans_a {
        smallmind_kernels::gemm::Transpose::No => g.m,
        smallmind_kernels::gemm::Transpose::Yes => g.k,
    };
    let b_rows = match g.trans_b {
        smallmind_kernels::gemm::Transpose::No => g.k,
        smallmind_kernels::gemm::Transpose::Yes => g.n,
    };
    (
        rng.vec(len(a_rows, g.lda), 1.0),
        rng.vec(len(b_rows, g.ldb), 1.0),
        rng.vec(len(g.m, g.ldc), 1.0),
    )
}

/// Runs `g` on `path` inside `pool` and returns `C`.
fn run_in(
    pool: &rayon::ThreadPool,
    path: SimdPath,
    g: &Gemm,
    ops: &(Vec<f32>, Vec<f32>, Vec<f32>),
) -> Vec<f32> {
    let (a, b, c0) = ops;
    let mut c = c0.clone();
    pool.install(|| {
        // `with_path` is per thread: set it on the pool thread that runs the
        // call (rayon workers inherit nothing, but the kernel dispatches once
        // on the calling thread and passes the token to its tasks).
        smallmind_kernels::with_path(path, || gemm(g, a, b, &mut c))
            .expect("available path")
            .expect("valid gemm");
    });
    c
}

/// Asserts bit-identical `C` from the 1- and 2-thread pools for every shape,
/// on every available path.
fn check_all(shapes: &[Gemm]) {
    let (p1, p2) = (pool(1), pool(2));
    for_each_path(|path| {
        for (i, g) in shapes.iter().enumerate() {
            let ops = operands(g, 1000 + i as u64);
            let c1 = run_in(&p1, path, g, &ops);
            let c2 = run_in(&p2, path, g, &ops);
            if let Some(at) = c1
                .iter()
                .zip(&c2)
                .position(|(x, y)| x.to_bits() != y.to_bits())
            {
                panic!(
                    "{path:?} {g:?}: 1-thread C[{at}] = {} but 2-thread C[{at}] = {}",
                    c1[at], c2[at]
                );
            }
        }
    });
}

fn both_b(g: Gemm) -> [Gemm; 2] {
    [g, g.transpose_b()]
}

#[test]
fn prefill_shapes_are_thread_count_invariant() {
    let mut shapes = Vec::new();
    for k in [64, 576, 1536] {
        for n in [192, 576, 1536] {
            for m in [1, 2, 7, 8, 9, 17, 64, 65, 128, 200] {
                shapes.extend(both_b(Gemm::new(m, n, k)));
            }
        }
    }
    // The wide vocabulary projection: n = 49152.
    for (m, k) in [
        (1, 64),
        (1, 576),
        (1, 1536),
        (3, 64),
        (9, 576),
        (17, 64),
        (128, 64),
    ] {
        shapes.extend(both_b(Gemm::new(m, 49152, k)));
    }
    check_all(&shapes);
}

#[test]
fn square_shapes_all_transposes_are_thread_count_invariant() {
    let mut shapes = Vec::new();
    for s in [64, 65, 96, 128, 129, 200, 256, 333, 512, 1024] {
        let g = Gemm::new(s, s, s).beta(0.5);
        shapes.extend([
            g,
            g.transpose_a(),
            g.transpose_b(),
            g.transpose_a().transpose_b(),
        ]);
    }
    check_all(&shapes);
}

#[test]
fn row_split_shapes_are_thread_count_invariant() {
    // Few columns: the 2-thread split cuts along m, so each window has about
    // half the rows of the product (around the A-block height MC and with k
    // across the one-block depth limit).
    let mut shapes = Vec::new();
    for m in [300, 500, 600, 960, 1000] {
        for (n, k) in [(16, 576), (48, 768), (64, 576), (64, 1000), (96, 300)] {
            shapes.extend(both_b(Gemm::new(m, n, k)));
        }
    }
    check_all(&shapes);
}

#[test]
fn gemv_is_thread_count_invariant() {
    let mut shapes = Vec::new();
    for (k, n) in [
        (64, 192),
        (576, 576),
        (576, 1536),
        (1536, 576),
        (576, 49152),
        (1536, 4099),
        (1000, 3001),
    ] {
        let g = Gemm::new(1, n, k);
        shapes.extend(both_b(g));
        shapes.extend(both_b(g.beta(1.5)));
        // Strided x: A stored transposed as a (k, 1) column with a gap.
        shapes.extend(both_b(g.transpose_a().lda(3)));
    }
    check_all(&shapes);
}
