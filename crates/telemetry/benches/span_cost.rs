//! What entering and leaving a span costs, the figure behind "spans are cheap":
//! - `disabled`: no subscriber, as in a library user's process (a branch on an empty span);
//! - `recorded`: a span built under [`HotPathLayer`], as in `smallmind profile`'s hot-path pass;
//! - `recorded_nested`: a child entered inside a recorded parent (two entries).
//!
//! Multiply by the span entries per decode step (`smallmind profile` prints it) and divide by
//! the decode latency for the share of decode time.
//!
//! `cargo bench -p smallmind-telemetry --bench span_cost`

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use smallmind_telemetry::{HotPathLayer, hot_path_dispatch};
use tracing::trace_span;

fn span_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");
    let disabled = trace_span!("disabled");
    group.bench_function("disabled", |b| {
        b.iter(|| {
            let _guard = black_box(&disabled).enter();
        })
    });
    let (layer, _hot) = HotPathLayer::new();
    let dispatch = hot_path_dispatch(layer);
    let (parent, child) = tracing::dispatcher::with_default(&dispatch, || {
        (trace_span!("parent"), trace_span!("child"))
    });
    group.bench_function("recorded", |b| {
        b.iter(|| {
            let _guard = black_box(&parent).enter();
        })
    });
    let _outer = parent.enter();
    group.bench_function("recorded_nested", |b| {
        b.iter(|| {
            let _guard = black_box(&child).enter();
        })
    });
    group.finish();
}

criterion_group!(benches, span_cost);
criterion_main!(benches);
