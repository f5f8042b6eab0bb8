//! What one parallel region costs on this machine, with no work in it.
//!
//! Times, on a [`Team`] of 2 workers, back to back as decode runs them:
//! - an empty [`Team::run_joined`] region;
//! - an empty [`Team::run`] region, and one with 8 [`Worker::barrier`]s in it;
//! - [`parallel::for_each_part`] over 16 empty parts (the claims of one GEMV split);
//!
//! and prints the median nanoseconds per region (or per barrier) over interleaved rounds,
//! with how often the second worker took part.
//!
//! ```text
//! cargo run --release -p smallmind-kernels --example team_overhead -- [ROUNDS]
//! ```
//!
//! Run it on an idle machine (check `uptime`), like any timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use smallmind_kernels::Team;
use smallmind_kernels::parallel::{self, Split};

/// Regions per round.
const CALLS: u32 = 20_000;

/// The busy time of one part in the busy probes.
const PART_WORK: std::time::Duration = std::time::Duration::from_micros(1);

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(7, |a| a.parse().expect("ROUNDS is a number"));
    let team = Team::new(2, "probe").expect("spawn a worker");
    let joined = AtomicUsize::new(0);
    let parts = Split {
        len: 16,
        part_len: 1,
        parts: 16,
        workers: 2,
    };
    let busy_parts = |team: &Team| {
        team.install(|| {
            parallel::for_each_part(parts, |_| {
                let start = Instant::now();
                while start.elapsed() < PART_WORK {
                    std::hint::spin_loop();
                }
            })
        })
    };
    let solo = Team::new(1, "solo").expect("a team of one");
    let probes: [(&str, &dyn Fn()); 6] = [
        ("run_joined, empty", &|| {
            team.run_joined(&|w| {
                if w > 0 {
                    joined.fetch_add(1, Ordering::Relaxed);
                }
            })
        }),
        ("run, empty", &|| team.run(&|_| {})),
        ("run, 8 barriers (per barrier)", &|| {
            team.run(&|w| (0..8).for_each(|_| w.barrier()))
        }),
        ("for_each_part, 16 empty parts", &|| {
            team.install(|| {
                parallel::for_each_part(parts, |p| {
                    std::hint::black_box(p);
                })
            })
        }),
        ("16 parts of 1 µs, 1 worker", &|| busy_parts(&solo)),
        ("16 parts of 1 µs, 2 workers", &|| busy_parts(&team)),
    ];
    let mut times = vec![Vec::new(); probes.len()];
    for _ in 0..rounds {
        for (t, (_, probe)) in probes.iter().enumerate() {
            (0..CALLS / 10).for_each(|_| probe());
            let start = Instant::now();
            (0..CALLS).for_each(|_| probe());
            times[t].push(start.elapsed().as_nanos() as f64 / f64::from(CALLS));
        }
    }
    println!("team of 2, {rounds} rounds of {CALLS} regions, median ns:");
    for ((name, _), mut t) in probes.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        let per = if name.contains("per barrier") {
            8.0
        } else {
            1.0
        };
        println!("  {name:<34} {:>8.0}", t[t.len() / 2] / per);
    }
    let calls = (u64::from(CALLS) + u64::from(CALLS / 10)) * rounds as u64;
    println!(
        "  worker 1 joined {:.0}% of run_joined regions",
        100.0 * joined.into_inner() as f64 / calls as f64
    );
}
