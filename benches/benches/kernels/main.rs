//! Wall-clock benches of the kernel workloads of `WORKLOADS.md` (all but K-attn),
//! with peers and anchors timed in the same process so ratios are meaningful on a noisy
//! machine:
//! - K-gemm against the `gemm` crate and `matrixmultiply` ([`gemm`]);
//! - K-gemv against a plain read of the same weight bytes ([`gemv`]);
//! - K-quant (block dots, quantized GEMV, and the prefill GEMM) against a plain read of the same
//!   weight bytes and our f32 kernels ([`quant`]);
//! - K-elt, K-act, K-softmax and K-norm against a plain copy of the same bytes
//!   ([`elementwise`], [`softmax`], [`norm`]).
//!
//! Our kernels take the best SIMD path of this CPU unless `SMALLMIND_SIMD` says otherwise;
//! the path is printed at startup. Each measurement runs on a rayon pool of exactly the
//! thread count in its id.
//!
//! `matrixmultiply` reads its thread count once per process from `MATMUL_NUM_THREADS`; this
//! binary sets it to 1 when unset, so its figures are single-threaded unless you run e.g.
//! `MATMUL_NUM_THREADS=2 cargo bench --bench kernels -- gemm`.
//!
//! Run everything: `cargo bench -p smallmind-benches --bench kernels`; one family:
//! append `-- gemm/` (or `gemv/`, `elt/`, `act/`, `softmax/`, `norm/`, `quant_`).

mod common;
mod elementwise;
mod gemm;
mod gemv;
mod gemv_half;
mod norm;
mod quant;
mod softmax;

use criterion::Criterion;

/// `MATMUL_NUM_THREADS`, set to 1 first if it is unset or not a thread count.
fn pin_matrixmultiply_threads() -> usize {
    const VAR: &str = "MATMUL_NUM_THREADS";
    match std::env::var(VAR)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(threads) if threads >= 1 => threads,
        _ => {
            // SAFETY: this runs first thing in `main`, before criterion, rayon or
            // matrixmultiply start any thread, so nothing can read the environment concurrently.
            unsafe { std::env::set_var(VAR, "1") };
            1
        }
    }
}

fn main() {
    let matmul_threads = pin_matrixmultiply_threads();
    eprintln!(
        "smallmind kernels: SIMD path {} (available: {}); matrixmultiply threads: {matmul_threads}",
        smallmind_kernels::active_path(),
        smallmind_kernels::available_paths()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(err) = smallmind_kernels::dispatch::env_override_error() {
        eprintln!("warning: SMALLMIND_SIMD ignored: {err}");
    }

    let mut c = Criterion::default().configure_from_args();
    gemm::bench(&mut c, matmul_threads);
    gemv::bench(&mut c);
    gemv_half::bench(&mut c);
    elementwise::bench_elt(&mut c);
    elementwise::bench_act(&mut c);
    softmax::bench(&mut c);
    norm::bench(&mut c);
    quant::bench(&mut c);
    c.final_summary();
}
