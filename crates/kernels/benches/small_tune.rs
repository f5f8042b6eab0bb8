//! Scratch tuning bench for the vector, norm, RoPE and conversion kernels.
//!
//! Run: `cargo bench -p smallmind-kernels --bench small_tune -- <filter>`.
//!
//! **K-elt anchor.** Every elementwise kernel is timed next to a plain
//! `dst.copy_from_slice(src)` that touches the same number of bytes in the same
//! process: `add`, `mul` and `axpy` touch `3·n·4` bytes (two streams read, one
//! written), so their anchor copies `1.5·n` f32 (reads `1.5·n·4`, writes
//! `1.5·n·4`); `scale` touches `2·n·4` bytes, so its anchor copies `n` f32.
//! Criterion's throughput (bytes touched per second) makes the ratio direct:
//! `kernel GB/s ÷ copy GB/s`. The kernels run on one thread (a 1-thread rayon
//! pool, so they never split) and on the default pool (2 threads here); the copy
//! is the single-threaded memcpy, and a 2-thread copy is shown for context.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use half::{bf16, f16};
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;
use smallmind_kernels::{SimdPath, available_paths, convert, norm, rope, vector, with_path};

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 * 1e-7 - 0.8).collect()
}

fn one_thread() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool")
}

fn best() -> SimdPath {
    available_paths().next().expect("a path")
}

fn bench_k_elt(c: &mut Criterion) {
    let pool1 = one_thread();
    for n in [10_000usize, 10_000_000] {
        let mut group = c.benchmark_group(format!("k_elt/{n}"));
        if n > 1_000_000 {
            group.sample_size(20).measurement_time(Duration::from_secs(4));
        }
        let a = data(n, 1);
        let b = data(n, 2);
        let mut out = vec![0.0f32; n];
        let copy_src = data(n + n / 2, 3);
        let mut copy_dst = vec![0.0f32; n + n / 2];

        let three_streams = Throughput::Bytes((3 * n * 4) as u64);
        let two_streams = Throughput::Bytes((2 * n * 4) as u64);

        group.throughput(three_streams.clone());
        group.bench_function("copy_1.5n_anchor", |bch| {
            bch.iter(|| copy_dst.copy_from_slice(black_box(&copy_src)))
        });
        group.bench_function("copy_1.5n_2threads", |bch| {
            bch.iter(|| {
                copy_dst
                    .par_chunks_mut(1 << 18)
                    .zip(copy_src.par_chunks(1 << 18))
                    .for_each(|(d, s)| d.copy_from_slice(s))
            })
        });
        group.throughput(two_streams.clone());
        group.bench_function("copy_n_anchor", |bch| {
            bch.iter(|| copy_dst[..n].copy_from_slice(black_box(&copy_src[..n])))
        });

        for (threads, label) in [(1, "1t"), (0, "default")] {
            let run = |f: &mut (dyn FnMut() + Send)| if threads == 1 { pool1.install(f) } else { f() };
            let path = best();
            group.throughput(three_streams.clone());
            group.bench_function(BenchmarkId::new("add", label), |bch| {
                bch.iter(|| run(&mut || with_path(path, || vector::add(&a, &b, &mut out).unwrap()).unwrap()))
            });
            group.bench_function(BenchmarkId::new("mul", label), |bch| {
                bch.iter(|| run(&mut || with_path(path, || vector::mul(&a, &b, &mut out).unwrap()).unwrap()))
            });
            group.bench_function(BenchmarkId::new("axpy", label), |bch| {
                bch.iter(|| run(&mut || with_path(path, || vector::axpy(1e-9, &a, &mut out).unwrap()).unwrap()))
            });
            group.bench_function(BenchmarkId::new("add_inplace", label), |bch| {
                bch.iter(|| run(&mut || with_path(path, || vector::add_inplace(&mut out, &a).unwrap()).unwrap()))
            });
            group.throughput(two_streams.clone());
            group.bench_function(BenchmarkId::new("scale", label), |bch| {
                bch.iter(|| run(&mut || with_path(path, || vector::scale(0.999, &a, &mut out).unwrap()).unwrap()))
            });
        }
        group.finish();
    }
}

fn bench_reductions(c: &mut Criterion) {
    let mut group = c.benchmark_group("reduce");
    let n = 1 << 20;
    let a = data(n, 4);
    let b = data(n, 5);
    group.throughput(Throughput::Elements(n as u64));
    for path in available_paths() {
        group.bench_function(BenchmarkId::new("dot", path), |bch| {
            bch.iter(|| with_path(path, || vector::dot(black_box(&a), &b).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("sum", path), |bch| {
            bch.iter(|| with_path(path, || vector::sum(black_box(&a))).unwrap())
        });
        group.bench_function(BenchmarkId::new("max", path), |bch| {
            bch.iter(|| with_path(path, || vector::max(black_box(&a))).unwrap())
        });
    }
    group.finish();
}

fn bench_k_norm(c: &mut Criterion) {
    let pool1 = one_thread();
    for (rows, row_len) in [(16 * 64, 512usize), (1, 576), (1, 768)] {
        let mut group = c.benchmark_group(format!("k_norm/{rows}x{row_len}"));
        group.throughput(Throughput::Bytes((2 * rows * row_len * 4) as u64));
        let x: Vec<f32> = data(rows * row_len, 6).iter().map(|v| v * 3.0 + 0.5).collect();
        let gamma = data(row_len, 7);
        let beta = data(row_len, 8);
        let mut out = vec![0.0f32; x.len()];
        let mut copy_dst = vec![0.0f32; x.len()];
        group.bench_function("copy_anchor", |bch| bch.iter(|| copy_dst.copy_from_slice(black_box(&x))));
        for path in available_paths() {
            group.bench_function(BenchmarkId::new("layer_norm", path), |bch| {
                bch.iter(|| {
                    pool1.install(|| {
                        with_path(path, || norm::layer_norm_rows(&x, &gamma, &beta, 1e-5, &mut out).unwrap())
                            .unwrap()
                    })
                })
            });
            group.bench_function(BenchmarkId::new("rms_norm", path), |bch| {
                bch.iter(|| {
                    pool1.install(|| with_path(path, || norm::rms_norm_rows(&x, &gamma, 1e-6, &mut out).unwrap()).unwrap())
                })
            });
        }
        group.bench_function("layer_norm_ref", |bch| {
            bch.iter(|| norm::layer_norm_rows_ref(&x, &gamma, &beta, 1e-5, &mut out).unwrap())
        });
        group.finish();
    }
}

fn bench_rope(c: &mut Criterion) {
    let mut group = c.benchmark_group("rope/128pos_x_9heads_x_64");
    let (n_pos, n_heads, head_dim) = (128, 9, 64);
    let mut cos = vec![0.0f32; n_pos * head_dim / 2];
    let mut sin = vec![0.0f32; n_pos * head_dim / 2];
    rope::rope_tables(1e4, head_dim, 0..n_pos, &mut cos, &mut sin).unwrap();
    let mut x = data(n_pos * n_heads * head_dim, 9);
    group.throughput(Throughput::Elements(x.len() as u64));
    for path in available_paths() {
        group.bench_function(BenchmarkId::new("rotate_half", path), |bch| {
            bch.iter(|| {
                with_path(path, || rope::rope_rotate_half_inplace(&mut x, n_heads, head_dim, &cos, &sin).unwrap())
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("interleaved", path), |bch| {
            bch.iter(|| {
                with_path(path, || rope::rope_interleaved_inplace(&mut x, n_heads, head_dim, &cos, &sin).unwrap())
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn bench_convert(c: &mut Criterion) {
    let n = 1 << 20;
    let mut group = c.benchmark_group(format!("convert/{n}"));
    group.throughput(Throughput::Elements(n as u64));
    let src = data(n, 10);
    let mut halves = vec![f16::ZERO; n];
    let mut brains = vec![bf16::ZERO; n];
    let mut wide = vec![0.0f32; n];
    halves.convert_from_f32_slice(&src);
    brains.convert_from_f32_slice(&src);
    for path in available_paths() {
        group.bench_function(BenchmarkId::new("f16_to_f32", path), |bch| {
            bch.iter(|| with_path(path, || convert::f16_to_f32(&halves, &mut wide).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("f32_to_f16", path), |bch| {
            bch.iter(|| with_path(path, || convert::f32_to_f16(&src, &mut halves).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("bf16_to_f32", path), |bch| {
            bch.iter(|| with_path(path, || convert::bf16_to_f32(&brains, &mut wide).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("f32_to_bf16", path), |bch| {
            bch.iter(|| with_path(path, || convert::f32_to_bf16(&src, &mut brains).unwrap()).unwrap())
        });
    }
    group.bench_function("half_slice_f16_to_f32", |bch| bch.iter(|| halves.convert_to_f32_slice(&mut wide)));
    group.bench_function("half_slice_f32_to_f16", |bch| bch.iter(|| halves.convert_from_f32_slice(&src)));
    group.bench_function("half_slice_bf16_to_f32", |bch| bch.iter(|| brains.convert_to_f32_slice(&mut wide)));
    group.bench_function("half_slice_f32_to_bf16", |bch| bch.iter(|| brains.convert_from_f32_slice(&src)));
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = bench_k_elt, bench_reductions, bench_k_norm, bench_rope, bench_convert
);
criterion_main!(benches);
