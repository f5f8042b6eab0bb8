//! A counting global allocator: every allocation through it adds to process-wide and per-thread
//! counters of bytes and calls, and it tracks live and peak live bytes.
//!
//! Opt-in: a binary installs it with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: smallmind_telemetry::alloc::CountingAllocator =
//!     smallmind_telemetry::alloc::CountingAllocator;
//! ```
//!
//! Library crates never do. Without it every reading here is zero, and [`is_installed`] says so.
//! The cost is a few relaxed atomic adds per allocation (the decode loop makes none).
//!
//! Counts are taken as differences: [`AllocCounts::now`] (the whole process) or
//! [`AllocCounts::this_thread`] before and after the region of interest, or [`Scope`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Allocation calls and bytes requested (reallocations count as one call of the new size).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocCounts {
    /// Allocation calls.
    pub count: u64,
    /// Bytes requested.
    pub bytes: u64,
}

impl AllocCounts {
    /// The process-wide totals since start.
    pub fn now() -> AllocCounts {
        AllocCounts {
            count: TOTAL_COUNT.load(Ordering::Relaxed),
            bytes: TOTAL_BYTES.load(Ordering::Relaxed),
        }
    }

    /// The calling thread's totals since it started.
    pub fn this_thread() -> AllocCounts {
        THREAD_COUNTS.try_with(Cell::get).unwrap_or_default()
    }

    /// What was added since `earlier` (a reading of the same counter).
    pub fn since(self, earlier: AllocCounts) -> AllocCounts {
        AllocCounts {
            count: self.count.wrapping_sub(earlier.count),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }

    fn add(self, bytes: usize) -> AllocCounts {
        AllocCounts {
            count: self.count + 1,
            bytes: self.bytes + bytes as u64,
        }
    }
}

/// Whether [`CountingAllocator`] is the global allocator (it has served an allocation).
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Bytes currently allocated and not yet freed, process-wide.
pub fn live_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The highest [`live_bytes`] seen since start or the last [`reset_peak_live_bytes`].
pub fn peak_live_bytes() -> u64 {
    PEAK_LIVE_BYTES.load(Ordering::Relaxed)
}

/// Restarts the peak at the current live bytes (to measure the peak of one phase).
pub fn reset_peak_live_bytes() {
    PEAK_LIVE_BYTES.store(live_bytes(), Ordering::Relaxed);
}

/// Process-wide allocations made while a scope is open: [`Scope::start`], then
/// [`Scope::counts`].
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    start: AllocCounts,
}

impl Scope {
    /// Opens a scope now.
    pub fn start() -> Scope {
        Scope {
            start: AllocCounts::now(),
        }
    }

    /// Allocations since [`Scope::start`], on every thread.
    pub fn counts(&self) -> AllocCounts {
        AllocCounts::now().since(self.start)
    }
}

static INSTALLED: AtomicBool = AtomicBool::new(false);
static TOTAL_COUNT: AtomicU64 = AtomicU64::new(0);
static TOTAL_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static PEAK_LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const`-initialised and `Copy`: no lazy registration and no destructor, so reading it
    // from inside the allocator never allocates.
    static THREAD_COUNTS: Cell<AllocCounts> = const {
        Cell::new(AllocCounts { count: 0, bytes: 0 })
    };
}

fn record_alloc(bytes: usize) {
    INSTALLED.store(true, Ordering::Relaxed);
    TOTAL_COUNT.fetch_add(1, Ordering::Relaxed);
    TOTAL_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    let live = LIVE_BYTES.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
    PEAK_LIVE_BYTES.fetch_max(live, Ordering::Relaxed);
    // A thread being torn down has no counters any more; its late allocations still count
    // process-wide.
    let _ = THREAD_COUNTS.try_with(|c| c.set(c.get().add(bytes)));
}

fn record_free(bytes: usize) {
    LIVE_BYTES.fetch_sub(bytes as u64, Ordering::Relaxed);
}

/// The system allocator plus the counters of this module (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the bookkeeping around it only touches atomics and a const thread-local `Cell`, and
// never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: our caller upholds `alloc`'s contract for `layout`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: our caller upholds `alloc_zeroed`'s contract for `layout`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_free(layout.size());
        // SAFETY: our caller passes a block this allocator (so `System`) gave out, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: our caller passes a block `System` gave out with `layout`, and a valid size.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record_free(layout.size());
            record_alloc(new_size);
        }
        new
    }
}
