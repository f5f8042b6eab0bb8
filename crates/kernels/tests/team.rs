//! The persistent worker team: every worker runs each region once, barriers
//! hold, nested and contended regions fall back to one worker, panics reach
//! the caller, and parked workers wake up. (`no_alloc.rs` proves a region
//! allocates nothing.)

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smallmind_kernels::Team;
use smallmind_kernels::team::{SPIN, Worker};

#[test]
fn team_every_worker_runs_each_region_once() {
    for workers in 1..=4 {
        let team = Team::new(workers, "test").unwrap();
        assert_eq!(team.workers(), workers);
        for _ in 0..200 {
            let hits: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
            team.run(&|w: Worker<'_>| {
                assert_eq!(w.count(), workers);
                hits[w.index()].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }
}

#[test]
fn team_barrier_separates_phases() {
    for workers in 1..=4 {
        let team = Team::new(workers, "test").unwrap();
        let slots: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
        team.run(&|w: Worker<'_>| {
            for phase in 1..=100 {
                slots[w.index()].store(phase, Ordering::Relaxed);
                w.barrier();
                // Every worker wrote this phase before anyone passed.
                for s in &slots {
                    assert_eq!(s.load(Ordering::Relaxed), phase);
                }
                w.barrier();
            }
        });
    }
}

#[test]
fn team_nested_region_runs_on_the_caller_alone() {
    let team = Team::new(2, "test").unwrap();
    let inner_counts = Mutex::new(Vec::new());
    team.run(&|_w: Worker<'_>| {
        team.run(&|inner: Worker<'_>| {
            inner_counts
                .lock()
                .unwrap()
                .push((inner.index(), inner.count()));
            inner.barrier();
        });
    });
    assert_eq!(*inner_counts.lock().unwrap(), vec![(0, 1), (0, 1)]);
}

#[test]
fn team_worker_panic_reaches_the_caller_and_the_team_survives() {
    let team = Team::new(3, "test").unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        team.run(&|w: Worker<'_>| {
            if w.index() == 2 {
                panic!("worker 2 fails");
            }
            // The others wait at a barrier worker 2 never reaches.
            w.barrier();
        });
    }));
    assert!(result.is_err());
    let ran = AtomicUsize::new(0);
    team.run(&|w: Worker<'_>| {
        w.barrier();
        ran.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(ran.load(Ordering::Relaxed), 3);
}

#[test]
fn team_parked_workers_wake_for_the_next_region() {
    let team = Team::new(2, "test").unwrap();
    for _ in 0..3 {
        // Long enough for the worker to stop spinning and park.
        std::thread::sleep(SPIN * 20 + Duration::from_millis(2));
        let ran = AtomicUsize::new(0);
        team.run(&|_w: Worker<'_>| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    }
}

#[test]
fn team_shared_by_two_threads_never_runs_two_regions_at_once() {
    let team = Team::new(2, "test").unwrap();
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..500 {
                    team.run(&|w: Worker<'_>| {
                        w.barrier();
                        total.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
        }
    });
    // Each region ran on one worker (contended) or two (held the team).
    let total = total.load(Ordering::Relaxed);
    assert!((1000..=2000).contains(&total), "{total}");
}

#[test]
fn team_joined_region_runs_each_worker_at_most_once_and_the_caller_always() {
    for workers in 1..=4 {
        let team = Team::new(workers, "test").unwrap();
        for round in 0..300 {
            let hits: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
            team.run_joined(&|index| {
                hits[index].fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(hits[0].load(Ordering::Relaxed), 1, "round {round}");
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) <= 1));
        }
    }
}

#[test]
fn team_joined_region_finishes_with_a_parked_worker() {
    let team = Team::new(2, "test").unwrap();
    // Long enough for the worker to stop spinning and park.
    std::thread::sleep(SPIN * 20 + Duration::from_millis(2));
    // The caller claims every part; the worker joins if it wakes in time.
    let claimed = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    team.run_joined(&|_| {
        while next.fetch_add(1, Ordering::Relaxed) < 64 {
            claimed.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert_eq!(claimed.load(Ordering::Relaxed), 64);
    // The team is still whole: a full region reaches both workers.
    let ran = AtomicUsize::new(0);
    team.run(&|w: Worker<'_>| {
        w.barrier();
        ran.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(ran.load(Ordering::Relaxed), 2);
}

#[test]
fn team_parts_region_runs_every_part_exactly_once() {
    for workers in 1..=4 {
        let team = Team::new(workers, "test").unwrap();
        for parts in [0, 1, 2, 3, 7, 16, 61] {
            for asked in 1..=workers + 1 {
                for _ in 0..50 {
                    let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
                    team.run_parts(parts, asked, &|p| {
                        hits[p].fetch_add(1, Ordering::Relaxed);
                    });
                    let counts: Vec<usize> =
                        hits.iter().map(|h| h.load(Ordering::Relaxed)).collect();
                    assert!(
                        counts.iter().all(|&c| c == 1),
                        "{workers} workers, {parts} parts, {asked} asked: {counts:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn team_parts_region_finishes_a_slow_workers_share() {
    // If worker 1 joins, its first part (16) waits until part 31, the last of
    // its own share, has run: only the caller, stealing from the back, can run
    // it meanwhile. Without stealing the wait would time out.
    let team = Team::new(2, "test").unwrap();
    for _ in 0..20 {
        let hits: Vec<AtomicUsize> = (0..32).map(|_| AtomicUsize::new(0)).collect();
        team.run_parts(32, 2, &|p| {
            if p == 16 && std::thread::current().name() == Some("test-1") {
                let start = std::time::Instant::now();
                while hits[31].load(Ordering::Relaxed) == 0 {
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "part 31 never stolen"
                    );
                    std::thread::yield_now();
                }
            }
            hits[p].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }
}

#[test]
fn team_parts_region_with_a_parked_worker_runs_everything() {
    let team = Team::new(2, "test").unwrap();
    std::thread::sleep(SPIN * 20 + Duration::from_millis(2));
    let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
    team.run_parts(64, 2, &|p| {
        hits[p].fetch_add(1, Ordering::Relaxed);
    });
    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
}
