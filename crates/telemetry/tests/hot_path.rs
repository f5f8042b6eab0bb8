//! The hot-path layer: aggregation by call path, dynamic parents, reset, threads, and the
//! comparison flagging a span slowed on purpose.

use std::time::{Duration, Instant};

use smallmind_telemetry::{
    HotPath, HotPathLayer, Report, SpanRow, Verdict, compare, hot_path_dispatch,
};
use tracing::{Span, trace_span};

/// Busy-waits `micros` µs (wall time, so preemption does not stretch it much).
fn spin(micros: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(micros) {
        std::hint::spin_loop();
    }
}

fn row<'a>(rows: &'a [SpanRow], path: &str) -> &'a SpanRow {
    rows.iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no row {path} in {rows:#?}"))
}

/// Spans created under a fresh layer, as a session creates its spans at load.
fn spans_under(layer: HotPathLayer, names: [&'static str; 3]) -> (tracing::Dispatch, [Span; 3]) {
    let dispatch = hot_path_dispatch(layer);
    let spans = tracing::dispatcher::with_default(&dispatch, || {
        names.map(|name| match name {
            "outer" => trace_span!("outer"),
            "fast" => trace_span!("fast"),
            "slow" => trace_span!("slow"),
            "a" => trace_span!("a"),
            "b" => trace_span!("b"),
            _ => trace_span!("leaf"),
        })
    });
    (dispatch, spans)
}

#[test]
fn nested_spans_add_up_by_path() {
    let (layer, hot) = HotPathLayer::new();
    let (_dispatch, [outer, fast, _]) = spans_under(layer, ["outer", "fast", "slow"]);
    {
        let _o = outer.enter();
        for _ in 0..2 {
            let _f = fast.enter();
            spin(300);
        }
        spin(100);
    }
    let rows = hot.rows();
    let (o, f) = (row(&rows, "outer"), row(&rows, "outer/fast"));
    assert_eq!((o.calls, f.calls, o.depth, f.depth), (1, 2, 0, 1));
    assert!(f.total_ns >= 600_000 && f.min_ns >= 300_000, "{f:?}");
    assert!(f.max_ns >= f.min_ns && f.self_ns == f.total_ns, "{f:?}");
    assert_eq!(o.total_ns, o.self_ns + o.overhead_ns + f.total_ns, "{o:?}");
    assert!(o.self_ns >= 100_000, "{o:?}");
}

#[test]
fn the_parent_is_the_span_entered_at_the_time() {
    let (layer, hot) = HotPathLayer::new();
    let (_dispatch, [a, b, leaf]) = spans_under(layer, ["a", "b", "leaf"]);
    for parent in [&a, &b, &b] {
        let _p = parent.enter();
        let _l = leaf.enter();
    }
    let rows = hot.rows();
    assert_eq!(row(&rows, "a/leaf").calls, 1);
    assert_eq!(row(&rows, "b/leaf").calls, 2);
    assert!(rows.iter().all(|r| r.path != "leaf"), "{rows:#?}");
}

#[test]
fn reset_forgets_and_threads_merge() {
    let (layer, hot) = HotPathLayer::new();
    let (_dispatch, [outer, _, _]) = spans_under(layer, ["outer", "fast", "slow"]);
    outer.in_scope(|| spin(10));
    hot.reset();
    assert!(hot.rows().is_empty(), "{:#?}", hot.rows());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| outer.in_scope(|| spin(10)));
        }
    });
    assert_eq!(row(&hot.rows(), "outer").calls, 3);
}

/// Runs `outer { fast; slow }` `runs` times and reports it.
fn workload_report(hot: &HotPath, spans: &[Span; 3], runs: u64) -> Report {
    let [outer, fast, slow] = spans;
    let start = Instant::now();
    for _ in 0..runs {
        let _o = outer.enter();
        fast.in_scope(|| spin(100));
        slow.in_scope(|| spin(100));
    }
    Report {
        workload: "spin".into(),
        title: "spin".into(),
        runs,
        wall_ns: start.elapsed().as_nanos() as u64,
        spans: hot.rows(),
        ..Report::default()
    }
}

/// Wall-clock assertions only in the direction preemption cannot fake: the injected delay
/// (2 ms per call against 0.1 ms of work) dwarfs what a busy machine adds.
#[test]
fn compare_flags_the_span_a_slowed_build_slows() {
    let (layer, hot) = HotPathLayer::new();
    let (_d, spans) = spans_under(layer, ["outer", "fast", "slow"]);
    let before = workload_report(&hot, &spans, 10);

    let (layer, hot) = HotPathLayer::with_injected_delay("slow", Duration::from_millis(2));
    let (_d, spans) = spans_under(layer, ["outer", "fast", "slow"]);
    let after = workload_report(&hot, &spans, 10);
    assert!(row(&after.spans, "outer/slow").min_ns >= 2_000_000);

    let c = compare(&before, &after);
    let flagged: Vec<&str> = c.flagged().map(|s| s.path.as_str()).collect();
    assert!(flagged.contains(&"outer/slow"), "{}", c.to_markdown());
    assert_eq!(
        c.top_regressions()[0].path,
        "outer/slow",
        "{}",
        c.to_markdown()
    );
    assert!(
        matches!(c.verdict, Verdict::Slower(x) if x > 1.0),
        "{:?}",
        c.verdict
    );
    assert!(c.to_markdown().contains("⚠ slower"));
}

/// A synthetic report: `outer` with children `big` and `tiny`, times in µs per run.
fn synthetic(runs: u64, outer_us: u64, big_us: u64, tiny_us: u64) -> Report {
    let row = |path: &str, us: u64, depth| SpanRow {
        path: path.into(),
        name: path.rsplit('/').next().unwrap().into(),
        depth,
        calls: runs,
        total_ns: us * 1000 * runs,
        self_ns: if depth == 0 { 0 } else { us * 1000 * runs },
        overhead_ns: 0,
        min_ns: us * 1000,
        max_ns: us * 1000,
        alloc_count: 0,
        alloc_bytes: 0,
    };
    Report {
        workload: "w".into(),
        title: "w".into(),
        runs,
        wall_ns: outer_us * 1000 * runs,
        spans: vec![
            row("outer", outer_us, 0),
            row("outer/big", big_us, 1),
            row("outer/tiny", tiny_us, 1),
        ],
        ..Report::default()
    }
}

#[test]
fn noise_within_the_bands_is_no_significant_change() {
    // 3% slower overall, a tiny span 50% slower: under 1% of the run, so not flagged.
    let c = compare(&synthetic(10, 1000, 900, 5), &synthetic(20, 1030, 927, 7));
    assert_eq!(
        c.verdict,
        Verdict::NoSignificantChange,
        "{}",
        c.to_markdown()
    );
    assert_eq!(c.flagged().count(), 0, "{}", c.to_markdown());
    assert!(c.to_markdown().contains("no significant change"));
}

#[test]
fn a_big_span_past_five_percent_is_flagged_even_when_the_run_is_not() {
    let c = compare(&synthetic(10, 1000, 500, 5), &synthetic(10, 1060, 560, 5));
    assert_eq!(c.verdict, Verdict::NoSignificantChange);
    let flagged: Vec<&str> = c.flagged().map(|s| s.path.as_str()).collect();
    assert_eq!(flagged, ["outer", "outer/big"], "{}", c.to_markdown());
    let c = compare(&synthetic(10, 1000, 500, 5), &synthetic(10, 850, 350, 5));
    assert!(matches!(c.verdict, Verdict::Faster(x) if (x - 0.15).abs() < 1e-9));
    assert_eq!(c.top_improvements()[0].path, "outer/big");
    assert!(c.to_markdown().contains("✓ faster"));
}

#[test]
fn reports_round_trip_through_json_and_render() {
    let (layer, hot) = HotPathLayer::new();
    let (_d, spans) = spans_under(layer, ["outer", "fast", "slow"]);
    let mut report = workload_report(&hot, &spans, 2);
    report.metrics = vec![smallmind_telemetry::Metric::higher(
        "decode", 123.4, "tok/s",
    )];
    let back = Report::from_json(&report.to_json(), "test").unwrap();
    assert_eq!(back, report);
    let md = report.to_markdown();
    for needle in [
        "| decode | 123 tok/s |",
        "| outer |",
        "| · fast |",
        "| · slow |",
        "| outer |",
    ] {
        assert!(md.contains(needle), "{needle} missing from\n{md}");
    }
    let coverage = report.coverage("outer").unwrap();
    assert!(coverage.children > 0.9, "{coverage:?}");
    let sum = coverage.children + coverage.bookkeeping + coverage.unexplained;
    assert!((sum - 1.0).abs() < 1e-9, "{coverage:?}");
    assert!(
        Report::from_json("{\"spans\": 3}", "bad.json")
            .unwrap_err()
            .to_string()
            .contains("bad.json")
    );
}
