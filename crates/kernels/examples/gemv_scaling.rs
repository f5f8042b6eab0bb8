//! How a decode-sized GEMV scales from one worker to two on this machine.
//!
//! Runs `y = W·x` over a ring of distinct matrices (more bytes than the last-level cache,
//! so every call streams its weights from memory, as decode does), on a [`Team`] of 1 and of
//! 2 workers, interleaved, and prints the median time per call and the bytes per second.
//!
//! ```text
//! cargo run --release -p smallmind-kernels --example gemv_scaling -- [ROWS COLS [ROUNDS [RING_MIB]]]
//! ```
//!
//! Defaults: 1536 × 576 (SmolLM2-135M's MLP matrices), Q4_0 and f32, a 512 MiB ring. A ring
//! smaller than the caches (`RING_MIB` 1) times the kernel's arithmetic instead of memory. Run it on an idle
//! machine (check `uptime`), like any timing.

use std::time::{Duration, Instant};

use smallmind_kernels::Team;
use smallmind_kernels::gemm::Gemm;
use smallmind_kernels::gemv::gemv;
use smallmind_kernels::quant::{self, BlockQ4_0, BlockQ8_0};

/// Bytes of weights in the ring by default: past any last-level cache this project has met
/// (260 MB).
const RING_MIB: usize = 512;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("ROWS COLS [ROUNDS] are numbers"))
        .collect();
    let (n, k) = (
        args.first().copied().unwrap_or(1536),
        args.get(1).copied().unwrap_or(576),
    );
    let rounds = args.get(2).copied().unwrap_or(7);
    let ring_bytes = args.get(3).copied().unwrap_or(RING_MIB) << 20;
    let teams = [
        Team::new(1, "probe").unwrap(),
        Team::new(2, "probe").unwrap(),
    ];
    let x: Vec<f32> = (0..k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
    let mut y = vec![0.0f32; n];

    let mut x_q = vec![BlockQ8_0::default(); k / 32];
    quant::quantize(&x, &mut x_q).unwrap();
    let q4_bytes = n * k / 32 * size_of::<BlockQ4_0>();
    let mut row = vec![0.0f32; n * k];
    row.iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = ((i * 31 % 17) as f32 - 8.0) / 8.0);
    let mut one = vec![BlockQ4_0::default(); n * k / 32];
    quant::quantize(&row, &mut one).unwrap();
    let q4_ring: Vec<Vec<BlockQ4_0>> = (0..(ring_bytes / q4_bytes).max(1))
        .map(|_| one.clone())
        .collect();
    report("Q4_0", q4_bytes, (ring_bytes, rounds), &teams, |i| {
        quant::gemv(&q4_ring[i % q4_ring.len()], n, k, &x_q, &mut y).unwrap();
    });

    let f32_bytes = n * k * 4;
    let f32_ring: Vec<Vec<f32>> = (0..(ring_bytes / f32_bytes).max(1))
        .map(|_| row.clone())
        .collect();
    let g = Gemm::new(1, n, k).transpose_b().ldb(k);
    report("F32", f32_bytes, (ring_bytes, rounds), &teams, |i| {
        gemv(&g, &x, &f32_ring[i % f32_ring.len()], &mut y).unwrap();
    });
}

/// Times `call(i)` over a ring of `ring_bytes` on each team, `rounds` interleaved rounds, and
/// prints the medians.
fn report(
    name: &str,
    bytes: usize,
    (ring_bytes, rounds): (usize, usize),
    teams: &[Team; 2],
    mut call: impl FnMut(usize),
) {
    let calls = (ring_bytes / bytes).max(64) * 2;
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (t, team) in teams.iter().enumerate() {
            team.install(|| {
                (0..calls / 4).for_each(&mut call);
                let start = Instant::now();
                (0..calls).for_each(&mut call);
                times[t].push(start.elapsed() / calls as u32);
            });
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (one, two) = (median(&mut times[0]), median(&mut times[1]));
    let gbs = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
    println!(
        "{name} {bytes} B: 1 worker {:.2} µs ({:.1} GB/s), 2 workers {:.2} µs ({:.1} GB/s), ×{:.2}",
        one.as_secs_f64() * 1e6,
        gbs(one),
        two.as_secs_f64() * 1e6,
        gbs(two),
        one.as_secs_f64() / two.as_secs_f64()
    );
}
