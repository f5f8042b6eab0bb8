//! The counting allocator, installed as this test binary's global allocator.

use std::hint::black_box;

use smallmind_telemetry::alloc::{self, AllocCounts, CountingAllocator, Scope};
use smallmind_telemetry::{HotPathLayer, hot_path_dispatch};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

#[test]
fn scopes_count_allocations_and_bytes() {
    let scope = Scope::start();
    let v = black_box(vec![0u8; 1000]);
    let counts = scope.counts();
    assert!(alloc::is_installed());
    assert!(counts.count >= 1 && counts.bytes >= 1000, "{counts:?}");
    assert!(alloc::live_bytes() >= 1000);
    drop(v);
}

#[test]
fn thread_counts_see_only_their_thread() {
    let before = AllocCounts::this_thread();
    std::thread::spawn(|| black_box(vec![0u8; 4096]))
        .join()
        .unwrap();
    let mine = AllocCounts::this_thread().since(before);
    assert!(mine.bytes < 4096, "{mine:?}");
    let before = AllocCounts::this_thread();
    let v = black_box(vec![0u8; 4096]);
    assert!(AllocCounts::this_thread().since(before).bytes >= 4096);
    drop(v);
}

#[test]
fn peak_live_bytes_track_the_high_water_mark() {
    // Other tests allocate and free concurrently, so compare with the live
    // bytes seen while the buffer is alive, not with a baseline from before.
    alloc::reset_peak_live_bytes();
    let v = black_box(vec![0u8; 1 << 20]);
    let during = alloc::live_bytes();
    drop(v);
    assert!(during >= 1 << 20);
    assert!(alloc::peak_live_bytes() >= during);
}

#[test]
fn spans_record_the_allocations_made_inside() {
    let (layer, hot) = HotPathLayer::new();
    let dispatch = hot_path_dispatch(layer);
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::trace_span!("allocates"));
    span.in_scope(|| black_box(vec![0u64; 100]));
    let rows = hot.rows();
    let row = rows.iter().find(|r| r.name == "allocates").unwrap();
    assert!(row.alloc_count >= 1 && row.alloc_bytes >= 800, "{row:?}");
}
