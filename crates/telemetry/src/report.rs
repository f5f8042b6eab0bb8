//! [`Report`]: the headline figures of a workload plus its hot-path table, written as Markdown
//! for people and JSON for [`compare`](mod@crate::compare).
//!
//! Span times in a report add up over all [`Report::runs`] repetitions of the workload; a
//! comparison divides by the runs, so reports with different repetition counts compare fairly.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TelemetryError};

/// One run's measurements.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The key comparisons match reports by, e.g. `m-small/profile/2t`.
    pub workload: String,
    /// What ran, for people, e.g. `m-small · profile scenario · 2 threads · SIMD V4`.
    pub title: String,
    /// Headline figures (tok/s, time to first token, …), in display order.
    pub metrics: Vec<Metric>,
    /// Repetitions of the workload while spans were recorded.
    pub runs: u64,
    /// Wall time of those repetitions, ns.
    pub wall_ns: u64,
    /// The call tree, depth-first (see [`crate::hot_path`]).
    pub spans: Vec<SpanRow>,
}

/// How a span's time splits (see [`Report::coverage`]); the three add up to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    /// The share inside child spans.
    pub children: f64,
    /// The share the hot-path layer spent entering and leaving those children.
    pub bookkeeping: f64,
    /// The share in the span's own code, between its children.
    pub unexplained: f64,
}

/// A named figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// What it measures, e.g. `decode`.
    pub name: String,
    /// The value in `unit`.
    pub value: f64,
    /// The unit, e.g. `tok/s`.
    pub unit: String,
    /// Whether a larger value is an improvement (tok/s) or a regression (ms, bytes).
    pub higher_is_better: bool,
}

/// One node of the call tree: a span name under the path of span names entered around it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanRow {
    /// The names from the root, joined by `/`: `decode/attention.core`.
    pub path: String,
    /// The span's own name.
    pub name: String,
    /// Nesting depth; top-level spans are 0.
    pub depth: usize,
    /// Times entered.
    pub calls: u64,
    /// Busy time inside the span, ns.
    pub total_ns: u64,
    /// `total_ns` minus the time in child spans and `overhead_ns`, ns: the span's own code.
    pub self_ns: u64,
    /// Time the hot-path layer itself spent inside this span, entering and leaving its child
    /// spans, ns.
    #[serde(default)]
    pub overhead_ns: u64,
    /// Shortest single call, ns.
    pub min_ns: u64,
    /// Longest single call, ns.
    pub max_ns: u64,
    /// Heap allocations made inside (0 without the counting allocator).
    pub alloc_count: u64,
    /// Heap bytes requested inside.
    pub alloc_bytes: u64,
}

impl SpanRow {
    /// Mean time per call, ns.
    pub fn avg_ns(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.calls as f64
        }
    }

    /// The category: the span name up to its first `.` (`attention.core` → `attention`).
    pub fn category(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }
}

impl Metric {
    /// A figure where larger is better (throughput).
    pub fn higher(name: &str, value: f64, unit: &str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            higher_is_better: true,
        }
    }

    /// A figure where smaller is better (latency, bytes).
    pub fn lower(name: &str, value: f64, unit: &str) -> Metric {
        Metric {
            higher_is_better: false,
            ..Metric::higher(name, value, unit)
        }
    }
}

impl Report {
    /// The share of the recorded wall time spent in `ns`.
    pub fn share_of_run(&self, ns: u64) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            ns as f64 / self.wall_ns as f64
        }
    }

    /// Self time per category (see [`SpanRow::category`]), busiest first. Self times never
    /// overlap, so the categories add up to the time covered by the top-level spans.
    pub fn categories(&self) -> Vec<(String, u64)> {
        let mut sums: Vec<(String, u64)> = Vec::new();
        for row in &self.spans {
            match sums.iter_mut().find(|(c, _)| c == row.category()) {
                Some((_, ns)) => *ns += row.self_ns,
                None => sums.push((row.category().to_string(), row.self_ns)),
            }
        }
        sums.sort_by_key(|&(_, ns)| std::cmp::Reverse(ns));
        sums
    }

    /// How the time of the rows named `name` splits between child spans, the layer's own
    /// bookkeeping, and code no finer span explains. `None` if no such row ran.
    pub fn coverage(&self, name: &str) -> Option<Coverage> {
        let rows = self.spans.iter().filter(|r| r.name == name);
        let (total, own, overhead) = rows.fold((0, 0, 0), |(t, s, o), r| {
            (t + r.total_ns, s + r.self_ns, o + r.overhead_ns)
        });
        let share = |ns: u64| ns as f64 / total as f64;
        (total > 0).then(|| Coverage {
            children: 1.0 - share(own + overhead),
            bookkeeping: share(overhead),
            unexplained: share(own),
        })
    }

    /// The layer's bookkeeping time over all spans, ns.
    pub fn overhead_ns(&self) -> u64 {
        self.spans.iter().map(|r| r.overhead_ns).sum()
    }

    /// The metric called `name`.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// Parses a report written by [`Report::to_json`].
    ///
    /// # Errors
    /// [`TelemetryError::Json`] naming `source` when it is not a report.
    pub fn from_json(json: &str, source: &str) -> Result<Report> {
        serde_json::from_str(json).map_err(|e| TelemetryError::Json {
            source_name: source.to_string(),
            error: e,
        })
    }

    /// The report as Markdown: the metrics, the hot-path table and the category shares.
    pub fn to_markdown(&self) -> String {
        let mut md = format!("## {}\n\n", self.title);
        if !self.metrics.is_empty() {
            md += "| metric | value |\n|---|---:|\n";
            for m in &self.metrics {
                let _ = writeln!(md, "| {} | {} {} |", m.name, format_value(m.value), m.unit);
            }
            md.push('\n');
        }
        if !self.spans.is_empty() {
            self.write_hot_path(&mut md);
            self.write_categories(&mut md);
        }
        md
    }

    fn write_hot_path(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Hot path ({} runs, {:.1} ms recorded)\n",
            self.runs,
            self.wall_ns as f64 / 1e6
        );
        md.push_str(
            "| span | calls | total ms | self ms | layer ms | min µs | avg µs | max µs | % run | allocs | alloc bytes |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.spans {
            let _ = writeln!(
                md,
                "| {}{} | {} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} |",
                "· ".repeat(r.depth),
                r.name,
                r.calls,
                r.total_ns as f64 / 1e6,
                r.self_ns as f64 / 1e6,
                r.overhead_ns as f64 / 1e6,
                r.min_ns as f64 / 1e3,
                r.avg_ns() / 1e3,
                r.max_ns as f64 / 1e3,
                100.0 * self.share_of_run(r.total_ns),
                r.alloc_count,
                r.alloc_bytes,
            );
        }
        md.push('\n');
    }

    fn write_categories(&self, md: &mut String) {
        md.push_str("### By category (self time)\n\n| category | ms | % run |\n|---|---:|---:|\n");
        let overhead = self.overhead_ns();
        let mut covered = overhead;
        for (category, ns) in self.categories() {
            covered += ns;
            let _ = writeln!(
                md,
                "| {category} | {:.3} | {:.1} |",
                ns as f64 / 1e6,
                100.0 * self.share_of_run(ns)
            );
        }
        let _ = writeln!(
            md,
            "| (hot-path layer bookkeeping) | {:.3} | {:.1} |",
            overhead as f64 / 1e6,
            100.0 * self.share_of_run(overhead)
        );
        let outside = self.wall_ns.saturating_sub(covered);
        let _ = writeln!(
            md,
            "| (outside any span) | {:.3} | {:.1} |\n",
            outside as f64 / 1e6,
            100.0 * self.share_of_run(outside)
        );
    }
}

/// Several reports as one JSON array (the format of `report.json`).
pub fn reports_to_json(reports: &[Report]) -> String {
    serde_json::to_string_pretty(reports).expect("reports always serialize")
}

/// Reads a JSON file holding one report or an array of them.
///
/// # Errors
/// [`TelemetryError::Io`] or [`TelemetryError::Json`], naming the file.
pub fn read_reports(path: &Path) -> Result<Vec<Report>> {
    let json = std::fs::read_to_string(path).map_err(|e| TelemetryError::Io {
        path: path.to_path_buf(),
        error: e,
    })?;
    let source = path.display().to_string();
    if json.trim_start().starts_with('[') {
        serde_json::from_str(&json).map_err(|e| TelemetryError::Json {
            source_name: source,
            error: e,
        })
    } else {
        Report::from_json(&json, &source).map(|r| vec![r])
    }
}

/// Three significant digits without going to scientific notation for typical figures.
pub(crate) fn format_value(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if magnitude >= 10.0 {
        format!("{v:.1}")
    } else if magnitude >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
