//! Comparing measured instruction counts with the baseline, and the tables and warnings
//! printed about it.
//!
//! Each bench gets a status from `change = (new − baseline) / baseline`: regressed above
//! `+REGRESSION_THRESHOLD_PCT`, improved below its negative, within in between; new when the
//! baseline lacks it, missing when the baseline has it but the run did not produce it.

use std::collections::BTreeSet;

use super::REGRESSION_THRESHOLD_PCT;
use super::baseline::Baseline;

/// What to do about a regression, printed after the offenders.
pub(crate) const REGRESSION_ADVICE: &str = "\nFind what costs the instructions: \
     `callgrind_annotate target/gungraun/smallmind-benches/FILE/GROUP/FUNCTION.ID/callgrind.*.out` \
     (one file per thread) lists them per function and source line; run it before and after \
     the change. Then fix it. If the increase is intended (new kernel, algorithm change, \
     toolchain bump), re-save with `cargo xtask bench --save-baseline --reason \"...\"` and \
     end the commit message with the `Icount-Resave: <reason>` trailer it prints.";

/// How one bench compares with the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// More than the threshold above the baseline.
    Regressed,
    /// More than the threshold below the baseline.
    Improved,
    /// Within the threshold.
    Within,
    /// Not in the baseline.
    New,
    /// In the baseline, not measured.
    Missing,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Regressed => "REGRESSED",
            Status::Improved => "improved",
            Status::Within => "",
            Status::New => "new",
            Status::Missing => "missing",
        }
    }
}

/// One bench: its baseline and measured counts.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// Bench id.
    pub(crate) id: String,
    /// Baseline `Ir`, if the baseline has the bench.
    pub(crate) baseline: Option<u64>,
    /// Measured `Ir`, if the run produced the bench.
    pub(crate) new: Option<u64>,
}

impl Row {
    /// The relative change in percent, when both counts exist.
    pub(crate) fn change_pct(&self) -> Option<f64> {
        let (old, new) = (self.baseline?, self.new?);
        Some((new as f64 - old as f64) / old.max(1) as f64 * 100.0)
    }

    /// The status against [`REGRESSION_THRESHOLD_PCT`].
    pub(crate) fn status(&self) -> Status {
        match self.change_pct() {
            None if self.baseline.is_none() => Status::New,
            None => Status::Missing,
            Some(c) if c > REGRESSION_THRESHOLD_PCT => Status::Regressed,
            Some(c) if c < -REGRESSION_THRESHOLD_PCT => Status::Improved,
            Some(_) => Status::Within,
        }
    }
}

/// The measured counts next to the baseline's.
pub(crate) struct Comparison {
    rows: Vec<Row>,
    meta_differences: Vec<String>,
}

impl Comparison {
    /// Compares `measured` with `baseline`. With `filtered`, benches of the baseline that
    /// were not run are left out instead of reported missing.
    pub(crate) fn new(baseline: Option<&Baseline>, measured: &Baseline, filtered: bool) -> Self {
        let empty = Default::default();
        let old = baseline.map_or(&empty, |b| &b.counts);
        let mut ids: BTreeSet<&String> = measured.counts.keys().collect();
        if !filtered {
            ids.extend(old.keys());
        }
        let rows = ids
            .into_iter()
            .map(|id| Row {
                id: id.clone(),
                baseline: old.get(id).copied(),
                new: measured.counts.get(id).copied(),
            })
            .collect();
        let meta_differences =
            baseline.map_or_else(Vec::new, |b| b.meta.differences(&measured.meta));
        Comparison {
            rows,
            meta_differences,
        }
    }

    /// The rows with `status`.
    pub(crate) fn with_status(&self, status: Status) -> Vec<Row> {
        let rows = self.rows.iter().filter(|r| r.status() == status);
        rows.cloned().collect()
    }

    /// The regressed rows.
    pub(crate) fn regressions(&self) -> Vec<Row> {
        self.with_status(Status::Regressed)
    }

    /// Prints every row.
    pub(crate) fn print(&self) {
        println!(
            "\ninstruction counts (callgrind Ir) against {}, threshold ±{REGRESSION_THRESHOLD_PCT}%:\n",
            super::BASELINE_PATH
        );
        print_table(&self.rows);
    }

    /// The rows, sorted by bench id.
    pub(crate) fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The conditions (rustc, valgrind, gungraun, SIMD path) that differ from the
    /// baseline's, one line each.
    pub(crate) fn meta_differences(&self) -> &[String] {
        &self.meta_differences
    }

    /// Prints what keeps this run from matching the baseline besides regressions — benches
    /// new since the baseline, benches of the baseline the run did not produce, different
    /// conditions — under `label` (`error` for `--check`, `warning` otherwise), after a note
    /// on improvements. Returns how many kinds of mismatch it found.
    pub(crate) fn print_mismatches(&self, label: &str) -> usize {
        let improved = self.with_status(Status::Improved);
        if !improved.is_empty() {
            println!(
                "\nnote: {} bench(es) improved by more than {REGRESSION_THRESHOLD_PCT}%: \
                 re-save the baseline (`cargo xtask bench --save-baseline --reason ...`) in \
                 this change so the gate keeps the gain:",
                improved.len()
            );
            print_ids(&improved);
        }
        let mut kinds = 0;
        let new = self.with_status(Status::New);
        if !new.is_empty() {
            kinds += 1;
            println!(
                "\n{label}: measured but not in the baseline (add them with `--save-baseline`):"
            );
            print_ids(&new);
        }
        let missing = self.with_status(Status::Missing);
        if !missing.is_empty() {
            kinds += 1;
            println!(
                "\n{label}: in the baseline but not measured (renamed or removed benches? \
                 re-save to drop them):"
            );
            print_ids(&missing);
        }
        if self.print_meta_differences(label) {
            kinds += 1;
        }
        kinds
    }

    /// Prints, under `label`, the conditions that differ from the baseline's (counts then
    /// move without any code change); `true` if there are any.
    pub(crate) fn print_meta_differences(&self, label: &str) -> bool {
        if self.meta_differences.is_empty() {
            return false;
        }
        println!("\n{label}: the baseline was taken under other conditions:");
        for line in &self.meta_differences {
            println!("  {line}");
        }
        true
    }
}

fn print_ids(rows: &[Row]) {
    for row in rows {
        println!("  {}", row.id);
    }
}

/// Prints `rows` as an aligned table: bench, baseline Ir, new Ir, change, status.
pub(crate) fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(0).max(5);
    println!(
        "{:<width$}  {:>12}  {:>12}  {:>8}  status",
        "bench", "baseline Ir", "new Ir", "change"
    );
    for row in rows {
        let count = |c: Option<u64>| c.map_or("-".to_string(), |c| c.to_string());
        let change = row.change_pct().map_or("-".into(), |c| format!("{c:+.2}%"));
        println!(
            "{:<width$}  {:>12}  {:>12}  {:>8}  {}",
            row.id,
            count(row.baseline),
            count(row.new),
            change,
            row.status().label()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::baseline::Meta;

    fn baseline(counts: &[(&str, u64)]) -> Baseline {
        Baseline {
            meta: Meta {
                rustc: "r".into(),
                valgrind: "v".into(),
                gungraun: "g".into(),
                simd_path: "v3".into(),
            },
            counts: counts.iter().map(|&(id, c)| (id.to_string(), c)).collect(),
        }
    }

    fn status_of(comparison: &Comparison, id: &str) -> Status {
        comparison
            .rows
            .iter()
            .find(|r| r.id == id)
            .unwrap()
            .status()
    }

    #[test]
    fn classifies_against_the_threshold() {
        let old = baseline(&[("a", 1000), ("b", 1000), ("c", 1000), ("gone", 5)]);
        let new = baseline(&[("a", 1021), ("b", 1020), ("c", 979), ("fresh", 7)]);
        let comparison = Comparison::new(Some(&old), &new, false);
        assert_eq!(status_of(&comparison, "a"), Status::Regressed);
        assert_eq!(status_of(&comparison, "b"), Status::Within);
        assert_eq!(status_of(&comparison, "c"), Status::Improved);
        assert_eq!(status_of(&comparison, "fresh"), Status::New);
        assert_eq!(status_of(&comparison, "gone"), Status::Missing);
        assert_eq!(comparison.regressions().len(), 1);
    }

    #[test]
    fn new_and_missing_benches_and_other_conditions_are_mismatches() {
        let old = baseline(&[("a", 1000), ("gone", 5)]);
        let same = Comparison::new(Some(&old), &old, false);
        assert_eq!(same.print_mismatches("error"), 0);
        let mut new = baseline(&[("a", 1000), ("fresh", 7)]);
        let renamed = Comparison::new(Some(&old), &new, false);
        assert_eq!(renamed.print_mismatches("error"), 2);
        new.meta.gungraun = "0.21.0".into();
        let other_tools = Comparison::new(Some(&old), &new, false);
        assert_eq!(other_tools.print_mismatches("error"), 3);
        assert!(other_tools.meta_differences()[0].starts_with("gungraun:"));
    }

    #[test]
    fn a_filtered_run_does_not_report_the_rest_missing() {
        let old = baseline(&[("a", 1000), ("b", 1000)]);
        let new = baseline(&[("a", 1000)]);
        let comparison = Comparison::new(Some(&old), &new, true);
        assert_eq!(comparison.rows.len(), 1);
    }
}
