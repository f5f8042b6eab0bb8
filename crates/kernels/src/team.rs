//! A persistent worker team: `n − 1` threads that live as long as the
//! [`Team`], plus the thread that calls [`Team::run`] as worker 0.
//!
//! A *region* runs one closure on every worker with its [`Worker`] index;
//! [`Worker::barrier`] synchronises them inside it. Between regions a worker
//! spins for [`SPIN`] (so a region that follows within microseconds — the next
//! op of the same token — starts without a wake-up), then parks on a futex
//! (`std::thread::park`) so an idle team costs no CPU. Every wait (a worker for
//! the next region, the caller for the end of one, everyone at a barrier) is the
//! same bounded spin-then-park, so a machine whose cores are busy with other
//! processes slows the team down but cannot livelock it: a waiter that is not
//! woken within the budget gives its core away.
//!
//! This is the scheme of OpenMP's active-then-passive wait policy and of
//! ggml-cpu's threadpool (spin, then sleep on a condition), written for this
//! crate: a region is published by bumping an epoch counter, and the caller
//! waits for a count of finished workers. Nothing is allocated per region (the
//! closure is passed by reference and every counter lives in the team).
//!
//! A region that cannot get the team — run from inside another region, or
//! while another thread holds the team — runs on the caller alone, as a team
//! of one, so code written for any worker count stays correct.
//!
//! Kernels do not call this directly: [`crate::parallel`] splits their work
//! over the team installed on the calling thread ([`Team::install`]).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long a waiter spins before it parks: longer than the gap between two
/// ops of one decode step (a few µs), far shorter than a scheduler tick.
pub const SPIN: Duration = Duration::from_micros(100);

/// Spin iterations between two reads of the clock.
const SPINS_PER_CLOCK_READ: u32 = 64;

/// The closure of one region, lifetime erased (see [`Team::run`]).
type Region = dyn Fn(Worker<'_>) + Sync;

thread_local! {
    /// Whether this thread is running a region (nested regions run alone).
    static IN_REGION: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is inside a region of some team.
pub fn in_region() -> bool {
    IN_REGION.with(Cell::get)
}

/// One member's parking spot: the thread to unpark and whether it sleeps.
struct Sleeper {
    thread: Mutex<Option<Thread>>,
    parked: AtomicBool,
}

impl Sleeper {
    fn new(thread: Option<Thread>) -> Sleeper {
        Sleeper {
            thread: Mutex::new(thread),
            parked: AtomicBool::new(false),
        }
    }

    /// Returns once `ready()` holds: spins for [`SPIN`], then parks until a
    /// [`Sleeper::wake`]. `ready` must read the state its waker writes with
    /// `SeqCst` (the store-then-check handshake below relies on it).
    fn wait_until(&self, ready: impl Fn() -> bool) {
        let start = Instant::now();
        let mut spins = 0u32;
        while !ready() {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(SPINS_PER_CLOCK_READ) && start.elapsed() >= SPIN {
                self.park_until(&ready);
                return;
            }
        }
    }

    fn park_until(&self, ready: &impl Fn() -> bool) {
        loop {
            // Announce the sleep, then re-check: a waker makes `ready` true
            // before it reads `parked`, so it either sees `true` here (and
            // unparks) or we see its state in the check.
            self.parked.store(true, SeqCst);
            if ready() {
                self.parked.store(false, SeqCst);
                return;
            }
            thread::park();
        }
    }

    /// Unparks the member if it announced a sleep.
    fn wake(&self) {
        if self.parked.swap(false, SeqCst) {
            let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(thread) = thread.as_ref() {
                thread.unpark();
            }
        }
    }
}

/// What the workers and the caller share.
struct Shared {
    /// Workers including the caller.
    count: usize,
    /// `sleepers[0]` is the caller of the current region; `[i]` worker `i`.
    sleepers: Box<[Sleeper]>,
    /// Bumped once per region (and once at shutdown).
    epoch: AtomicU64,
    /// The current region's closure; written by the caller before it bumps
    /// `epoch`, read by workers after they see the new epoch.
    region: Mutex<Option<&'static Region>>,
    /// Workers (not the caller) done with the current region.
    finished: AtomicUsize,
    /// Barrier arrivals in the current phase, and the phase number.
    arrived: AtomicUsize,
    phase: AtomicU64,
    /// A worker's closure panicked in the current region.
    panicked: AtomicBool,
    /// Held by the thread running a region.
    busy: AtomicBool,
    shutdown: AtomicBool,
}

/// A persistent team of worker threads (see the module docs).
pub struct Team {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("workers", &self.workers())
            .finish()
    }
}

/// The view of the team one worker has inside a region.
#[derive(Clone, Copy)]
pub struct Worker<'t> {
    index: usize,
    shared: Option<&'t Shared>,
}

impl Worker<'_> {
    /// A team of one: the caller alone.
    const SOLO: Worker<'static> = Worker {
        index: 0,
        shared: None,
    };

    /// This worker's index, `0 .. count()`; 0 is the thread that called
    /// [`Team::run`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// Workers in this region.
    pub fn count(&self) -> usize {
        self.shared.map_or(1, |s| s.count)
    }

    /// Waits until every worker of the region has reached this barrier.
    /// Every worker must call it the same number of times.
    pub fn barrier(&self) {
        let Some(shared) = self.shared else { return };
        let phase = shared.phase.load(SeqCst);
        if shared.arrived.fetch_add(1, SeqCst) + 1 == shared.count {
            shared.arrived.store(0, SeqCst);
            shared.phase.fetch_add(1, SeqCst);
            for (i, sleeper) in shared.sleepers.iter().enumerate() {
                if i != self.index {
                    sleeper.wake();
                }
            }
        } else {
            shared.sleepers[self.index]
                .wait_until(|| shared.phase.load(SeqCst) != phase || shared.panicked.load(SeqCst));
        }
    }
}

impl Team {
    /// Starts a team of `workers` (at least 1): the caller of each region plus
    /// `workers − 1` threads named `{name}-{i}`.
    ///
    /// # Errors
    /// The operating system's error if a thread cannot be spawned.
    pub fn new(workers: usize, name: &str) -> std::io::Result<Team> {
        let count = workers.max(1);
        let shared = Arc::new(Shared {
            count,
            sleepers: (0..count).map(|_| Sleeper::new(None)).collect(),
            epoch: AtomicU64::new(0),
            region: Mutex::new(None),
            finished: AtomicUsize::new(0),
            arrived: AtomicUsize::new(0),
            phase: AtomicU64::new(0),
            panicked: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
        });
        let mut team = Team {
            shared,
            handles: Vec::with_capacity(count - 1),
        };
        for index in 1..count {
            let shared = Arc::clone(&team.shared);
            let handle = thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || worker_loop(&shared, index))?;
            *team.shared.sleepers[index]
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(handle.thread().clone());
            team.handles.push(handle);
        }
        Ok(team)
    }

    /// Workers, the caller included.
    pub fn workers(&self) -> usize {
        self.shared.count
    }

    /// Runs `region` once on every worker and returns when all are done.
    /// From inside a region, or while another thread runs one on this team,
    /// it runs `region` on the caller alone (a [`Worker`] of a team of one).
    ///
    /// A panic in any worker's call is re-raised here after every worker has
    /// finished (barriers stop waiting once a worker has panicked).
    pub fn run(&self, region: &(dyn Fn(Worker<'_>) + Sync)) {
        run_region(&self.shared, region);
    }

    /// Runs `f` with this team as the calling thread's current team, the one
    /// [`crate::parallel`] splits kernels over. Nests; restored on return or
    /// unwind.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        crate::parallel::with_team(TeamHandle(Arc::clone(&self.shared)), f)
    }
}

/// A counted reference to a team's shared state: the thread-local "current
/// team" of [`crate::parallel`].
#[derive(Clone)]
pub(crate) struct TeamHandle(Arc<Shared>);

impl TeamHandle {
    /// Workers in the team.
    pub(crate) fn workers(&self) -> usize {
        self.0.count
    }

    /// As [`Team::run`].
    pub(crate) fn run(&self, region: &(dyn Fn(Worker<'_>) + Sync)) {
        run_region(&self.0, region);
    }
}

/// [`Team::run`].
fn run_region(shared: &Shared, region: &(dyn Fn(Worker<'_>) + Sync)) {
    if shared.count == 1 || in_region() || shared.busy.swap(true, SeqCst) {
        return run_marked(|| region(Worker::SOLO));
    }
    // SAFETY: the reference is only used by workers between the epoch bump
    // below and their `finished` increment, and `Finish` (dropped before this
    // function returns, also on unwind) waits for every worker's increment
    // and clears the slot, so the erased lifetime is never used past the
    // borrow of `region`.
    let erased: &'static Region = unsafe { std::mem::transmute(region) };
    *lock(&shared.region) = Some(erased);
    *lock(&shared.sleepers[0].thread) = Some(thread::current());
    shared.finished.store(0, SeqCst);
    // A region that failed may have left arrivals at a barrier.
    shared.arrived.store(0, SeqCst);
    shared.epoch.fetch_add(1, SeqCst);
    for sleeper in &shared.sleepers[1..] {
        sleeper.wake();
    }

    /// Waits for the workers and releases the team, also on unwind.
    struct Finish<'a>(&'a Shared);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            let shared = self.0;
            if thread::panicking() {
                abort_region(shared);
            }
            let workers = shared.count - 1;
            shared.sleepers[0].wait_until(|| shared.finished.load(SeqCst) == workers);
            *lock(&shared.region) = None;
            shared.busy.store(false, SeqCst);
        }
    }
    let finish = Finish(shared);
    run_marked(|| {
        region(Worker {
            index: 0,
            shared: Some(shared),
        })
    });
    drop(finish);
    if shared.panicked.swap(false, SeqCst) {
        resume_unwind(Box::new("a team worker panicked"));
    }
}

/// Marks the region as failed and wakes everyone, so no barrier waits for a
/// worker that will never arrive.
fn abort_region(shared: &Shared) {
    shared.panicked.store(true, SeqCst);
    for sleeper in shared.sleepers.iter() {
        sleeper.wake();
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        if self.handles.is_empty() {
            return;
        }
        self.shared.shutdown.store(true, SeqCst);
        self.shared.epoch.fetch_add(1, SeqCst);
        for sleeper in &self.shared.sleepers[1..] {
            sleeper.wake();
        }
        for handle in self.handles.drain(..) {
            // A worker never panics outside `catch_unwind`.
            let _ = handle.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` with the thread marked as inside a region.
fn run_marked<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_REGION.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(IN_REGION.with(|c| c.replace(true)));
    f()
}

/// A worker thread: wait for an epoch, run the region, count itself done.
fn worker_loop(shared: &Shared, index: usize) {
    let me = &shared.sleepers[index];
    let mut seen = 0;
    loop {
        me.wait_until(|| shared.epoch.load(SeqCst) != seen);
        seen = shared.epoch.load(SeqCst);
        if shared.shutdown.load(SeqCst) {
            return;
        }
        let region = *lock(&shared.region);
        if let Some(region) = region {
            let worker = Worker {
                index,
                shared: Some(shared),
            };
            if catch_unwind(AssertUnwindSafe(|| run_marked(|| region(worker)))).is_err() {
                abort_region(shared);
            }
        }
        if shared.finished.fetch_add(1, SeqCst) + 1 == shared.count - 1 {
            shared.sleepers[0].wake();
        }
    }
}
