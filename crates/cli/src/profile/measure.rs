//! The two passes of `smallmind profile` over one model, and the report they make.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smallmind_model::workload::{Scenario, StepProbe, Workload, WorkloadStats};
use smallmind_model::{Model, Session, SessionOptions};
use smallmind_telemetry::alloc::AllocCounts;
use smallmind_telemetry::{HotPathLayer, Metric, Report, process};

use super::{BoxError, InjectedDelay};

/// Wall time one pass aims for when `--runs` is not given.
const PASS_TARGET: Duration = Duration::from_secs(1);
/// Repetitions per pass, at least and at most.
const RUNS_RANGE: (u64, u64) = (3, 10_000);
/// Hot-path repetitions when a Chrome trace is written (each span is one trace event).
const CHROME_TRACE_RUNS: u64 = 3;

/// How to profile one model.
pub(super) struct Settings<'a> {
    pub(super) scenario: Scenario,
    pub(super) threads: Option<usize>,
    pub(super) runs: Option<u64>,
    pub(super) delay: Option<InjectedDelay>,
    pub(super) chrome_trace: Option<&'a Path>,
}

/// What the timing pass measured.
struct Timing {
    stats: WorkloadStats,
    runs: u64,
    decode_allocs: AllocCounts,
    threads: usize,
    planned_bytes: usize,
}

/// What the hot-path pass recorded.
struct HotPathRun {
    stats: WorkloadStats,
    report_rows: Vec<smallmind_telemetry::SpanRow>,
}

/// Profiles the model `spec` (a preset name or a Hugging Face directory).
pub(super) fn profile_model(spec: &str, settings: &Settings<'_>) -> Result<Report, BoxError> {
    process::reset_peak_rss();
    let loaded = crate::loading::load(spec)?;
    let (name, model) = (loaded.name(), loaded.model());
    let options = SessionOptions {
        threads: settings.threads,
        ..SessionOptions::default()
    };
    let timing = timing_pass(model, &options, settings)?;
    let peak_rss = process::peak_rss_bytes();
    let hot_runs = match settings.chrome_trace {
        Some(_) => timing.runs.min(CHROME_TRACE_RUNS),
        None => timing.runs,
    };
    let hot = hot_path_pass(model, &options, settings, hot_runs)?;
    Ok(build_report(
        name,
        model,
        settings.scenario,
        &timing,
        &hot,
        hot_runs,
        peak_rss,
    ))
}

/// Counts the heap allocations made, on any thread, during decode steps.
#[derive(Default)]
struct DecodeAllocProbe {
    step_start: AllocCounts,
    total: AllocCounts,
}

impl StepProbe for DecodeAllocProbe {
    fn decode_step_start(&mut self) {
        self.step_start = AllocCounts::now();
    }

    fn decode_step_end(&mut self) {
        let step = AllocCounts::now().since(self.step_start);
        self.total.count += step.count;
        self.total.bytes += step.bytes;
    }
}

/// Pass 1: no subscriber, so every span is disabled (see the module docs of `profile`).
fn timing_pass(
    model: &Arc<Model>,
    options: &SessionOptions,
    settings: &Settings<'_>,
) -> Result<Timing, BoxError> {
    let mut session = Session::new(Arc::clone(model), options)?;
    let mut workload = Workload::new(settings.scenario, model.config())?;
    let warm_up = workload.run(&mut session, &mut ())?;
    let runs = settings.runs.unwrap_or_else(|| runs_for(warm_up.wall_time));
    let mut probe = DecodeAllocProbe::default();
    let mut stats = WorkloadStats::default();
    for _ in 0..runs {
        stats.add(&workload.run(&mut session, &mut probe)?);
    }
    Ok(Timing {
        stats,
        runs,
        decode_allocs: probe.total,
        threads: session.threads(),
        planned_bytes: session.planned_bytes(),
    })
}

/// Enough repetitions of a run lasting `one` to fill [`PASS_TARGET`].
fn runs_for(one: Duration) -> u64 {
    let runs = PASS_TARGET.as_secs_f64() / one.as_secs_f64().max(1e-9);
    (runs.ceil() as u64).clamp(RUNS_RANGE.0, RUNS_RANGE.1)
}

/// Pass 2: the session and sampler are built under the hot-path layer, so their spans record.
fn hot_path_pass(
    model: &Arc<Model>,
    options: &SessionOptions,
    settings: &Settings<'_>,
    runs: u64,
) -> Result<HotPathRun, BoxError> {
    let (layer, hot) = match settings.delay {
        Some(d) => HotPathLayer::with_injected_delay(d.span, d.delay),
        None => HotPathLayer::new(),
    };
    let (dispatch, chrome_guard) = match settings.chrome_trace {
        Some(path) => {
            let (dispatch, guard) =
                smallmind_telemetry::chrome::hot_path_and_chrome_dispatch(layer, path);
            (dispatch, Some(guard))
        }
        None => (smallmind_telemetry::hot_path_dispatch(layer), None),
    };
    let (mut session, mut workload) = tracing::dispatcher::with_default(&dispatch, || {
        let session = Session::new(Arc::clone(model), options)?;
        let workload = Workload::new(settings.scenario, model.config())?;
        Ok::<_, BoxError>((session, workload))
    })?;
    workload.run(&mut session, &mut ())?;
    hot.reset();
    let stats = run_recorded(&mut session, &mut workload, runs)?;
    drop(chrome_guard);
    Ok(HotPathRun {
        stats,
        report_rows: hot.rows(),
    })
}

/// The runs' wall time adds up each run's time inside the pool, as the timing pass does, so
/// waking the pool between runs counts in neither.
fn run_recorded(
    session: &mut Session,
    workload: &mut Workload,
    runs: u64,
) -> Result<WorkloadStats, BoxError> {
    let mut stats = WorkloadStats::default();
    for _ in 0..runs {
        stats.add(&workload.run(session, &mut ())?);
    }
    Ok(stats)
}

fn build_report(
    name: &str,
    model: &Model,
    scenario: Scenario,
    timing: &Timing,
    hot: &HotPathRun,
    hot_runs: u64,
    peak_rss: Option<u64>,
) -> Report {
    let shape = scenario.shape();
    let mut report = Report {
        workload: format!("{name}/{}/{}t", scenario.name(), timing.threads),
        title: format!(
            "{name} ({} parameters) · {}: {} × ({}-token prompt + {} new tokens), T = 0.8, seed 42 · \
             {} threads · SIMD {:?} · {} runs per pass",
            model.param_count(),
            scenario.name(),
            shape.sessions,
            shape.prompt_tokens,
            shape.new_tokens,
            timing.threads,
            smallmind_kernels::active_path(),
            timing.runs,
        ),
        metrics: Vec::new(),
        runs: hot_runs,
        wall_ns: u64::try_from(hot.stats.wall_time.as_nanos()).unwrap_or(u64::MAX),
        spans: hot.report_rows.clone(),
    };
    report.metrics = metrics(model, timing, hot, &report, peak_rss);
    report
}

fn metrics(
    model: &Model,
    timing: &Timing,
    hot: &HotPathRun,
    report: &Report,
    peak_rss: Option<u64>,
) -> Vec<Metric> {
    let t = &timing.stats;
    let steps = t.decode_steps.max(1) as f64;
    let decode = t.decode_tokens_per_second();
    let hot_decode = hot.stats.decode_tokens_per_second();
    let mb = |bytes: f64| bytes / 1e6;
    let mut metrics = vec![
        Metric::higher("prefill", t.prefill_tokens_per_second(), "tok/s"),
        Metric::higher("decode", decode, "tok/s"),
        Metric::lower(
            "time to first token",
            ms(t.mean_time_to_first_token()),
            "ms",
        ),
        Metric::lower("decode latency", 1e3 / decode.max(1e-9), "ms/token"),
        Metric::lower("scenario run", ms(t.wall_time) / timing.runs as f64, "ms"),
        Metric::lower(
            "decode heap allocations",
            timing.decode_allocs.count as f64 / steps,
            "per token",
        ),
        Metric::lower(
            "decode heap bytes",
            timing.decode_allocs.bytes as f64 / steps,
            "B/token",
        ),
        Metric::lower(
            "session memory (KV cache + buffers)",
            mb(timing.planned_bytes as f64),
            "MB",
        ),
        Metric::lower("weights in memory", mb(model.weight_bytes().1 as f64), "MB"),
    ];
    if let Some(rss) = peak_rss {
        metrics.push(Metric::lower("peak RSS", mb(rss as f64), "MB"));
    }
    if let Some(c) = report.coverage("decode") {
        metrics.extend([
            Metric::higher("decode time in its child spans", 100.0 * c.children, "%"),
            Metric::lower(
                "decode time in span bookkeeping",
                100.0 * c.bookkeeping,
                "%",
            ),
            Metric::lower("decode time unexplained", 100.0 * c.unexplained, "%"),
        ]);
    }
    metrics.push(Metric::lower(
        "span entries per decode step",
        spans_per_decode(report),
        "",
    ));
    metrics.push(Metric::lower(
        "hot-path layer overhead on decode",
        100.0 * (decode / hot_decode.max(1e-9) - 1.0),
        "%",
    ));
    metrics
}

/// Span entries per `decode` call, counting `decode` itself.
fn spans_per_decode(report: &Report) -> f64 {
    let decode_calls: u64 = report
        .spans
        .iter()
        .filter(|r| r.path == "decode")
        .map(|r| r.calls)
        .sum();
    let inside: u64 = report
        .spans
        .iter()
        .filter(|r| r.path == "decode" || r.path.starts_with("decode/"))
        .map(|r| r.calls)
        .sum();
    inside as f64 / decode_calls.max(1) as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
