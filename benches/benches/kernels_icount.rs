//! Instruction counts (valgrind/callgrind through gungraun) for a small, fast subset of the
//! kernel workloads: GEMM 64³ and 128³ (both layouts), GELU (tanh form) over 10 K values,
//! softmax of one 1024-long row, LayerNorm of 16 rows of 512, and the quantized GEMVs of
//! decode, `y (256) = W (256, 512) · x` with `W` in Q4_1 (activations in Q8_1) and in Q4_K
//! (activations in Q8_K), the integer path every quantized model runs per token.
//!
//! Unlike wall-clock time these counts are deterministic, so a change of even 1% is a real
//! change in the code that runs. Valgrind cannot execute AVX-512, so every bench forces the
//! AVX2+FMA path (`SimdPath::V3`, also set through `SMALLMIND_SIMD`; see
//! `smallmind_benches::icount`). They run with `RAYON_NUM_THREADS=1`, so every kernel stays
//! on the measured (main) thread: callgrind would not count work done on other threads.
//!
//! Inputs are built, and each kernel is called once to warm up (path detection, per-thread
//! packing buffers), in the `setup` function, outside the counted region.
//!
//! Needs the runner of exactly the library's version:
//! `cargo install gungraun-runner --version 0.20.0 --locked`, then
//! `cargo bench -p smallmind-benches --bench kernels_icount`, or `cargo xtask bench --check`
//! to compare the counts with the committed baseline (`benches/baseline/icount.json`).

// `#[library_benchmark]` wraps each function in a generated module that cannot carry docs.
#![allow(missing_docs)]

use std::hint::black_box;

use bytemuck::Pod;
use gungraun::prelude::*;
use smallmind_benches::icount::{PATH_ENV, assert_serial, on_path};
use smallmind_benches::uniform_vec;
use smallmind_kernels::KernelError;
use smallmind_kernels::activation::gelu_tanh;
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::norm::layer_norm_rows;
use smallmind_kernels::quant::{
    BlockQ4_1, BlockQ4K, BlockQ8_1, BlockQ8K, QK, QK_K, gemv, quantize,
};
use smallmind_kernels::softmax::softmax_row_inplace;

/// Inputs and output of one `C = A·op(B)`.
struct GemmCase {
    spec: Gemm,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

/// A square `size³` product, with `B` stored `(n, k)` when `transpose_b`, warmed up.
fn gemm_case(size: usize, transpose_b: bool) -> GemmCase {
    assert_serial();
    let spec = if transpose_b {
        Gemm::new(size, size, size).transpose_b()
    } else {
        Gemm::new(size, size, size)
    };
    let mut case = GemmCase {
        spec,
        a: uniform_vec(size * size, 11, -1.0, 1.0),
        b: uniform_vec(size * size, 12, -1.0, 1.0),
        c: vec![0.0; size * size],
    };
    run_gemm(&mut case);
    case
}

fn run_gemm(case: &mut GemmCase) {
    on_path(|| gemm(&case.spec, &case.a, &case.b, &mut case.c)).expect("gemm");
}

// GEMM `C = A·op(B)`, square, both layouts.
#[library_benchmark]
#[bench::nn_64(args = (64, false), setup = gemm_case)]
#[bench::nt_64(args = (64, true), setup = gemm_case)]
#[bench::nn_128(args = (128, false), setup = gemm_case)]
#[bench::nt_128(args = (128, true), setup = gemm_case)]
fn gemm_v3(mut case: GemmCase) -> GemmCase {
    run_gemm(black_box(&mut case));
    case
}

/// `(x, out)` of `n` values for an activation, warmed up.
fn gelu_case(n: usize) -> (Vec<f32>, Vec<f32>) {
    assert_serial();
    let mut case = (uniform_vec(n, 41, -6.0, 6.0), vec![0.0; n]);
    on_path(|| gelu_tanh(&case.0, &mut case.1)).expect("gelu_tanh");
    case
}

// GELU, tanh form.
#[library_benchmark]
#[bench::n_10k(args = (10_000,), setup = gelu_case)]
fn gelu_tanh_v3(mut case: (Vec<f32>, Vec<f32>)) -> (Vec<f32>, Vec<f32>) {
    on_path(|| gelu_tanh(black_box(&case.0), black_box(&mut case.1))).expect("gelu_tanh");
    case
}

/// One row of `n` attention logits, warmed up on a copy so the counted call sees raw logits.
fn softmax_case(n: usize) -> Vec<f32> {
    assert_serial();
    let row = uniform_vec(n, 51, -8.0, 8.0);
    let mut warm = row.clone();
    on_path(|| softmax_row_inplace(&mut warm, n)).expect("softmax_row_inplace");
    row
}

// Softmax of one full row, in place.
#[library_benchmark]
#[bench::row_1024(args = (1024,), setup = softmax_case)]
fn softmax_v3(mut row: Vec<f32>) -> Vec<f32> {
    let len = row.len();
    on_path(|| softmax_row_inplace(black_box(&mut row), len)).expect("softmax_row_inplace");
    row
}

/// Inputs of a LayerNorm over `(rows, cols)`: x, γ, β, out; warmed up.
struct NormCase {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    out: Vec<f32>,
}

/// The epsilon of GPT-2 style models.
const EPS: f32 = 1e-5;

fn norm_case(rows: usize, cols: usize) -> NormCase {
    assert_serial();
    let mut case = NormCase {
        x: uniform_vec(rows * cols, 61, -3.0, 5.0),
        gamma: uniform_vec(cols, 62, 0.5, 1.5),
        beta: uniform_vec(cols, 63, -0.1, 0.1),
        out: vec![0.0; rows * cols],
    };
    run_layer_norm(&mut case);
    case
}

fn run_layer_norm(case: &mut NormCase) {
    on_path(|| layer_norm_rows(&case.x, &case.gamma, &case.beta, EPS, &mut case.out))
        .expect("layer_norm_rows");
}

// LayerNorm with γ and β.
#[library_benchmark]
#[bench::rows_16x512(args = (16, 512), setup = norm_case)]
fn layer_norm_v3(mut case: NormCase) -> NormCase {
    run_layer_norm(black_box(&mut case));
    case
}

/// A quantized GEMV `y (n) = W (n, k) · x`: the weight blocks `W`, the activation blocks
/// of `x`, and `y`.
struct QuantGemvCase<W, X> {
    n: usize,
    k: usize,
    w: Vec<W>,
    x: Vec<X>,
    y: Vec<f32>,
}

/// A quantizer from f32 values to blocks of `B`.
type Quantizer<B> = fn(&[f32], &mut [B]) -> Result<(), KernelError>;

/// Weights `(n, k)` uniform in ±0.05 (the scale of a trained model's projections) and one
/// activation row uniform in ±3, quantized to blocks of `w_block` and `x_block` values.
fn quant_gemv_case<W: Pod, X: Pod>(
    (n, k): (usize, usize),
    (w_block, quantize_w): (usize, Quantizer<W>),
    (x_block, quantize_x): (usize, Quantizer<X>),
) -> QuantGemvCase<W, X> {
    let mut w = vec![W::zeroed(); n * k / w_block];
    quantize_w(&uniform_vec(n * k, 71, -0.05, 0.05), &mut w).expect("quantize weights");
    let mut x = vec![X::zeroed(); k / x_block];
    quantize_x(&uniform_vec(k, 72, -3.0, 3.0), &mut x).expect("quantize activations");
    QuantGemvCase {
        n,
        k,
        w,
        x,
        y: vec![0.0; n],
    }
}

fn q4_1_case(n: usize, k: usize) -> QuantGemvCase<BlockQ4_1, BlockQ8_1> {
    assert_serial();
    let mut case = quant_gemv_case(
        (n, k),
        (QK, quantize::<BlockQ4_1>),
        (QK, quantize::<BlockQ8_1>),
    );
    run_q4_1(&mut case);
    case
}

fn run_q4_1(c: &mut QuantGemvCase<BlockQ4_1, BlockQ8_1>) {
    on_path(|| gemv::<BlockQ4_1>(&c.w, c.n, c.k, &c.x, &mut c.y)).expect("gemv q4_1");
}

// Q4_1 weights, Q8_1 activations (what `smallmind quantize --type q4_1` models run).
#[library_benchmark]
#[bench::n256_k512(args = (256, 512), setup = q4_1_case)]
fn gemv_q4_1_v3(
    mut case: QuantGemvCase<BlockQ4_1, BlockQ8_1>,
) -> QuantGemvCase<BlockQ4_1, BlockQ8_1> {
    run_q4_1(black_box(&mut case));
    case
}

fn q4_k_case(n: usize, k: usize) -> QuantGemvCase<BlockQ4K, BlockQ8K> {
    assert_serial();
    let mut case = quant_gemv_case(
        (n, k),
        (QK_K, quantize::<BlockQ4K>),
        (QK_K, quantize::<BlockQ8K>),
    );
    run_q4_k(&mut case);
    case
}

fn run_q4_k(c: &mut QuantGemvCase<BlockQ4K, BlockQ8K>) {
    on_path(|| gemv::<BlockQ4K>(&c.w, c.n, c.k, &c.x, &mut c.y)).expect("gemv q4_k");
}

// Q4_K weights, Q8_K activations (the K-quant GGUF models).
#[library_benchmark]
#[bench::n256_k512(args = (256, 512), setup = q4_k_case)]
fn gemv_q4_k_v3(mut case: QuantGemvCase<BlockQ4K, BlockQ8K>) -> QuantGemvCase<BlockQ4K, BlockQ8K> {
    run_q4_k(black_box(&mut case));
    case
}

library_benchmark_group!(
    name = kernels_v3,
    benchmarks = [
        gemm_v3,
        gelu_tanh_v3,
        softmax_v3,
        layer_norm_v3,
        gemv_q4_1_v3,
        gemv_q4_k_v3
    ]
);

main!(
    config = LibraryBenchmarkConfig::default()
        .env("SMALLMIND_SIMD", PATH_ENV)
        .env("RAYON_NUM_THREADS", "1"),
    library_benchmark_groups = kernels_v3
);
