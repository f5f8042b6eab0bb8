//! GEMM/GEMV tuning bench: ours vs the `gemm` crate vs `matrixmultiply`, in one
//! binary so ratios are taken under the same machine load.
//!
//! Throughput is reported in "elements/s" = flop/s (GEMM) or bytes/s (GEMV).
//! Filters: `st/` (1 thread), `bt/` (1 thread, A·Bᵀ), `mt/` (2 threads),
//! `gemv/`. Example:
//! `cargo bench -p smallmind-kernels --bench gemm_tune -- st/ --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use smallmind_kernels::gemm::{Gemm, gemm as ours};
use smallmind_kernels::gemv::gemv;

/// (m, k, n) shapes: squares and the prefill projections.
const SHAPES: &[(usize, usize, usize)] = &[
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

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32
                - 0.5
        })
        .collect()
}

/// A plain read of `xs`: a sum with 64 independent lanes so it vectorizes and
/// is bound by memory, not by add latency.
fn read_sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 64];
    let mut chunks = xs.chunks_exact(64);
    for ch in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(ch) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[allow(clippy::too_many_arguments)]
/// The `gemm` crate on row-major `(m,k)·(k,n)`, or `(m,k)·(n,k)ᵀ` when `bt`.
fn gemm_crate(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    bt: bool,
    par: gemm::Parallelism,
) {
    let (rhs_cs, rhs_rs) = if bt { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the buffers hold (m,k), (k,n)/(n,k) and (m,n) row-major matrices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            rhs_cs,
            rhs_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

fn label(m: usize, k: usize, n: usize) -> String {
    if m == k && k == n {
        format!("{m}^3")
    } else {
        format!("{m}x{k}x{n}")
    }
}

fn bench_gemm(c: &mut Criterion, group_name: &str, threads: usize, bt: bool) {
    let pool = pool(threads);
    let par = if threads == 1 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    };
    for &(m, k, n) in SHAPES {
        if threads > 1 && m * k * n < 256 * 256 * 256 {
            continue;
        }
        let mut group = c.benchmark_group(format!("{group_name}/{}", label(m, k, n)));
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        if m * n * k >= 1 << 30 {
            group.sample_size(10);
        }
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let g = if bt {
            Gemm::new(m, n, k).transpose_b()
        } else {
            Gemm::new(m, n, k)
        };
        group.bench_function("ours", |bench| {
            pool.install(|| {
                bench.iter(|| ours(&g, black_box(&a), black_box(&b), &mut out).unwrap())
            })
        });
        group.bench_function("gemm", |bench| {
            pool.install(|| {
                bench.iter(|| gemm_crate(m, n, k, black_box(&a), black_box(&b), &mut out, bt, par))
            })
        });
        if !bt && threads == 1 {
            group.bench_function("mm", |bench| {
                bench.iter(|| {
                    // SAFETY: row-major (m,k)·(k,n) into (m,n), all buffers sized.
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            k,
                            n,
                            1.0,
                            black_box(&a).as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            out.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                })
            });
        }
        group.finish();
    }
}

/// Best-of-N GFLOP/s of `f` for a `flops` problem (robust to a noisy neighbour).
fn best_gflops(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::INFINITY;
    let start = std::time::Instant::now();
    let mut reps = 0;
    while reps < 5 || (start.elapsed().as_secs_f64() < 0.4 && reps < 2000) {
        let t = std::time::Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    flops / best / 1e9
}

/// `GEMM_QUICK=1`: a best-of-N table (ours vs `gemm` crate, plain and Bᵀ, 1
/// thread), printed before criterion starts. For tuning only.
fn quick_table() {
    if std::env::var_os("GEMM_QUICK").is_none() {
        return;
    }
    let pool = pool(1);
    // `GEMM_QUICK=1`: shapes up to 512³; `all`: every shape; anything else:
    // the shapes whose label contains it.
    let which = std::env::var("GEMM_QUICK").unwrap_or_default();
    for &(m, k, n) in SHAPES {
        let keep = match which.as_str() {
            "1" => m * k * n <= 1 << 28,
            "all" => true,
            filter => label(m, k, n).contains(filter),
        };
        if !keep {
            continue;
        }
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let mut row = format!("{:>16}", label(m, k, n));
        for bt in [false, true] {
            let g = if bt {
                Gemm::new(m, n, k).transpose_b()
            } else {
                Gemm::new(m, n, k)
            };
            let o = pool.install(|| best_gflops(flops, || ours(&g, &a, &b, &mut out).unwrap()));
            let r = pool.install(|| {
                best_gflops(flops, || {
                    gemm_crate(m, n, k, &a, &b, &mut out, bt, gemm::Parallelism::None)
                })
            });
            row += &format!(
                "  {}: ours {o:6.1} gemm {r:6.1} ratio {:.2}",
                if bt { "bt" } else { "nn" },
                o / r
            );
        }
        println!("{row}");
    }
    std::process::exit(0);
}

/// `GEMM_PAIR=<filter>`: plain and Bᵀ calls alternated (1 thread), so both
/// see the same neighbour load; prints min and median GFLOP/s of each and the
/// Bᵀ/plain median time ratio. For tuning only.
fn pair_table() {
    let Some(filter) = std::env::var_os("GEMM_PAIR") else {
        return;
    };
    let filter = filter.to_string_lossy().into_owned();
    let pool = pool(1);
    // `GEMM_PAIR=m,k,n` times that one shape instead.
    let dims: Vec<usize> = filter.split(',').filter_map(|d| d.parse().ok()).collect();
    let custom: Vec<(usize, usize, usize)> =
        dims.chunks_exact(3).map(|d| (d[0], d[1], d[2])).collect();
    let shapes: &[(usize, usize, usize)] = if dims.len() == 3 { &custom } else { SHAPES };
    for &(m, k, n) in shapes {
        if dims.len() != 3 && !label(m, k, n).contains(&filter) {
            continue;
        }
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let gs = [Gemm::new(m, n, k), Gemm::new(m, n, k).transpose_b()];
        let mut times = [Vec::new(), Vec::new()];
        pool.install(|| {
            let start = std::time::Instant::now();
            while times[0].len() < 7
                || (start.elapsed().as_secs_f64() < 3.0 && times[0].len() < 20000)
            {
                for (g, ts) in gs.iter().zip(times.iter_mut()) {
                    let t = std::time::Instant::now();
                    ours(g, &a, &b, &mut out).unwrap();
                    ts.push(t.elapsed().as_secs_f64());
                }
            }
        });
        let mut row = format!("{:>16}", label(m, k, n));
        let mut med = [0.0; 2];
        for (i, ts) in times.iter_mut().enumerate() {
            ts.sort_by(f64::total_cmp);
            med[i] = ts[ts.len() / 2];
            row += &format!(
                "  {}: min {:6.1} med {:6.1}",
                ["nn", "bt"][i],
                flops / ts[0] / 1e9,
                flops / med[i] / 1e9
            );
        }
        row += &format!(
            "  bt/nn time (med) {:.3}  reps {}",
            med[1] / med[0],
            times[0].len()
        );
        println!("{row}");
    }
    std::process::exit(0);
}

/// `GEMM_THRESH=1`: best-of-N 1 vs 2 threads at small sizes (to place the
/// parallel threshold). For tuning only.
fn threshold_table() {
    if std::env::var_os("GEMM_THRESH").is_none() {
        return;
    }
    let (p1, p2) = (pool(1), pool(2));
    for s in [48usize, 64, 96, 128, 160, 192, 256] {
        let a = data(s * s, 1);
        let b = data(s * s, 2);
        let mut out = vec![0.0f32; s * s];
        let g = Gemm::new(s, s, s);
        let flops = g.flops();
        let t1 = p1.install(|| best_gflops(flops, || ours(&g, &a, &b, &mut out).unwrap()));
        let t2 = p2.install(|| best_gflops(flops, || ours(&g, &a, &b, &mut out).unwrap()));
        println!("gemm {s}^3: 1t {t1:6.1} 2t {t2:6.1} speedup {:.2}", t2 / t1);
    }
    for (k, n) in [
        (64usize, 256usize),
        (128, 512),
        (256, 512),
        (576, 576),
        (576, 2048),
    ] {
        let x = data(k, 1);
        let w = data(k * n, 2);
        let mut y = vec![0.0f32; n];
        for g in [Gemm::new(1, n, k), Gemm::new(1, n, k).transpose_b()] {
            let flops = g.flops();
            let t1 = p1.install(|| best_gflops(flops, || gemv(&g, &x, &w, &mut y).unwrap()));
            let t2 = p2.install(|| best_gflops(flops, || gemv(&g, &x, &w, &mut y).unwrap()));
            println!(
                "gemv k{k} n{n} bt={:?} ({} KiB): 1t {t1:6.1} 2t {t2:6.1} speedup {:.2}",
                g.trans_b,
                k * n * 4 / 1024,
                t2 / t1
            );
        }
    }
    std::process::exit(0);
}

/// `GEMV_QUICK=1`: best-of-N GiB/s of the 2-thread plain read and both GEMV
/// layouts at 1×576×49152, measured interleaved (one call of each per round)
/// so a noisy neighbour hits all three alike; prints per-round-set ratios.
fn gemv_quick() {
    if std::env::var_os("GEMV_QUICK").is_none() {
        return;
    }
    let (k, n) = (576, 49152);
    let pool = pool(2);
    let x = data(k, 3);
    let w = data(k * n, 4);
    let mut y = vec![0.0f32; n];
    let (g_bt, g_bn) = (Gemm::new(1, n, k).transpose_b(), Gemm::new(1, n, k));
    let gib = (k * n * 4) as f64 / (1u64 << 30) as f64;
    let time = |f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    pool.install(|| {
        for set in 0..5 {
            let mut all: [Vec<f64>; 3] = Default::default();
            for _ in 0..60 {
                let r = [
                    time(&mut || {
                        black_box(black_box(&w).par_chunks(1 << 16).map(read_sum).sum::<f32>());
                    }),
                    time(&mut || gemv(&g_bt, black_box(&x), black_box(&w), &mut y).unwrap()),
                    time(&mut || gemv(&g_bn, black_box(&x), black_box(&w), &mut y).unwrap()),
                ];
                for (v, t) in all.iter_mut().zip(r) {
                    v.push(t);
                }
            }
            for v in &mut all {
                v.sort_by(f64::total_cmp);
            }
            for (name, idx) in [("best", 0), ("median", 30)] {
                let [read, bt, bn] = [0, 1, 2].map(|i| gib / all[i][idx]);
                println!(
                    "set {set} {name:>6}: read {read:5.1} GiB/s  bt {bt:5.1} ({:.0}%)  bn {bn:5.1} ({:.0}%)",
                    100.0 * bt / read,
                    100.0 * bn / read
                );
            }
        }
    });
    std::process::exit(0);
}

fn single(c: &mut Criterion) {
    gemv_quick();
    threshold_table();
    pair_table();
    quick_table();
    // SAFETY: set before any thread reads the environment (matrixmultiply reads
    // it lazily on its first call, which comes later on this thread).
    unsafe { std::env::set_var("MATMUL_NUM_THREADS", "1") };
    bench_gemm(c, "st", 1, false);
}

fn single_bt(c: &mut Criterion) {
    bench_gemm(c, "bt", 1, true);
}

fn multi(c: &mut Criterion) {
    bench_gemm(c, "mt", 2, false);
    bench_gemm(c, "mtbt", 2, true);
}

fn bench_gemv(c: &mut Criterion) {
    let (k, n) = (576, 49152);
    let pool = pool(2);
    let x = data(k, 3);
    let w = data(k * n, 4);
    let mut y = vec![0.0f32; n];
    let mut group = c.benchmark_group("gemv/1x576x49152");
    group.throughput(Throughput::Bytes((k * n * 4) as u64));
    group.bench_function("read_2t", |bench| {
        pool.install(|| bench.iter(|| black_box(&w).par_chunks(1 << 16).map(read_sum).sum::<f32>()))
    });
    let g_bt = Gemm::new(1, n, k).transpose_b();
    group.bench_function("ours_bt_2t", |bench| {
        pool.install(|| bench.iter(|| gemv(&g_bt, black_box(&x), black_box(&w), &mut y).unwrap()))
    });
    let g_bn = Gemm::new(1, n, k);
    group.bench_function("ours_bn_2t", |bench| {
        pool.install(|| bench.iter(|| gemv(&g_bn, black_box(&x), black_box(&w), &mut y).unwrap()))
    });
    let pool1 = self::pool(1);
    group.bench_function("ours_bt_1t", |bench| {
        pool1.install(|| bench.iter(|| gemv(&g_bt, black_box(&x), black_box(&w), &mut y).unwrap()))
    });
    group.bench_function("read_1t", |bench| {
        pool1
            .install(|| bench.iter(|| black_box(&w).par_chunks(1 << 16).map(read_sum).sum::<f32>()))
    });
    group.finish();
}

criterion_group!(benches, single, single_bt, multi, bench_gemv);
criterion_main!(benches);
