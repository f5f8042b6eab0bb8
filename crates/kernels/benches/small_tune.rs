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
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;
use smallmind_kernels::vector::PARALLEL_MIN_LEN;
use smallmind_kernels::{SimdPath, available_paths, convert, norm, rope, vector, with_path};

/// One cache line of f32, so that buffers are 64-byte aligned like the tensor
/// crate's (a malloc'ed `Vec` is typically 16 bytes off a cache line, which
/// makes every AVX-512 access split two lines).
#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A 64-byte aligned f32 buffer of `len` elements.
struct Buf {
    lines: Vec<Line>,
    len: usize,
}

impl Buf {
    fn new(values: &[f32]) -> Buf {
        let mut buf = Buf {
            lines: vec![Line([0.0; 16]); values.len().div_ceil(16)],
            len: values.len(),
        };
        buf.get_mut().copy_from_slice(values);
        buf
    }
    fn zeros(len: usize) -> Buf {
        Buf::new(&vec![0.0; len])
    }
    fn get(&self) -> &[f32] {
        &bytemuck::cast_slice(&self.lines)[..self.len]
    }
    fn get_mut(&mut self) -> &mut [f32] {
        &mut bytemuck::cast_slice_mut(&mut self.lines)[..self.len]
    }
}

fn data(n: usize, seed: u32) -> Buf {
    let values: Vec<f32> = (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 * 1e-7 - 0.8
        })
        .collect();
    Buf::new(&values)
}

fn one_thread() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
}

/// Runs `f` `iters` times, inside `pool` if given, and returns the elapsed time.
fn timed_in(
    pool: Option<&rayon::ThreadPool>,
    iters: u64,
    f: &mut (dyn FnMut() + Send),
) -> Duration {
    let mut run = || {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed()
    };
    match pool {
        Some(pool) => pool.install(run),
        None => run(),
    }
}

fn best() -> SimdPath {
    available_paths().next().expect("a path")
}

fn bench_k_elt(c: &mut Criterion) {
    let pool1 = one_thread();
    for n in [10_000usize, 10_000_000] {
        let mut group = c.benchmark_group(format!("k_elt/{n}"));
        if n > 1_000_000 {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(4));
        }
        let a = data(n, 1);
        let b = data(n, 2);
        let (a, b) = (a.get(), b.get());
        let mut out = Buf::zeros(n);
        let out = out.get_mut();
        let copy_src = data(n + n / 2, 3);
        let copy_src = copy_src.get();
        let mut copy_dst = Buf::zeros(n + n / 2);
        let copy_dst = copy_dst.get_mut();

        let three_streams = Throughput::Bytes((3 * n * 4) as u64);
        let two_streams = Throughput::Bytes((2 * n * 4) as u64);

        group.throughput(three_streams.clone());
        group.bench_function("copy_1.5n_anchor", |bch| {
            bch.iter(|| copy_dst.copy_from_slice(black_box(copy_src)))
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

        if n < PARALLEL_MIN_LEN {
            for path in available_paths() {
                group.throughput(three_streams.clone());
                group.bench_function(BenchmarkId::new("add_path", path), |bch| {
                    bch.iter(|| with_path(path, || vector::add(a, b, out).unwrap()).unwrap())
                });
                group.throughput(two_streams.clone());
                group.bench_function(BenchmarkId::new("scale_path", path), |bch| {
                    bch.iter(|| with_path(path, || vector::scale(0.999, a, out).unwrap()).unwrap())
                });
            }
        }

        let path = best();
        for (one_thread, label) in [(true, "1t"), (false, "default")] {
            // The whole timing loop runs inside the pool, so a 1-thread run pays
            // no cross-thread wake-up per call.
            let pool = one_thread.then_some(&pool1);
            group.throughput(three_streams.clone());
            group.bench_function(BenchmarkId::new("add", label), |bch| {
                bch.iter_custom(|iters| {
                    timed_in(pool, iters, &mut || {
                        with_path(path, || vector::add(a, b, out).unwrap()).unwrap();
                    })
                })
            });
            group.bench_function(BenchmarkId::new("mul", label), |bch| {
                bch.iter_custom(|iters| {
                    timed_in(pool, iters, &mut || {
                        with_path(path, || vector::mul(a, b, out).unwrap()).unwrap();
                    })
                })
            });
            group.bench_function(BenchmarkId::new("axpy", label), |bch| {
                bch.iter_custom(|iters| {
                    timed_in(pool, iters, &mut || {
                        with_path(path, || vector::axpy(1e-9, a, out).unwrap()).unwrap();
                    })
                })
            });
            group.bench_function(BenchmarkId::new("add_inplace", label), |bch| {
                bch.iter_custom(|iters| {
                    timed_in(pool, iters, &mut || {
                        with_path(path, || vector::add_inplace(out, a).unwrap()).unwrap();
                    })
                })
            });
            group.throughput(two_streams.clone());
            group.bench_function(BenchmarkId::new("scale", label), |bch| {
                bch.iter_custom(|iters| {
                    timed_in(pool, iters, &mut || {
                        with_path(path, || vector::scale(0.999, a, out).unwrap()).unwrap();
                    })
                })
            });
        }
        group.finish();
    }
}

fn bench_reductions(c: &mut Criterion) {
    let mut group = c.benchmark_group("reduce");
    let n = 1 << 20;
    let (a, b) = (data(n, 4), data(n, 5));
    let (a, b) = (a.get(), b.get());
    group.throughput(Throughput::Elements(n as u64));
    for path in available_paths() {
        group.bench_function(BenchmarkId::new("dot", path), |bch| {
            bch.iter(|| with_path(path, || vector::dot(black_box(a), b).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("sum", path), |bch| {
            bch.iter(|| with_path(path, || vector::sum(black_box(a))).unwrap())
        });
        group.bench_function(BenchmarkId::new("max", path), |bch| {
            bch.iter(|| with_path(path, || vector::max(black_box(a))).unwrap())
        });
    }
    group.finish();
}

/// K-norm: every path on the default pool, plus the best path on one thread.
fn bench_k_norm(c: &mut Criterion) {
    for (rows, row_len) in [(16 * 64, 512usize), (1, 576), (1, 768)] {
        let mut group = c.benchmark_group(format!("k_norm/{rows}x{row_len}"));
        group.throughput(Throughput::Bytes((2 * rows * row_len * 4) as u64));
        let x = data(rows * row_len, 6);
        let x = x.get();
        let (gamma, beta) = (data(row_len, 7), data(row_len, 8));
        let (gamma, beta) = (gamma.get(), beta.get());
        let mut out = Buf::zeros(x.len());
        let out = out.get_mut();
        let mut copy_dst = Buf::zeros(x.len());
        let copy_dst = copy_dst.get_mut();
        group.bench_function("copy_anchor", |bch| {
            bch.iter(|| copy_dst.copy_from_slice(black_box(x)))
        });
        for path in available_paths() {
            group.bench_function(BenchmarkId::new("layer_norm", path), |bch| {
                bch.iter(|| {
                    with_path(path, || {
                        norm::layer_norm_rows(x, gamma, beta, 1e-5, out).unwrap()
                    })
                    .unwrap()
                })
            });
            group.bench_function(BenchmarkId::new("rms_norm", path), |bch| {
                bch.iter(|| {
                    with_path(path, || norm::rms_norm_rows(x, gamma, 1e-6, out).unwrap()).unwrap()
                })
            });
        }
        // One thread (no row split), best path, timed inside a 1-thread pool.
        let (pool1, path) = (one_thread(), best());
        group.bench_function(BenchmarkId::new("layer_norm_1t", path), |bch| {
            bch.iter_custom(|iters| {
                timed_in(Some(&pool1), iters, &mut || {
                    with_path(path, || {
                        norm::layer_norm_rows(x, gamma, beta, 1e-5, out).unwrap()
                    })
                    .unwrap();
                })
            })
        });
        group.bench_function(BenchmarkId::new("rms_norm_1t", path), |bch| {
            bch.iter_custom(|iters| {
                timed_in(Some(&pool1), iters, &mut || {
                    with_path(path, || norm::rms_norm_rows(x, gamma, 1e-6, out).unwrap()).unwrap();
                })
            })
        });
        group.bench_function("layer_norm_ref", |bch| {
            bch.iter(|| norm::layer_norm_rows_ref(x, gamma, beta, 1e-5, out).unwrap())
        });
        group.finish();
    }
}

fn bench_rope(c: &mut Criterion) {
    let mut group = c.benchmark_group("rope/128pos_x_9heads_x_64");
    let (n_pos, n_heads, head_dim) = (128, 9, 64);
    let (mut cos, mut sin) = (
        Buf::zeros(n_pos * head_dim / 2),
        Buf::zeros(n_pos * head_dim / 2),
    );
    let (cos, sin) = (cos.get_mut(), sin.get_mut());
    rope::rope_tables(1e4, head_dim, 0..n_pos, cos, sin).unwrap();
    let mut x = data(n_pos * n_heads * head_dim, 9);
    let x = x.get_mut();
    group.throughput(Throughput::Elements(x.len() as u64));
    for path in available_paths() {
        group.bench_function(BenchmarkId::new("rotate_half", path), |bch| {
            bch.iter(|| {
                with_path(path, || {
                    rope::rope_rotate_half_inplace(x, n_heads, head_dim, cos, sin).unwrap()
                })
                .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("interleaved", path), |bch| {
            bch.iter(|| {
                with_path(path, || {
                    rope::rope_interleaved_inplace(x, n_heads, head_dim, cos, sin).unwrap()
                })
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
    let src = src.get();
    let (mut h_buf, mut b_buf, mut wide) = (Buf::zeros(n / 2), Buf::zeros(n / 2), Buf::zeros(n));
    let halves: &mut [f16] = bytemuck::cast_slice_mut(h_buf.get_mut());
    let brains: &mut [bf16] = bytemuck::cast_slice_mut(b_buf.get_mut());
    let wide = wide.get_mut();
    halves.convert_from_f32_slice(src);
    brains.convert_from_f32_slice(src);
    for path in available_paths() {
        group.bench_function(BenchmarkId::new("f16_to_f32", path), |bch| {
            bch.iter(|| with_path(path, || convert::f16_to_f32(halves, wide).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("f32_to_f16", path), |bch| {
            bch.iter(|| with_path(path, || convert::f32_to_f16(src, halves).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("bf16_to_f32", path), |bch| {
            bch.iter(|| with_path(path, || convert::bf16_to_f32(brains, wide).unwrap()).unwrap())
        });
        group.bench_function(BenchmarkId::new("f32_to_bf16", path), |bch| {
            bch.iter(|| with_path(path, || convert::f32_to_bf16(src, brains).unwrap()).unwrap())
        });
    }
    group.bench_function("half_slice_f16_to_f32", |bch| {
        bch.iter(|| halves.convert_to_f32_slice(wide))
    });
    group.bench_function("half_slice_f32_to_f16", |bch| {
        bch.iter(|| halves.convert_from_f32_slice(src))
    });
    group.bench_function("half_slice_bf16_to_f32", |bch| {
        bch.iter(|| brains.convert_to_f32_slice(wide))
    });
    group.bench_function("half_slice_f32_to_bf16", |bch| {
        bch.iter(|| brains.convert_from_f32_slice(src))
    });
    group.finish();
}

/// Paired K-elt check, robust to a busy machine: each repetition times the
/// anchor copy and then the kernel back to back; the table shows the ratio of
/// the fastest copy to the fastest kernel run (min-of-N is the least-disturbed
/// sample) and the median of the per-repetition ratios. Runs only when
/// `SMALL_TUNE_PAIRED=1` is set, and prints instead of using criterion's
/// reports (criterion still drives the binary).
fn paired_k_elt(_c: &mut Criterion) {
    if std::env::var_os("SMALL_TUNE_PAIRED").is_none() {
        return;
    }
    let sizes: Vec<usize> = match std::env::var("SMALL_TUNE_PAIRED_N") {
        Ok(list) => list
            .split(',')
            .map(|v| v.trim().parse().expect("SMALL_TUNE_PAIRED_N: sizes"))
            .collect(),
        Err(_) => vec![10_000_000],
    };
    for n in sizes {
        paired_k_elt_at(n);
    }
    for rows in [16 * 64, 8 * 16 * 64] {
        paired_k_norm(rows);
    }
}

/// K-norm `rows`×512 on one thread vs split across the default pool, min of 25
/// interleaved runs each.
fn paired_k_norm(rows: usize) {
    const REPS: usize = 25;
    let row_len = 512;
    let x = data(rows * row_len, 6);
    let x = x.get();
    let (gamma, beta) = (data(row_len, 7), data(row_len, 8));
    let (gamma, beta) = (gamma.get(), beta.get());
    let mut out = Buf::zeros(x.len());
    let out = out.get_mut();
    let mut copy_dst = Buf::zeros(x.len());
    let copy_dst = copy_dst.get_mut();
    let (pool1, path) = (one_thread(), best());
    println!(
        "paired K-norm {rows}x{row_len}, path {path}: min of {REPS} (copy of x: same bytes touched)"
    );
    for name in ["layer_norm", "rms_norm"] {
        let mut mins = [f64::MAX; 3];
        for _ in 0..REPS {
            let start = Instant::now();
            copy_dst.copy_from_slice(black_box(x));
            black_box(&mut *copy_dst);
            mins[0] = mins[0].min(start.elapsed().as_secs_f64());
            for (k, pool) in [(1, Some(&pool1)), (2, None)] {
                let t = timed_in(pool, 1, &mut || {
                    with_path(path, || match name {
                        "layer_norm" => norm::layer_norm_rows(x, gamma, beta, 1e-5, out).unwrap(),
                        _ => norm::rms_norm_rows(x, gamma, 1e-6, out).unwrap(),
                    })
                    .unwrap();
                    black_box(&mut *out);
                });
                mins[k] = mins[k].min(t.as_secs_f64());
            }
        }
        println!(
            "{name:<12} copy {:>7.1}us  1t {:>7.1}us  default {:>7.1}us",
            mins[0] * 1e6,
            mins[1] * 1e6,
            mins[2] * 1e6
        );
    }
}

fn paired_k_elt_at(n: usize) {
    const REPS: usize = 25;
    // Calls per timed sample: about 10 M elements' worth, at least one.
    let inner = (10_000_000 / n).max(1) as u64;
    let (a, b) = (data(n, 1), data(n, 2));
    let (a, b) = (a.get(), b.get());
    // `SMALL_TUNE_OUT_SHIFT` moves `out` by that many f32 (4 KiB aliasing check).
    let shift: usize = std::env::var("SMALL_TUNE_OUT_SHIFT").map_or(0, |v| v.parse().unwrap_or(0));
    let mut out = Buf::zeros(n + shift);
    let out = &mut out.get_mut()[shift..];
    let copy_src = data(n + n / 2, 3);
    let copy_src = copy_src.get();
    let mut copy_dst = Buf::zeros(n + n / 2);
    let copy_dst = copy_dst.get_mut();
    let pool1 = one_thread();
    let path = best();
    let page_offset = |p: *const f32, q: *const f32| (p as usize).wrapping_sub(q as usize) % 4096;
    println!(
        "paired K-elt, n = {n}, path {path}, {REPS} repetitions; (out - a) mod 4096 = {}, (out - b) mod 4096 = {}",
        page_offset(out.as_ptr(), a.as_ptr()),
        page_offset(out.as_ptr(), b.as_ptr())
    );
    println!(
        "{:<22} {:>10} {:>10} {:>9} {:>9}",
        "kernel", "copy min", "kern min", "min/min", "median"
    );
    type Kernel<'k> = Box<dyn FnMut(&mut [f32]) + Send + 'k>;
    let kernels: Vec<(&str, bool, Kernel)> = vec![
        (
            "add",
            true,
            Box::new(|out: &mut [f32]| vector::add(a, b, out).unwrap()),
        ),
        (
            "mul",
            true,
            Box::new(|out: &mut [f32]| vector::mul(a, b, out).unwrap()),
        ),
        (
            "axpy",
            true,
            Box::new(|out: &mut [f32]| vector::axpy(1e-9, a, out).unwrap()),
        ),
        (
            "add_inplace",
            true,
            Box::new(|out: &mut [f32]| vector::add_inplace(out, a).unwrap()),
        ),
        (
            "scale",
            false,
            Box::new(|out: &mut [f32]| vector::scale(0.999, a, out).unwrap()),
        ),
    ];
    for (name, three_streams, mut kernel) in kernels {
        let copy_len = if three_streams { n + n / 2 } else { n };
        for (label, pool) in [("1t", Some(&pool1)), ("default", None)] {
            let (mut copy_min, mut kern_min, mut ratios) = (f64::MAX, f64::MAX, Vec::new());
            for _ in 0..REPS {
                let start = Instant::now();
                for _ in 0..inner {
                    copy_dst[..copy_len].copy_from_slice(black_box(&copy_src[..copy_len]));
                    black_box(&mut *copy_dst);
                }
                let copy = start.elapsed().as_secs_f64() / inner as f64;
                let kern = timed_in(pool, inner, &mut || {
                    with_path(path, || kernel(&mut *out)).unwrap();
                    black_box(&mut *out);
                })
                .as_secs_f64()
                    / inner as f64;
                copy_min = copy_min.min(copy);
                kern_min = kern_min.min(kern);
                ratios.push(copy / kern);
            }
            ratios.sort_by(f64::total_cmp);
            println!(
                "{:<22} {:>8.2}us {:>8.2}us {:>8.0}% {:>8.0}%",
                format!("{name}/{label}"),
                copy_min * 1e6,
                kern_min * 1e6,
                100.0 * copy_min / kern_min,
                100.0 * ratios[REPS / 2]
            );
        }
    }
}

criterion_group!(
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = paired_k_elt, bench_k_elt, bench_reductions, bench_k_norm, bench_rope, bench_convert
);
criterion_main!(benches);
