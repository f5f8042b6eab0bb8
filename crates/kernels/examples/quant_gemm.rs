//! Quantized GEMM and GEMV speed on one worker, for the 32-value formats:
//! `cargo run --release -p smallmind-kernels --example quant_gemm -- N K M1,M2,..`
//! prints GMAC/s per format and activation-row count (M = 1 is the GEMV),
//! on one worker or on `SMALLMIND_THREADS` of them.
use std::time::Instant;

use smallmind_kernels::Team;
use smallmind_kernels::quant::{self, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8_0, WeightFormat};

/// Best seconds per call of `f` over a few rounds.
fn best_secs(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..40 {
        let reps = 4;
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(start.elapsed().as_secs_f64() / f64::from(reps));
    }
    best
}

/// GMAC/s of format `W` at each `m`.
fn measure<W: WeightFormat>(n: usize, k: usize, ms: &[usize]) {
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let mut wq = vec![W::default(); n * k / W::VALUES];
    quant::quantize(&w, &mut wq).expect("whole blocks");
    let mut line = format!("{:>5} n={n} k={k}:", W::NAME);
    for &m in ms {
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
            .collect();
        let mut xq = vec![W::Act::default(); m * k / W::VALUES];
        quant::quantize(&x, &mut xq).expect("whole blocks");
        let mut y = vec![0.0f32; m * n];
        let secs = best_secs(|| quant::gemm(&wq, n, k, &xq, m, &mut y).expect("valid"));
        line += &format!("  m={m} {:.1}", (n * k * m) as f64 / secs / 1e9);
    }
    println!("{line} GMAC/s");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(1536, |a| a.parse().expect("N"));
    let k: usize = args.get(1).map_or(576, |a| a.parse().expect("K"));
    let ms: Vec<usize> = args.get(2).map_or(vec![1, 4, 8, 64, 128], |a| {
        a.split(',').map(|m| m.parse().expect("M")).collect()
    });
    let threads = std::env::var("SMALLMIND_THREADS").map_or(1, |t| t.parse().expect("threads"));
    let team = Team::new(threads, "quant-gemm").expect("a team");
    team.install(|| {
        measure::<BlockQ4_0>(n, k, &ms);
        measure::<BlockQ4_1>(n, k, &ms);
        measure::<BlockQ5_0>(n, k, &ms);
        measure::<BlockQ8_0>(n, k, &ms);
    });
}
