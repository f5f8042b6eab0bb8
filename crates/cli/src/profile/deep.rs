//! `--deep`: kernel sweeps next to the model profile, on the same thread count and SIMD path.
//! GEMM at the square and prefill-shaped sizes of K-gemm (GFLOP/s), GELU over the K-act lengths
//! and softmax over the K-softmax rows (GB/s of data read and written).
//!
//! Each figure is the best of a few timed batches; the criterion benches
//! (`cargo bench -p smallmind-benches --bench kernels`) remain the reference for kernel speed.

use std::time::{Duration, Instant};

use smallmind_kernels::KernelError;
use smallmind_kernels::activation::{gelu_erf, gelu_tanh};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::softmax::softmax_rows_inplace;
use smallmind_telemetry::{Metric, Report};

use super::BoxError;

/// Time each batch aims for.
const BATCH: Duration = Duration::from_millis(40);
/// Batches per figure (the best one counts).
const BATCHES: usize = 5;
/// `(M, K, N)` of the GEMM sweep.
const GEMM_SHAPES: [(usize, usize, usize); 7] = [
    (64, 64, 64),
    (128, 128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
    (128, 576, 1536),
    (128, 1536, 576),
];
/// Lengths of the GELU sweep.
const GELU_LENGTHS: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// `(rows, row length)` of the softmax sweep.
const SOFTMAX_SHAPES: [(usize, usize); 4] = [(64, 256), (64, 1024), (64, 2048), (1000, 1000)];

/// Runs every sweep on a team of `threads` workers (default: physical cores), as a session
/// runs its kernels.
pub(super) fn kernel_sweeps(threads: Option<usize>) -> Result<Report, BoxError> {
    let threads = threads.unwrap_or_else(smallmind_model::session::physical_cores);
    let team = smallmind_kernels::Team::new(threads, "smallmind-sweep")?;
    let metrics = team.install(|| -> Result<Vec<Metric>, KernelError> {
        let mut metrics = gemm_sweep()?;
        metrics.extend(gelu_sweep()?);
        metrics.extend(softmax_sweep()?);
        Ok(metrics)
    })?;
    Ok(Report {
        workload: format!("kernels/{threads}t"),
        title: format!(
            "kernel sweeps · {threads} threads · SIMD {:?}",
            smallmind_kernels::active_path()
        ),
        metrics,
        runs: 1,
        ..Report::default()
    })
}

fn gemm_sweep() -> Result<Vec<Metric>, KernelError> {
    GEMM_SHAPES
        .iter()
        .map(|&(m, k, n)| {
            let (a, b, mut c) = (filled(m * k), filled(k * n), vec![0.0; m * n]);
            let spec = Gemm::new(m, n, k);
            gemm(&spec, &a, &b, &mut c)?;
            let t = best_time(|| gemm(&spec, &a, &b, &mut c).expect("checked above"));
            let flops = 2.0 * (m * k * n) as f64;
            Ok(Metric::higher(
                &format!("gemm {m}×{k}×{n}"),
                flops / t / 1e9,
                "GFLOP/s",
            ))
        })
        .collect()
}

fn gelu_sweep() -> Result<Vec<Metric>, KernelError> {
    let mut metrics = Vec::new();
    for len in GELU_LENGTHS {
        let (x, mut y) = (filled(len), vec![0.0; len]);
        let bytes = 8.0 * len as f64;
        for (form, gelu) in [("tanh", gelu_tanh as GeluFn), ("erf", gelu_erf as GeluFn)] {
            gelu(&x, &mut y)?;
            let t = best_time(|| gelu(&x, &mut y).expect("checked above"));
            metrics.push(Metric::higher(
                &format!("gelu {form} {len}"),
                bytes / t / 1e9,
                "GB/s",
            ));
        }
    }
    Ok(metrics)
}

type GeluFn = fn(&[f32], &mut [f32]) -> Result<(), KernelError>;

fn softmax_sweep() -> Result<Vec<Metric>, KernelError> {
    SOFTMAX_SHAPES
        .iter()
        .map(|&(rows, len)| {
            let mut data = filled(rows * len);
            softmax_rows_inplace(&mut data, len, None)?;
            let t =
                best_time(|| softmax_rows_inplace(&mut data, len, None).expect("checked above"));
            let bytes = 8.0 * (rows * len) as f64;
            Ok(Metric::higher(
                &format!("softmax {rows}×{len}"),
                bytes / t / 1e9,
                "GB/s",
            ))
        })
        .collect()
}

/// The best seconds per call over [`BATCHES`] batches of about [`BATCH`] each.
fn best_time(mut call: impl FnMut()) -> f64 {
    let start = Instant::now();
    call();
    let one = start.elapsed().as_secs_f64().max(1e-9);
    let per_batch = ((BATCH.as_secs_f64() / one).ceil() as usize).max(1);
    (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                call();
            }
            start.elapsed().as_secs_f64() / per_batch as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Deterministic values in [-1, 1).
fn filled(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 2048) as f32 / 1024.0) - 1.0)
        .collect()
}
