//! Scratch tuning bench for the activation and softmax kernels: each kernel is
//! timed next to a plain copy of the same bytes in the same binary, so the
//! issue's ratios (GELU/SiLU ≤ 2× copy at 1M, softmax 1000×1000 ≤ 3× copy) can be
//! read off one run.
//!
//! `cargo bench -p smallmind-kernels --bench act_tune` (default rayon threads);
//! prefix `RAYON_NUM_THREADS=1` for one thread, `SMALLMIND_SIMD=v3` for a path.
//!
//! On a shared, noisy machine criterion's medians drift between groups; with
//! `ACT_TUNE_MIN=1` the bench instead prints a min-of-N table where every
//! kernel is timed alternately with the copy it is compared to, so both see
//! the same interference and the minimum approximates the quiet-machine time.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use smallmind_kernels::{activation, softmax};

fn input(n: usize) -> Vec<f32> {
    // A spread like pre-activation values: [-8, 8).
    (0..n)
        .map(|i| ((i.wrapping_mul(2_654_435_761) % 16_000) as f32) / 1000.0 - 8.0)
        .collect()
}

fn elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("elt");
    for n in [1_000usize, 10_000, 50_000, 100_000, 1_000_000] {
        let x = input(n);
        let mut out = vec![0.0f32; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("copy", n), &n, |b, _| {
            b.iter(|| black_box(&mut out).copy_from_slice(black_box(&x)))
        });
        group.bench_with_input(BenchmarkId::new("gelu_tanh", n), &n, |b, _| {
            b.iter(|| activation::gelu_tanh(black_box(&x), &mut out).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("gelu_erf", n), &n, |b, _| {
            b.iter(|| activation::gelu_erf(black_box(&x), &mut out).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("silu", n), &n, |b, _| {
            b.iter(|| activation::silu(black_box(&x), &mut out).unwrap())
        });
        let mut data = x.clone();
        group.bench_with_input(BenchmarkId::new("gelu_tanh_inplace", n), &n, |b, _| {
            b.iter(|| {
                // Re-seed from x each time so the values stay in range: the copy is
                // part of the measured time, compare with `copy` + `gelu_tanh`.
                data.copy_from_slice(&x);
                activation::gelu_tanh_inplace(black_box(&mut data))
            })
        });
    }
    group.finish();
}

fn softmax_rows(c: &mut Criterion) {
    let mut group = c.benchmark_group("softmax");
    for (rows, row_len) in [(1000usize, 1000usize), (64, 1024), (1, 1024)] {
        let n = rows * row_len;
        let x: Vec<f32> = input(n).iter().map(|v| v * 4.0).collect();
        let mut data = x.clone();
        let mut out = vec![0.0f32; n];
        let id = format!("{rows}x{row_len}");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("copy", &id), |b| {
            b.iter(|| black_box(&mut out).copy_from_slice(black_box(&x)))
        });
        group.bench_function(BenchmarkId::new("rows", &id), |b| {
            // Softmax of a softmax output is the same amount of work.
            b.iter(|| softmax::softmax_rows_inplace(black_box(&mut data), row_len, None).unwrap())
        });
        group.bench_function(BenchmarkId::new("rows_causal", &id), |b| {
            b.iter(|| {
                softmax::softmax_rows_inplace(black_box(&mut data), row_len, Some(0)).unwrap()
            })
        });
    }
    group.finish();
}

/// Minimum over `reps` alternating runs of `copy` and `kernel`: (kernel, copy).
fn min_alternating(
    reps: usize,
    mut copy: impl FnMut(),
    mut kernel: impl FnMut(),
) -> (Duration, Duration) {
    let (mut best_k, mut best_c) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let t = Instant::now();
        copy();
        best_c = best_c.min(t.elapsed());
        let t = Instant::now();
        kernel();
        best_k = best_k.min(t.elapsed());
    }
    (best_k, best_c)
}

fn print_row(name: &str, size: &str, (k, c): (Duration, Duration)) {
    let (k, c) = (k.as_secs_f64() * 1e6, c.as_secs_f64() * 1e6);
    println!(
        "| {name:<18} | {size:>10} | {k:>10.2} | {c:>9.2} | {:>5.2} |",
        k / c
    );
}

/// The min-of-N ratio table (see the module docs).
fn min_table() {
    println!(
        "rayon threads: {}, SIMD path: {}",
        rayon::current_num_threads(),
        smallmind_kernels::active_path()
    );
    println!("| kernel             |       size |   ours µs |   copy µs | ratio |");
    println!("|--------------------|------------|------------|-----------|-------|");
    type Act = fn(&[f32], &mut [f32]) -> Result<(), smallmind_kernels::KernelError>;
    let kernels: [(&str, Act); 3] = [
        ("gelu_tanh", activation::gelu_tanh),
        ("gelu_erf", activation::gelu_erf),
        ("silu", activation::silu),
    ];
    for n in [1_000usize, 10_000, 50_000, 100_000, 1_000_000] {
        let x = input(n);
        let mut out = vec![0.0f32; n];
        let mut copy_out = vec![0.0f32; n];
        let reps = (200_000_000 / n).clamp(200, 20_000);
        for (name, kernel) in kernels {
            let t = min_alternating(
                reps,
                || black_box(&mut copy_out).copy_from_slice(black_box(&x)),
                || kernel(black_box(&x), black_box(&mut out)).unwrap(),
            );
            print_row(name, &n.to_string(), t);
        }
    }
    for (rows, row_len, causal) in [
        (1000usize, 1000usize, None),
        (1000, 1000, Some(0)),
        (1, 1024, None),
    ] {
        let n = rows * row_len;
        let x: Vec<f32> = input(n).iter().map(|v| v * 4.0).collect();
        let mut data = x.clone();
        let mut copy_out = vec![0.0f32; n];
        let reps = (200_000_000 / n).clamp(200, 20_000);
        let t = min_alternating(
            reps,
            || black_box(&mut copy_out).copy_from_slice(black_box(&x)),
            || softmax::softmax_rows_inplace(black_box(&mut data), row_len, causal).unwrap(),
        );
        let name = if causal.is_some() {
            "softmax causal"
        } else {
            "softmax"
        };
        print_row(name, &format!("{rows}x{row_len}"), t);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = elementwise, softmax_rows
}
fn main() {
    if std::env::var_os("ACT_TUNE_MIN").is_some() {
        min_table();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
