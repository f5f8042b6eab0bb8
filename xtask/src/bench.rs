//! `cargo xtask bench [--filter X] [--check] [--save-baseline --reason WHY]`: runs the benches
//! and gates instruction counts against the baseline committed in the repository.
//!
//! Two kinds of benches live in `benches/` (package `smallmind-benches`):
//! - criterion wall-clock benches ([`CRITERION_BENCHES`]): the kernel workloads with their
//!   peers, and the model workloads (tg64, pp128). Wall-clock time on a shared 2-core machine
//!   moves by several percent from run to run, so these are reported, never gated;
//! - gungraun instruction-count benches ([`ICOUNT_BENCHES`]), run under valgrind's callgrind:
//!   a subset of kernels (among them the Q4_1 and Q4_K GEMVs of decode), the ops layers at
//!   M-small's geometry, and one decode step on M-small, M-medium and the Q4_1 GGUF fixture
//!   (quantized weights and activations). The count of executed instructions (callgrind's `Ir`) of a given binary on
//!   given inputs is deterministic, so a change of more than [`REGRESSION_THRESHOLD_PCT`] is a
//!   real change in the code that runs, not noise. Valgrind has no AVX-512, so the counts are
//!   taken on the AVX2+FMA path ([`ICOUNT_SIMD_PATH`]).
//!
//! Modes:
//! - no flag: the criterion benches, then the instruction-count benches, then the table of
//!   counts against the baseline (informative, never fails);
//! - `--check`: only the instruction-count benches; fails (non-zero exit) when any bench
//!   counts more than [`REGRESSION_THRESHOLD_PCT`] more instructions than its baseline,
//!   printing the offenders, and when the run does not match the baseline: a bench measured
//!   but not in the baseline, a bench of the baseline not measured (unless `--filter` left it
//!   out), or a toolchain, valgrind, gungraun or SIMD path other than the baseline's.
//!   Improvements past the threshold are a note. CI (`.ci/run`) runs this;
//! - `--save-baseline --reason WHY`: runs the instruction-count benches, rewrites
//!   [`BASELINE_PATH`] (only the filtered entries with `--filter`), appends the per-bench diff
//!   with the date, the reason and the commit measured on to [`HISTORY_PATH`], and prints the
//!   `Icount-Resave: WHY` trailer the commit must end with (`cargo xtask baseline-guard`,
//!   [`crate::guard`], fails CI on a commit that changes the baseline without it).
//!
//! `--filter X` selects benches in both kinds: criterion reads it as a regex on the bench id
//! (`group/function`), gungraun as a glob (`*`, `?`, `[...]`) on
//! `FILE::GROUP::FUNCTION::ID`; a filter without glob characters is a substring for both
//! (gungraun gets `*X*`).
//!
//! # When re-saving the baseline is legitimate
//! The baseline records what the code is meant to cost. Re-save it (`--save-baseline`) in the
//! commit that changes the cost on purpose, and say why in `--reason` (which becomes the
//! commit's `Icount-Resave` trailer and the heading of its history entry):
//! - a new or rewritten kernel or algorithm (a faster GEMM, fused ops, another tiling),
//!   including a deliberate trade (more instructions for fewer cache misses or better
//!   threading, measured with the wall-clock benches);
//! - new instrumentation that is part of the design (e.g. tracing spans), with its measured
//!   wall-clock cost;
//! - a new bench, or a changed bench input;
//! - a toolchain (`rust-toolchain.toml`), dependency or valgrind bump: codegen moves counts
//!   by itself; re-save in the bump's own commit, with no code change mixed in.
//!
//! It is not legitimate to re-save to make `--check` pass on a regression nobody explained:
//! find the change that costs the instructions first (`callgrind_annotate` on the files
//! under `target/gungraun/`), then fix it or justify it as above.

pub(crate) mod baseline;
pub(crate) mod compare;
mod history;
mod icount;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use baseline::{Baseline, Meta};
use compare::Comparison;
use history::Entry;

/// Largest instruction-count increase, in percent of the baseline, that `--check` accepts.
pub(crate) const REGRESSION_THRESHOLD_PCT: f64 = 2.0;

/// The committed baseline, relative to the workspace root.
pub(crate) const BASELINE_PATH: &str = "benches/baseline/icount.json";

/// The history of re-saves ([`history`]), relative to the workspace root.
pub(crate) const HISTORY_PATH: &str = "benches/baseline/history.md";

/// How cargo selects the bench targets: by name across the whole workspace (they all live in
/// `smallmind-benches`). Not `-p smallmind-benches`: features are then resolved for that
/// package alone, which builds a second copy of several dependencies and, above all, a
/// different binary than the one `cargo bench --workspace` (CI's build step) makes.
pub(crate) const BENCH_SELECTION: &str = "--workspace";

/// Criterion wall-clock bench targets.
const CRITERION_BENCHES: [&str; 2] = ["kernels", "model"];

/// Gungraun instruction-count bench targets.
pub(crate) const ICOUNT_BENCHES: [&str; 3] = ["kernels_icount", "ops_icount", "model_icount"];

/// The SIMD path the instruction-count benches force (`SMALLMIND_SIMD` in their `main!`
/// config, `smallmind_benches::icount::PATH`), recorded in the baseline.
pub(crate) const ICOUNT_SIMD_PATH: &str = "v3";

/// Flags of `cargo xtask bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only benches matching X: a regex for criterion, a glob on FILE::GROUP::FUNCTION::ID for
    /// the instruction-count benches (a plain substring works for both).
    #[arg(long, value_name = "X")]
    filter: Option<String>,
    /// Run only the instruction-count benches and fail if any regresses by more than 2%
    /// against the committed baseline, or if the benches or conditions differ from it.
    #[arg(long, conflicts_with = "save_baseline")]
    check: bool,
    /// Run the instruction-count benches, rewrite the committed baseline and append the diff
    /// to the history (see docs/profiling.md for when that is legitimate); needs --reason.
    #[arg(long, requires = "reason")]
    save_baseline: bool,
    /// Why the counts change, one line: the history entry's heading and the commit's
    /// `Icount-Resave` trailer.
    #[arg(long, value_name = "WHY", requires = "save_baseline")]
    reason: Option<String>,
}

/// Runs the task.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = crate::workspace_root();
    let filter = args.filter.as_deref();
    if args.save_baseline {
        let reason = (args.reason.as_deref()).ok_or("--save-baseline needs --reason WHY")?;
        save_baseline(&root, filter, reason)
    } else if args.check {
        check(&root, filter)
    } else {
        run_all(&root, filter)
    }
}

/// No flag: criterion benches, instruction counts, and the informative table.
fn run_all(root: &Path, filter: Option<&str>) -> Result<(), String> {
    for bench in CRITERION_BENCHES {
        let start = Instant::now();
        run_criterion(root, bench, filter)?;
        eprintln!("xtask: criterion `{bench}` took {:.0?}", start.elapsed());
    }
    if Baseline::load(&root.join(BASELINE_PATH))?.is_none() {
        println!("no baseline at {BASELINE_PATH} yet: run `cargo xtask bench --save-baseline`.");
    }
    let measured = measure(root, filter)?;
    if measured.counts.is_empty() {
        println!(
            "\nno instruction-count bench matches the filter `{}`.",
            filter.unwrap_or("")
        );
        return Ok(());
    }
    compare_and_print(root, &measured, filter)?.print_mismatches("warning");
    Ok(())
}

/// `--check`: instruction counts only, failing on regressions.
fn check(root: &Path, filter: Option<&str>) -> Result<(), String> {
    if Baseline::load(&root.join(BASELINE_PATH))?.is_none() {
        return Err(format!(
            "no baseline at {BASELINE_PATH}: save one with `cargo xtask bench --save-baseline` \
             and commit it"
        ));
    }
    let (comparison, _) = measure_and_compare(root, filter)?;
    let mismatches = comparison.print_mismatches("error");
    let regressed = comparison.regressions();
    if regressed.is_empty() && mismatches == 0 {
        println!(
            "\nbench check passed: no instruction count grew by more than \
             {REGRESSION_THRESHOLD_PCT}% over {BASELINE_PATH}."
        );
        return Ok(());
    }
    if !regressed.is_empty() {
        println!(
            "\nbench check FAILED: {} bench(es) execute more than {REGRESSION_THRESHOLD_PCT}% \
             more instructions than the baseline:\n",
            regressed.len()
        );
        compare::print_table(&regressed);
        println!("{}", compare::REGRESSION_ADVICE);
    }
    Err(format!(
        "{} instruction-count regression(s) over {REGRESSION_THRESHOLD_PCT}%, {mismatches} \
         mismatch(es) between the run and {BASELINE_PATH} (errors above)",
        regressed.len()
    ))
}

/// `--save-baseline --reason WHY`: instruction counts, written to [`BASELINE_PATH`], and
/// their diff appended to [`HISTORY_PATH`].
fn save_baseline(root: &Path, filter: Option<&str>, reason: &str) -> Result<(), String> {
    history::check_reason(reason)?;
    let head = crate::git::head(root)?;
    let (comparison, measured) = measure_and_compare(root, filter)?;
    comparison.print_meta_differences("note");
    let path = root.join(BASELINE_PATH);
    let entry = Entry {
        reason,
        head,
        meta: &measured.meta,
        comparison: &comparison,
    };
    let saved = match (filter, Baseline::load(&path)?) {
        (Some(_), Some(old)) => old.merged(measured.clone()),
        _ => measured.clone(),
    };
    saved.save(&path)?;
    entry.append(&root.join(HISTORY_PATH))?;
    println!(
        "\nwrote {} instruction counts to {BASELINE_PATH} and appended their diff to \
         {HISTORY_PATH}. Commit both, and end the commit message with this trailer (after a \
         blank line); CI rejects a baseline change without it:\n\n{}: {reason}\n",
        saved.counts.len(),
        crate::guard::RESAVE_TRAILER
    );
    Ok(())
}

/// Runs the instruction-count benches (at least one must match `filter`) and prints their
/// table against the baseline; returns the comparison and the measured counts.
fn measure_and_compare(
    root: &Path,
    filter: Option<&str>,
) -> Result<(Comparison, Baseline), String> {
    let measured = measure(root, filter)?;
    if measured.counts.is_empty() {
        let filter = filter.unwrap_or_default();
        return Err(format!(
            "no instruction-count bench matches the filter `{filter}`"
        ));
    }
    let comparison = compare_and_print(root, &measured, filter)?;
    Ok((comparison, measured))
}

/// Compares `measured` with the committed baseline and prints the table.
fn compare_and_print(
    root: &Path,
    measured: &Baseline,
    filter: Option<&str>,
) -> Result<Comparison, String> {
    let baseline = Baseline::load(&root.join(BASELINE_PATH))?;
    let comparison = Comparison::new(baseline.as_ref(), measured, filter.is_some());
    comparison.print();
    Ok(comparison)
}

/// Runs the instruction-count benches matching `filter`.
fn measure(root: &Path, filter: Option<&str>) -> Result<Baseline, String> {
    let tools = icount::check_tools(root)?;
    let start = Instant::now();
    let counts = icount::run(root, filter)?;
    eprintln!(
        "xtask: {} instruction-count benches took {:.0?}",
        counts.len(),
        start.elapsed()
    );
    Ok(Baseline {
        meta: Meta::current(root, tools)?,
        counts,
    })
}

/// `cargo bench --workspace --bench <bench> [-- <filter>]`, output to the terminal.
fn run_criterion(root: &Path, bench: &str, filter: Option<&str>) -> Result<(), String> {
    let mut command = cargo(root);
    command.args(["bench", BENCH_SELECTION, "--bench", bench]);
    if let Some(filter) = filter {
        command.args(["--", filter]);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("criterion bench `{bench}` failed ({status})"));
    }
    Ok(())
}

/// A `cargo` command (the one running this xtask when known) in the workspace root.
pub(crate) fn cargo(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root);
    command
}
