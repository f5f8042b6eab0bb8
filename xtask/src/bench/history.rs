//! The history of baseline re-saves ([`super::HISTORY_PATH`]), one Markdown entry per
//! `cargo xtask bench --save-baseline`, oldest first:
//!
//! ```markdown
//! ## 2026-12-07: add the quantized GEMV and decode-step benches
//!
//! Measured on `315ff20abcd…` (with uncommitted changes) under rustc 1.95.0 (…),
//! valgrind-3.19.0, gungraun 0.20.0, SIMD path v3. Commit trailer:
//! `Icount-Resave: add the quantized GEMV and decode-step benches`.
//!
//! | bench | old Ir | new Ir | change |
//! |---|---:|---:|---:|
//! | `kernels_icount::kernels_v3::gemm_v3::nn_128` | 658465 | 658465 | +0.00% |
//! | `kernels_icount::kernels_v3::gemv_q4_1_v3::n256_k512` | - | 41234 | new |
//! ```
//!
//! The rows are the saved benches (with `--filter`, only those), plus the benches the re-save
//! dropped from the baseline (`removed`). Conditions that changed since the previous baseline
//! get a line of their own. `cargo xtask baseline-guard` checks that every commit changing the
//! baseline also changes this file.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::baseline::Meta;
use super::compare::{Comparison, Status};
use crate::guard::RESAVE_TRAILER;

/// The head of a new history file.
const PREAMBLE: &str = "# Instruction-count baseline history\n\n\
One entry per re-save of `benches/baseline/icount.json`, oldest first, appended by \
`cargo xtask bench --save-baseline --reason \"...\"`: the date, the reason, the commit the \
counts were measured on and every saved bench's count before and after. The commit of a \
re-save ends its message with the trailer `Icount-Resave: <reason>`; CI checks it \
(`cargo xtask baseline-guard`). When a re-save is legitimate: docs/profiling.md.\n";

/// One re-save.
pub(crate) struct Entry<'a> {
    /// Why the counts change (the trailer's value).
    pub(crate) reason: &'a str,
    /// The commit measured on, and whether tracked files differed from it.
    pub(crate) head: (String, bool),
    /// The conditions of the new counts.
    pub(crate) meta: &'a Meta,
    /// The new counts against the previous baseline.
    pub(crate) comparison: &'a Comparison,
}

impl Entry<'_> {
    /// The entry's Markdown, dated `date` (`YYYY-MM-DD`).
    fn render(&self, date: &str) -> String {
        let (hash, dirty) = &self.head;
        let dirty = if *dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
        let meta = self.meta;
        let mut text = format!(
            "\n## {date}: {reason}\n\nMeasured on `{hash}`{dirty} under {}, {}, gungraun {}, \
             SIMD path {}. Commit trailer: `{RESAVE_TRAILER}: {reason}`.\n",
            meta.rustc,
            meta.valgrind,
            meta.gungraun,
            meta.simd_path,
            reason = self.reason,
        );
        let changed = self.comparison.meta_differences();
        if !changed.is_empty() {
            text += &format!("\nConditions changed: {}.\n", changed.join("; "));
        }
        text += "\n| bench | old Ir | new Ir | change |\n|---|---:|---:|---:|\n";
        for row in self.comparison.rows() {
            let count = |c: Option<u64>| c.map_or("-".to_string(), |c| c.to_string());
            let change = match row.status() {
                Status::New => "new".to_string(),
                Status::Missing => "removed".to_string(),
                _ => format!("{:+.2}%", row.change_pct().unwrap_or_default()),
            };
            text += &format!(
                "| `{}` | {} | {} | {change} |\n",
                row.id,
                count(row.baseline),
                count(row.new)
            );
        }
        text
    }

    /// Appends the entry, dated today (UTC), to the history at `path`, creating the file
    /// with its preamble if needed.
    pub(crate) fn append(&self, path: &Path) -> Result<(), String> {
        let exists = path.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut text = if exists {
            String::new()
        } else {
            PREAMBLE.to_string()
        };
        text += &self.render(&today());
        file.write_all(text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Checks a re-save's reason: it becomes a trailer value and a Markdown heading, so it must
/// be one non-empty line.
pub(crate) fn check_reason(reason: &str) -> Result<(), String> {
    if reason.trim().is_empty() || reason.contains(['\n', '\r']) {
        return Err(format!(
            "--reason must be one non-empty line (it becomes the commit trailer \
             `{RESAVE_TRAILER}: <reason>`)"
        ));
    }
    Ok(())
}

/// Today's date in UTC, `YYYY-MM-DD`.
fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_date((seconds / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (H. Hinnant's `civil_from_days`:
/// 400-year eras of 146,097 days, years counted from March so the leap day comes last).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::baseline::Baseline;

    fn baseline(valgrind: &str, counts: &[(&str, u64)]) -> Baseline {
        Baseline {
            meta: Meta {
                rustc: "rustc 1.95.0".into(),
                valgrind: valgrind.into(),
                gungraun: "0.20.0".into(),
                simd_path: "v3".into(),
            },
            counts: counts.iter().map(|&(id, c)| (id.to_string(), c)).collect(),
        }
    }

    #[test]
    fn dates_from_days_since_the_epoch() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(19_723), (2024, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }

    #[test]
    fn an_entry_lists_every_bench_with_its_change() {
        let old = baseline("valgrind-3.19.0", &[("kept", 1000), ("dropped", 5)]);
        let new = baseline("valgrind-3.22.0", &[("kept", 1010), ("added", 7)]);
        let comparison = Comparison::new(Some(&old), &new, false);
        let entry = Entry {
            reason: "a reason",
            head: ("abc123".into(), true),
            meta: &new.meta,
            comparison: &comparison,
        };
        let text = entry.render("2026-12-07");
        assert!(text.starts_with("\n## 2026-12-07: a reason\n"), "{text}");
        assert!(
            text.contains("`abc123` (with uncommitted changes)"),
            "{text}"
        );
        assert!(text.contains("`Icount-Resave: a reason`"), "{text}");
        assert!(text.contains("Conditions changed: valgrind:"), "{text}");
        assert!(text.contains("| `kept` | 1000 | 1010 | +1.00% |"), "{text}");
        assert!(text.contains("| `added` | - | 7 | new |"), "{text}");
        assert!(text.contains("| `dropped` | 5 | - | removed |"), "{text}");
    }

    #[test]
    fn a_reason_is_one_non_empty_line() {
        assert!(check_reason("faster Q4_1 GEMV").is_ok());
        assert!(check_reason("").is_err());
        assert!(check_reason("  ").is_err());
        assert!(check_reason("two\nlines").is_err());
    }
}
