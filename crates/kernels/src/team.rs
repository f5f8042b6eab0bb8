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
//! crate. One atomic word, the *gate*, holds the region's epoch, a `CLOSED`
//! bit and the number of workers inside: the caller opens a region by storing
//! a new epoch; a worker joins by a compare-and-swap that adds itself to the
//! count of that epoch while it is open, and leaves by subtracting itself.
//! Nothing is allocated per region (the closure is passed by reference and
//! every counter lives in the team).
//!
//! Two kinds of region:
//! - [`Team::run`]: every worker runs the closure exactly once, so
//!   [`Worker::barrier`] can be used; the caller waits for all of them.
//! - [`Team::run_joined`]: for work claimed from a shared counter. When the
//!   caller is done it closes the gate and waits only for the workers already
//!   inside; a worker that arrives late (parked, or its core busy with another
//!   process) skips the region. So a sleeping worker never delays the caller by
//!   its wake-up time, and a loaded machine degrades to one worker instead of
//!   waiting for a second.
//! - [`Team::run_parts`]: a joined region over numbered parts. Each worker
//!   owns a contiguous share of them and takes its own from the front, so a
//!   worker streams one run of memory and claims on a cache line no one else
//!   writes; a worker done with its share takes the others' from the back, so
//!   a late or slow worker's share is finished by whoever is free. (A single
//!   claim counter made every claim a cache-line transfer between cores, and
//!   interleaved parts cut each worker's stream into pieces too short for the
//!   prefetchers: one decode GEMV streamed from DRAM at 2 workers no faster
//!   than at 1.)
//!
//! A region that cannot get the team — run from inside another region, or
//! while another thread holds the team — runs on the caller alone, as a team
//! of one, so code written for any worker count stays correct.
//!
//! Kernels do not call this directly: [`crate::parallel`] splits their work
//! over the team installed on the calling thread ([`Team::install`]).

use std::cell::Cell;
use std::ops::Range;
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

/// The closure of one region, lifetime erased (see [`run_region`]).
#[derive(Clone, Copy)]
enum Region {
    /// Every worker, with barriers ([`Team::run`]).
    All(&'static (dyn Fn(Worker<'_>) + Sync)),
    /// Whoever joins in time, by worker index ([`Team::run_joined`]).
    Joined(&'static (dyn Fn(usize) + Sync)),
}

/// The gate's layout: bits `0..16` count the workers inside the region, bit
/// 16 closes it, bits `17..` are the region's epoch.
const INSIDE_MASK: u64 = (1 << 16) - 1;
const CLOSED: u64 = 1 << 16;
const EPOCH_SHIFT: u32 = 17;

/// The most workers a team can have (the gate's count field).
pub const MAX_WORKERS: usize = INSIDE_MASK as usize;

fn epoch_of(gate: u64) -> u64 {
    gate >> EPOCH_SHIFT
}

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
    /// Epoch, `CLOSED` and workers inside (see [`INSIDE_MASK`]). Only the
    /// caller changes the epoch (and [`Team`]'s drop, for shutdown).
    gate: AtomicU64,
    /// The current region's closure; written by the caller before it opens
    /// the gate, read by workers once they are inside.
    region: Mutex<Option<Region>>,
    /// Workers (not the caller) done with the current [`Region::All`].
    finished: AtomicUsize,
    /// Barrier arrivals in the current phase, and the phase number.
    arrived: AtomicUsize,
    phase: AtomicU64,
    /// A worker's closure panicked in the current region.
    panicked: AtomicBool,
    /// Each worker's share of the current [`Team::run_parts`] region.
    shares: Box<[Share]>,
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
    /// Starts a team of `workers` (clamped to `1 ..= MAX_WORKERS`): the caller
    /// of each region plus `workers − 1` threads named `{name}-{i}`.
    ///
    /// # Errors
    /// The operating system's error if a thread cannot be spawned.
    pub fn new(workers: usize, name: &str) -> std::io::Result<Team> {
        let count = workers.clamp(1, MAX_WORKERS);
        let shared = Arc::new(Shared {
            count,
            sleepers: (0..count).map(|_| Sleeper::new(None)).collect(),
            gate: AtomicU64::new(CLOSED),
            region: Mutex::new(None),
            finished: AtomicUsize::new(0),
            arrived: AtomicUsize::new(0),
            phase: AtomicU64::new(0),
            panicked: AtomicBool::new(false),
            shares: (0..count).map(|_| Share::default()).collect(),
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
        run_all(&self.shared, region);
    }

    /// Runs `region(index)` on the caller (index 0) and on every worker that
    /// joins before the caller's own call returns; returns once those are
    /// done. For work the calls claim from a shared counter: a worker may run
    /// it or not, never twice. Nested or contended, it runs on the caller
    /// alone, as [`Team::run`] does. A panic is re-raised as by [`Team::run`].
    pub fn run_joined(&self, region: &(dyn Fn(usize) + Sync)) {
        run_joined(&self.shared, region);
    }

    /// Runs `part(p)` for every `p` in `0 .. parts`, each exactly once, on at
    /// most `workers` workers of the team that join in time (a
    /// [`Team::run_joined`] region): worker `i` owns the `i`-th of `workers`
    /// contiguous shares and runs it front to back, then takes what is left
    /// of the others' shares from their backs. Nested, contended, or with one
    /// worker, it runs every part on the caller, in order. A panic is
    /// re-raised as by [`Team::run`].
    pub fn run_parts(&self, parts: usize, workers: usize, part: &(dyn Fn(usize) + Sync)) {
        run_parts(&self.shared, parts, workers, part);
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

    /// As [`Team::run_parts`].
    pub(crate) fn run_parts(&self, parts: usize, workers: usize, part: &(dyn Fn(usize) + Sync)) {
        run_parts(&self.0, parts, workers, part);
    }
}

/// [`Team::run`].
fn run_all(shared: &Shared, region: &(dyn Fn(Worker<'_>) + Sync)) {
    if !acquire(shared) {
        return run_marked(|| region(Worker::SOLO));
    }
    // SAFETY: workers use the reference only while counted inside the gate,
    // and `Finish` (dropped before this function returns, also on unwind)
    // closes the gate, waits until no worker is inside and clears the slot,
    // so the erased lifetime is never used past the borrow of `region`.
    let erased: &'static (dyn Fn(Worker<'_>) + Sync) = unsafe { std::mem::transmute(region) };
    let finish = open(shared, Region::All(erased));
    run_marked(|| {
        region(Worker {
            index: 0,
            shared: Some(shared),
        })
    });
    drop(finish);
    resume_worker_panic(shared);
}

/// [`Team::run_joined`].
fn run_joined(shared: &Shared, region: &(dyn Fn(usize) + Sync)) {
    if !acquire(shared) {
        return run_marked(|| region(0));
    }
    // SAFETY: as in `run_all`.
    let erased: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(region) };
    let finish = open(shared, Region::Joined(erased));
    run_marked(|| region(0));
    drop(finish);
    resume_worker_panic(shared);
}

/// [`Team::run_parts`].
fn run_parts(shared: &Shared, parts: usize, workers: usize, part: &(dyn Fn(usize) + Sync)) {
    let workers = workers.min(shared.count).min(parts);
    // A share's ends are 32-bit, with room for the owner's one add past the end.
    let fits = parts < u32::MAX as usize;
    if workers <= 1 || !fits || !acquire(shared) {
        return run_marked(|| (0..parts).for_each(part));
    }
    let shares = &shared.shares[..workers];
    for (i, share) in shares.iter().enumerate() {
        share.set(i * parts / workers..(i + 1) * parts / workers);
    }
    let region = |index: usize| {
        let Some(own) = shares.get(index) else { return };
        while let Some(p) = own.take_front() {
            part(p);
        }
        for other in (1..workers).map(|d| &shares[(index + d) % workers]) {
            while let Some(p) = other.take_back() {
                part(p);
            }
        }
    };
    // SAFETY: as in `run_all`; `region` borrows `shares` and `part`, both of
    // which outlive the region.
    let erased: &'static (dyn Fn(usize) + Sync) =
        unsafe { std::mem::transmute(&region as &(dyn Fn(usize) + Sync)) };
    let finish = open(shared, Region::Joined(erased));
    run_marked(|| region(0));
    drop(finish);
    resume_worker_panic(shared);
}

/// One worker's share of a [`Team::run_parts`] region: the parts `front ..
/// back` not taken yet, packed in one word as `back << 32 | front`, on a cache
/// line of its own. The owner takes from the front, everyone else from the
/// back, so each part is taken once.
#[derive(Default)]
#[repr(align(128))]
struct Share(AtomicU64);

impl Share {
    /// Sets the share to `parts` (each end below `2³² − 1`). Only the holder of
    /// the team calls it, before it opens the region.
    fn set(&self, parts: Range<usize>) {
        self.0
            .store(((parts.end as u64) << 32) | parts.start as u64, SeqCst);
    }

    /// The owner's next part. The owner's add may push `front` past `back`
    /// (once per call that finds the share empty); a thief then sees the share
    /// empty too, so no part is taken twice.
    fn take_front(&self) -> Option<usize> {
        let taken = self.0.fetch_add(1, SeqCst);
        let (front, back) = (taken & u64::from(u32::MAX), taken >> 32);
        (front < back).then_some(front as usize)
    }

    /// Another worker's part, from the back of the share.
    fn take_back(&self) -> Option<usize> {
        let mut now = self.0.load(SeqCst);
        loop {
            let (front, back) = (now & u64::from(u32::MAX), now >> 32);
            if front >= back {
                return None;
            }
            let taken = ((back - 1) << 32) | front;
            match self.0.compare_exchange_weak(now, taken, SeqCst, SeqCst) {
                Ok(_) => return Some(back as usize - 1),
                Err(current) => now = current,
            }
        }
    }
}

/// Takes the team for one region; `false` (run alone) for a team of one,
/// inside a region, or while another thread holds it.
fn acquire(shared: &Shared) -> bool {
    shared.count > 1 && !in_region() && !shared.busy.swap(true, SeqCst)
}

/// Publishes `region` under a new epoch and wakes the workers; the returned
/// guard ends the region.
fn open(shared: &Shared, region: Region) -> Finish<'_> {
    *lock(&shared.region) = Some(region);
    *lock(&shared.sleepers[0].thread) = Some(thread::current());
    shared.finished.store(0, SeqCst);
    // A region that failed may have left arrivals at a barrier.
    shared.arrived.store(0, SeqCst);
    // Only the holder of the team changes the epoch: no other writer races
    // this load-then-store but the workers' joins, which the gate is closed
    // (and empty) against.
    let epoch = epoch_of(shared.gate.load(SeqCst)) + 1;
    shared.gate.store(epoch << EPOCH_SHIFT, SeqCst);
    for sleeper in &shared.sleepers[1..] {
        sleeper.wake();
    }
    Finish {
        shared,
        wait_for_all: matches!(region, Region::All(_)),
    }
}

/// Ends a region, also on unwind: waits for every worker ([`Region::All`]) or
/// closes the gate on latecomers ([`Region::Joined`]), waits until no worker
/// is inside, then releases the team.
struct Finish<'a> {
    shared: &'a Shared,
    wait_for_all: bool,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        let caller = &shared.sleepers[0];
        if thread::panicking() {
            abort_region(shared);
        }
        if self.wait_for_all && !shared.panicked.load(SeqCst) {
            let workers = shared.count - 1;
            caller.wait_until(|| {
                shared.finished.load(SeqCst) == workers || shared.panicked.load(SeqCst)
            });
        }
        shared.gate.fetch_or(CLOSED, SeqCst);
        caller.wait_until(|| shared.gate.load(SeqCst) & INSIDE_MASK == 0);
        *lock(&shared.region) = None;
        shared.busy.store(false, SeqCst);
    }
}

/// Re-raises, on the caller, a panic of a worker's call.
fn resume_worker_panic(shared: &Shared) {
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
        // A new, closed epoch: every worker wakes, sees the shutdown, exits.
        let epoch = epoch_of(self.shared.gate.load(SeqCst)) + 1;
        self.shared
            .gate
            .store((epoch << EPOCH_SHIFT) | CLOSED, SeqCst);
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

/// A worker thread: wait for a new epoch, join the region if it is still
/// open, run it, leave.
fn worker_loop(shared: &Shared, index: usize) {
    let me = &shared.sleepers[index];
    let mut seen = 0;
    loop {
        me.wait_until(|| epoch_of(shared.gate.load(SeqCst)) != seen);
        if shared.shutdown.load(SeqCst) {
            return;
        }
        if !join(shared, &mut seen) {
            continue;
        }
        let region = *lock(&shared.region);
        let worker = Worker {
            index,
            shared: Some(shared),
        };
        let run = || match region {
            Some(Region::All(region)) => region(worker),
            Some(Region::Joined(region)) => region(index),
            None => {}
        };
        if catch_unwind(AssertUnwindSafe(|| run_marked(run))).is_err() {
            abort_region(shared);
        }
        if matches!(region, Some(Region::All(_))) {
            shared.finished.fetch_add(1, SeqCst);
        }
        shared.gate.fetch_sub(1, SeqCst);
        shared.sleepers[0].wake();
    }
}

/// Enters the current region if its gate is open: `true` once counted
/// inside. `seen` becomes the epoch looked at, so a region is joined at most
/// once.
fn join(shared: &Shared, seen: &mut u64) -> bool {
    let mut gate = shared.gate.load(SeqCst);
    loop {
        *seen = epoch_of(gate);
        if gate & CLOSED != 0 {
            return false;
        }
        match shared
            .gate
            .compare_exchange_weak(gate, gate + 1, SeqCst, SeqCst)
        {
            Ok(_) => return true,
            Err(now) => gate = now,
        }
    }
}
