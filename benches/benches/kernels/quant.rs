//! K-quant: quantized block dot products and quantized GEMV `y (n) = W (n, k) · x (k)` with `W`
//! in Q8_0, Q4_0, Q4_1 or Q5_0 blocks, at 1 and 2 threads.
//!
//! Per shape (1×K×N: 1×576×1536 and 1×576×49152) and format, one group whose throughput is the
//! format's weight bytes, so criterion's rate is the GB/s of weights streamed:
//! - `int`: activations quantized beforehand (Q8_0, or Q8_1 for Q4_1), integer block dots;
//! - `int+quantize`: the same plus quantizing `x` in the call, as a decode step does it;
//! - `f32-act`: f32 activations, each weight block dequantized in registers;
//! - `read`: a plain read of the same number of bytes (the bandwidth anchor).
//!
//! A last group per shape times our f32 GEMV (`gemm` with m = 1, `W` transposed) on the same
//! shape with its own read anchor, bytes = `n·k·4`. Block dots (`quant_dot/`) run one row of
//! k = 4096 on one thread (cache resident: the compute rate of the block kernels).
//!
//! Prefill (`quant_gemm/128x576x1536/`): the quantized GEMM `(128, 576) · (1536, 576)ᵀ` per
//! format (activations quantized beforehand) next to our f32 GEMM of the same shape, in
//! multiply-adds per second.

use std::cell::OnceCell;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use smallmind_benches::{read_sum, uniform_vec};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::quant::formats::BlockQ5_0;
use smallmind_kernels::quant::{
    self as quant, BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK, dot, gemv, gemv_f32, quantize,
};

use crate::common::{THREADS, approx_compute, approx_memory, configure, id, iter_on};

/// (k, n) of the K-quant GEMV workloads (m = 1).
const SHAPES: [(usize, usize); 2] = [(576, 1536), (576, 49152)];
/// Depth of the block-dot benches.
const DOT_K: usize = 4096;

/// One shape's weights in every format, and its activations.
struct Inputs {
    x: Vec<f32>,
    w_f32: Vec<f32>,
    q8_0: Vec<BlockQ8_0>,
    q4_0: Vec<BlockQ4_0>,
    q4_1: Vec<BlockQ4_1>,
    q5_0: Vec<BlockQ5_0>,
    x_q8_0: Vec<BlockQ8_0>,
    x_q8_1: Vec<BlockQ8_1>,
}

fn quantized<B: Default + Clone>(
    f: fn(&[f32], &mut [B]) -> Result<(), smallmind_kernels::KernelError>,
    x: &[f32],
) -> Vec<B> {
    let mut out = vec![B::default(); x.len() / QK];
    f(x, &mut out).expect("quantize");
    out
}

impl Inputs {
    fn new(k: usize, n: usize) -> Inputs {
        let w_f32 = uniform_vec(k * n, 41, -1.0, 1.0);
        let x = uniform_vec(k, 42, -1.0, 1.0);
        Inputs {
            q8_0: quantized(quantize::<BlockQ8_0>, &w_f32),
            q4_0: quantized(quantize::<BlockQ4_0>, &w_f32),
            q4_1: quantized(quantize::<BlockQ4_1>, &w_f32),
            q5_0: quantized(quantize::<BlockQ5_0>, &w_f32),
            x_q8_0: quantized(quantize::<BlockQ8_0>, &x),
            x_q8_1: quantized(quantize::<BlockQ8_1>, &x),
            x,
            w_f32,
        }
    }
}

/// Registers every K-quant benchmark.
pub(crate) fn bench(c: &mut Criterion) {
    bench_dots(c);
    for (k, n) in SHAPES {
        bench_shape(c, k, n);
    }
    bench_gemm(c);
}

/// A GEMM shape's weights, f32 activations and both quantized forms of them.
type GemmInputs = (Inputs, Vec<f32>, Vec<BlockQ8_0>, Vec<BlockQ8_1>);

/// (m, k, n) of the prefill GEMM.
const GEMM_SHAPE: (usize, usize, usize) = (128, 576, 1536);

fn bench_gemm(c: &mut Criterion) {
    let (m, k, n) = GEMM_SHAPE;
    let mut group = c.benchmark_group(format!("quant_gemm/{m}x{k}x{n}"));
    group.throughput(Throughput::Elements((m * k * n) as u64));
    configure(&mut group, approx_compute((2 * m * k * n) as u64));
    let inputs: OnceCell<GemmInputs> = OnceCell::new();
    let get = || {
        inputs.get_or_init(|| {
            let inp = Inputs::new(k, n);
            let x = uniform_vec(m * k, 44, -1.0, 1.0);
            let x8 = quantized(quantize::<BlockQ8_0>, &x);
            let x81 = quantized(quantize::<BlockQ8_1>, &x);
            (inp, x, x8, x81)
        })
    };
    for threads in THREADS {
        group.bench_function(id("q8_0", threads), |b| {
            let (inp, _, x8, _) = get();
            let mut y = vec![0.0f32; m * n];
            iter_on(b, threads, || {
                quant::gemm::<BlockQ8_0>(black_box(&inp.q8_0), n, k, black_box(x8), m, &mut y)
                    .expect("gemm");
            });
        });
        group.bench_function(id("q4_0", threads), |b| {
            let (inp, _, x8, _) = get();
            let mut y = vec![0.0f32; m * n];
            iter_on(b, threads, || {
                quant::gemm::<BlockQ4_0>(black_box(&inp.q4_0), n, k, black_box(x8), m, &mut y)
                    .expect("gemm");
            });
        });
        group.bench_function(id("q4_1", threads), |b| {
            let (inp, _, _, x81) = get();
            let mut y = vec![0.0f32; m * n];
            iter_on(b, threads, || {
                quant::gemm::<BlockQ4_1>(black_box(&inp.q4_1), n, k, black_box(x81), m, &mut y)
                    .expect("gemm");
            });
        });
        group.bench_function(id("f32", threads), |b| {
            let (inp, x, _, _) = get();
            let spec = Gemm::new(m, n, k).transpose_b();
            let mut y = vec![0.0f32; m * n];
            iter_on(b, threads, || {
                gemm(&spec, black_box(x), black_box(&inp.w_f32), &mut y).expect("gemm");
            });
        });
    }
    group.finish();
}

fn bench_dots(c: &mut Criterion) {
    let inp = Inputs::new(DOT_K, 1);
    let mut group = c.benchmark_group(format!("quant_dot/k{DOT_K}"));
    configure(&mut group, approx_memory(DOT_K));
    group.throughput(Throughput::Elements(DOT_K as u64));
    group.bench_function("q8_0", |b| {
        b.iter(|| dot::<BlockQ8_0>(black_box(&inp.q8_0), black_box(&inp.x_q8_0)).expect("dot"))
    });
    group.bench_function("q4_0", |b| {
        b.iter(|| dot::<BlockQ4_0>(black_box(&inp.q4_0), black_box(&inp.x_q8_0)).expect("dot"))
    });
    group.bench_function("q4_1", |b| {
        b.iter(|| dot::<BlockQ4_1>(black_box(&inp.q4_1), black_box(&inp.x_q8_1)).expect("dot"))
    });
    group.bench_function("quantize_q8_0", |b| {
        let mut out = vec![BlockQ8_0::default(); DOT_K / QK];
        b.iter(|| quantize::<BlockQ8_0>(black_box(&inp.x), &mut out).expect("quantize"))
    });
    group.finish();
}

type KResult = Result<(), smallmind_kernels::KernelError>;
/// A quantized-activation GEMV.
type GemvQ<W, A> = fn(&[W], usize, usize, &[A], &mut [f32]) -> KResult;
/// An f32-activation GEMV.
type GemvF<W> = fn(&[W], usize, usize, &[f32], &mut [f32]) -> KResult;

/// The kernels of one format under one signature.
struct Format<W, A> {
    name: &'static str,
    weights: fn(&Inputs) -> &[W],
    act: fn(&Inputs) -> &[A],
    gemv: GemvQ<W, A>,
    gemv_f32: GemvF<W>,
    quantize_act: fn(&[f32], &mut [A]) -> KResult,
}

fn bench_shape(c: &mut Criterion, k: usize, n: usize) {
    let inputs: OnceCell<Inputs> = OnceCell::new();
    bench_format(
        c,
        k,
        n,
        &inputs,
        &Format {
            name: "q8_0",
            weights: |i| &i.q8_0,
            act: |i| &i.x_q8_0,
            gemv: gemv::<BlockQ8_0>,
            gemv_f32: gemv_f32::<BlockQ8_0>,
            quantize_act: quantize::<BlockQ8_0>,
        },
    );
    bench_format(
        c,
        k,
        n,
        &inputs,
        &Format {
            name: "q4_0",
            weights: |i| &i.q4_0,
            act: |i| &i.x_q8_0,
            gemv: gemv::<BlockQ4_0>,
            gemv_f32: gemv_f32::<BlockQ4_0>,
            quantize_act: quantize::<BlockQ8_0>,
        },
    );
    bench_format(
        c,
        k,
        n,
        &inputs,
        &Format {
            name: "q4_1",
            weights: |i| &i.q4_1,
            act: |i| &i.x_q8_1,
            gemv: gemv::<BlockQ4_1>,
            gemv_f32: gemv_f32::<BlockQ4_1>,
            quantize_act: quantize::<BlockQ8_1>,
        },
    );
    bench_format(
        c,
        k,
        n,
        &inputs,
        &Format {
            name: "q5_0",
            weights: |i| &i.q5_0,
            act: |i| &i.x_q8_0,
            gemv: gemv::<BlockQ5_0>,
            gemv_f32: gemv_f32::<BlockQ5_0>,
            quantize_act: quantize::<BlockQ8_0>,
        },
    );
    bench_f32(c, k, n, &inputs);
}

fn bench_format<W: Sync, A: Clone + Send + Sync>(
    c: &mut Criterion,
    k: usize,
    n: usize,
    inputs: &OnceCell<Inputs>,
    f: &Format<W, A>,
) {
    let bytes = n * (k / QK) * size_of::<W>();
    let mut group = c.benchmark_group(format!("quant_gemv/1x{k}x{n}/{}", f.name));
    group.throughput(Throughput::Bytes(bytes as u64));
    configure(&mut group, approx_memory(bytes));
    let read_anchor: OnceCell<Vec<f32>> = OnceCell::new();
    for threads in THREADS {
        group.bench_function(id("int", threads), |b| {
            let inp = inputs.get_or_init(|| Inputs::new(k, n));
            let mut y = vec![0.0f32; n];
            iter_on(b, threads, || {
                (f.gemv)(
                    black_box((f.weights)(inp)),
                    n,
                    k,
                    black_box((f.act)(inp)),
                    &mut y,
                )
                .expect("gemv");
                black_box(&mut y);
            });
        });
        group.bench_function(id("int+quantize", threads), |b| {
            let inp = inputs.get_or_init(|| Inputs::new(k, n));
            let mut y = vec![0.0f32; n];
            let mut xq = (f.act)(inp).to_vec();
            iter_on(b, threads, || {
                (f.quantize_act)(black_box(&inp.x), &mut xq).expect("quantize");
                (f.gemv)(black_box((f.weights)(inp)), n, k, &xq, &mut y).expect("gemv");
                black_box(&mut y);
            });
        });
        group.bench_function(id("f32-act", threads), |b| {
            let inp = inputs.get_or_init(|| Inputs::new(k, n));
            let mut y = vec![0.0f32; n];
            iter_on(b, threads, || {
                (f.gemv_f32)(black_box((f.weights)(inp)), n, k, black_box(&inp.x), &mut y)
                    .expect("gemv");
                black_box(&mut y);
            });
        });
        group.bench_function(id("read", threads), |b| {
            let data = read_anchor.get_or_init(|| uniform_vec(bytes / 4, 43, -1.0, 1.0));
            iter_on(b, threads, || {
                black_box(read_sum(black_box(data)));
            });
        });
    }
    group.finish();
}

fn bench_f32(c: &mut Criterion, k: usize, n: usize, inputs: &OnceCell<Inputs>) {
    let bytes = n * k * 4;
    let mut group = c.benchmark_group(format!("quant_gemv/1x{k}x{n}/f32"));
    group.throughput(Throughput::Bytes(bytes as u64));
    configure(&mut group, approx_memory(bytes));
    let spec = Gemm::new(1, n, k).transpose_b();
    for threads in THREADS {
        group.bench_function(id("gemv-f32", threads), |b| {
            let inp = inputs.get_or_init(|| Inputs::new(k, n));
            let mut y = vec![0.0f32; n];
            iter_on(b, threads, || {
                gemm(&spec, black_box(&inp.x), black_box(&inp.w_f32), &mut y).expect("gemv");
                black_box(&mut y);
            });
        });
        group.bench_function(id("read", threads), |b| {
            let inp = inputs.get_or_init(|| Inputs::new(k, n));
            iter_on(b, threads, || {
                black_box(read_sum(black_box(&inp.w_f32)));
            });
        });
    }
    group.finish();
}
