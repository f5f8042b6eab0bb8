//! Comparing two reports of the same workload (SmallMind's `--compare`): per span, the change
//! in time per run with a flag past [`SPAN_FLAG_THRESHOLD`]; an overall verdict on the wall time
//! per run with a band of ±[`VERDICT_BAND`]; the largest regressions and improvements.
//!
//! Spans below [`MIN_FLAG_SHARE`] of the run are listed but never flagged: a span that takes a
//! few microseconds moves by more than 5% between two runs of the same build.

use std::fmt::Write as _;

use crate::report::{Report, SpanRow, format_value};

/// A span whose time per run moves by more than this fraction is flagged.
pub const SPAN_FLAG_THRESHOLD: f64 = 0.05;
/// The overall verdict is "no significant change" while the wall time per run stays within
/// this fraction.
pub const VERDICT_BAND: f64 = 0.10;
/// Spans under this share of the run are too short to flag.
pub const MIN_FLAG_SHARE: f64 = 0.01;
/// How many regressions and improvements the summary names.
pub const TOP: usize = 5;

/// The overall verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Wall time per run moved by less than [`VERDICT_BAND`].
    NoSignificantChange,
    /// Wall time per run grew by this fraction.
    Slower(f64),
    /// Wall time per run shrank by this fraction.
    Faster(f64),
}

/// One span present in both reports.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanChange {
    /// The span's path (see [`SpanRow::path`]).
    pub path: String,
    /// Time per run before, ns.
    pub before_ns: f64,
    /// Time per run after, ns.
    pub after_ns: f64,
    /// `after / before − 1`.
    pub change: f64,
    /// Self time per run (see [`SpanRow::self_ns`]), before and after, ns.
    pub self_ns: (f64, f64),
    /// The larger of its two shares of the run.
    pub share: f64,
    /// Past [`SPAN_FLAG_THRESHOLD`] and at least [`MIN_FLAG_SHARE`] of the run.
    pub flagged: bool,
}

/// The comparison of a baseline report (`before`) with a new one (`after`).
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The titles of the two reports.
    pub titles: (String, String),
    /// Wall time per run, before and after, ns.
    pub wall_ns: (f64, f64),
    /// The verdict on the wall time.
    pub verdict: Verdict,
    /// Spans in both reports, in the `after` report's order.
    pub spans: Vec<SpanChange>,
    /// Paths only in the `before` report.
    pub removed: Vec<String>,
    /// Paths only in the `after` report.
    pub added: Vec<String>,
    /// Metrics in both, as (before, after).
    pub metrics: Vec<(crate::report::Metric, f64)>,
}

/// Compares `after` against `before`.
pub fn compare(before: &Report, after: &Report) -> Comparison {
    let per_run = |r: &Report, ns: u64| ns as f64 / r.runs.max(1) as f64;
    let wall_ns = (
        per_run(before, before.wall_ns),
        per_run(after, after.wall_ns),
    );
    let find = |r: &'_ Report, path: &str| -> Option<SpanRow> {
        r.spans.iter().find(|s| s.path == path).cloned()
    };
    let spans = after
        .spans
        .iter()
        .filter_map(|new| {
            let old = find(before, &new.path)?;
            let (b, a) = (per_run(before, old.total_ns), per_run(after, new.total_ns));
            let change = relative_change(b, a);
            let share = before
                .share_of_run(old.total_ns)
                .max(after.share_of_run(new.total_ns));
            Some(SpanChange {
                path: new.path.clone(),
                before_ns: b,
                after_ns: a,
                change,
                self_ns: (per_run(before, old.self_ns), per_run(after, new.self_ns)),
                share,
                flagged: change.abs() > SPAN_FLAG_THRESHOLD && share >= MIN_FLAG_SHARE,
            })
        })
        .collect();
    let only_in = |a: &Report, b: &Report| -> Vec<String> {
        a.spans
            .iter()
            .filter(|s| find(b, &s.path).is_none())
            .map(|s| s.path.clone())
            .collect()
    };
    let metrics = after
        .metrics
        .iter()
        .filter_map(|m| Some((before.metric(&m.name)?.clone(), m.value)))
        .collect();
    Comparison {
        titles: (before.title.clone(), after.title.clone()),
        wall_ns,
        verdict: verdict(relative_change(wall_ns.0, wall_ns.1)),
        spans,
        removed: only_in(before, after),
        added: only_in(after, before),
        metrics,
    }
}

fn relative_change(before: f64, after: f64) -> f64 {
    if before == 0.0 {
        if after == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        after / before - 1.0
    }
}

fn verdict(change: f64) -> Verdict {
    if change > VERDICT_BAND {
        Verdict::Slower(change)
    } else if change < -VERDICT_BAND {
        Verdict::Faster(-change)
    } else {
        Verdict::NoSignificantChange
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::NoSignificantChange => f.write_str("no significant change"),
            Verdict::Slower(x) => write!(f, "slower by {:.1}%", 100.0 * x),
            Verdict::Faster(x) => write!(f, "faster by {:.1}%", 100.0 * x),
        }
    }
}

impl Comparison {
    /// The flagged spans.
    pub fn flagged(&self) -> impl Iterator<Item = &SpanChange> {
        self.spans.iter().filter(|s| s.flagged)
    }

    /// The spans whose own code (self time per run) grew most, flagged or not, at most
    /// [`TOP`]. Self time points at the span that changed, not at every parent around it.
    pub fn top_regressions(&self) -> Vec<&SpanChange> {
        self.top_by(|s| s.self_ns.1 - s.self_ns.0)
    }

    /// The spans whose self time per run shrank most, at most [`TOP`].
    pub fn top_improvements(&self) -> Vec<&SpanChange> {
        self.top_by(|s| s.self_ns.0 - s.self_ns.1)
    }

    fn top_by(&self, gain: impl Fn(&SpanChange) -> f64) -> Vec<&SpanChange> {
        let mut moved: Vec<&SpanChange> = self.spans.iter().filter(|s| gain(s) > 0.0).collect();
        moved.sort_by(|a, b| gain(b).total_cmp(&gain(a)));
        moved.truncate(TOP);
        moved
    }

    /// The comparison as Markdown.
    pub fn to_markdown(&self) -> String {
        let (before, after) = &self.titles;
        let wall_change = relative_change(self.wall_ns.0, self.wall_ns.1);
        let mut md = format!(
            "## Comparison\n\nbefore: {before}\nafter:  {after}\n\n**Verdict: {}** \
             (wall time per run {:.3} → {:.3} ms, {:+.1}%; band ±{:.0}%)\n\n",
            self.verdict,
            self.wall_ns.0 / 1e6,
            self.wall_ns.1 / 1e6,
            100.0 * wall_change,
            100.0 * VERDICT_BAND,
        );
        self.write_metrics(&mut md);
        self.write_spans(&mut md);
        write_top(&mut md, "Top regressions", &self.top_regressions());
        write_top(&mut md, "Top improvements", &self.top_improvements());
        for (label, paths) in [("Only before", &self.removed), ("Only after", &self.added)] {
            if !paths.is_empty() {
                let _ = writeln!(md, "{label}: {}\n", paths.join(", "));
            }
        }
        md
    }

    fn write_metrics(&self, md: &mut String) {
        if self.metrics.is_empty() {
            return;
        }
        md.push_str("| metric | before | after | change |\n|---|---:|---:|---:|\n");
        for (m, after) in &self.metrics {
            let _ = writeln!(
                md,
                "| {} ({}) | {} | {} | {:+.1}% |",
                m.name,
                m.unit,
                format_value(m.value),
                format_value(*after),
                100.0 * relative_change(m.value, *after)
            );
        }
        md.push('\n');
    }

    fn write_spans(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "| span | before ms/run | after ms/run | change | % run | flag (>{:.0}%) |\n\
             |---|---:|---:|---:|---:|---|",
            100.0 * SPAN_FLAG_THRESHOLD
        );
        for s in &self.spans {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {:+.1}% | {:.1} | {} |",
                s.path,
                s.before_ns / 1e6,
                s.after_ns / 1e6,
                100.0 * s.change,
                100.0 * s.share,
                flag_mark(s),
            );
        }
        md.push('\n');
    }
}

fn flag_mark(s: &SpanChange) -> &'static str {
    match (s.flagged, s.change > 0.0) {
        (true, true) => "⚠ slower",
        (true, false) => "✓ faster",
        (false, _) => "",
    }
}

fn write_top(md: &mut String, heading: &str, spans: &[&SpanChange]) {
    if spans.is_empty() {
        return;
    }
    let _ = writeln!(md, "{heading}:");
    for s in spans {
        let _ = writeln!(
            md,
            "- `{}`: self time {:+.4} ms/run (total {:+.1}%)",
            s.path,
            (s.self_ns.1 - s.self_ns.0) / 1e6,
            100.0 * s.change
        );
    }
    md.push('\n');
}
