//! `smallmind profile`: runs a benchmark scenario of `WORKLOADS.md` on each model and reports
//! its speed, memory and hot paths; or compares two such reports.
//!
//! Each model is measured in two passes over the same scenario (see [`measure`]):
//! 1. a **timing pass** with no `tracing` subscriber, so spans are disabled exactly as in a
//!    library user's process: tok/s, time to first token, ms/token, allocations per decoded
//!    token, peak RSS;
//! 2. a **hot-path pass** whose session was built under the [`HotPathLayer`]: the span table,
//!    its coverage of decode time, and the layer's own overhead against pass 1.
//!
//! Output: Markdown on stdout, `report.md` and `report.json` (an array of reports, one per
//! model, plus the kernel sweeps with `--deep`) in `--out`.
//!
//! [`HotPathLayer`]: smallmind_telemetry::HotPathLayer

mod deep;
mod measure;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use smallmind_model::workload::Scenario;
use smallmind_telemetry::{Report, compare};

type BoxError = Box<dyn std::error::Error>;

/// Flags of `smallmind profile`.
#[derive(Args, Debug)]
pub(crate) struct ProfileArgs {
    /// Models, comma-separated: presets (m-small, m-medium, m-large, m-gpt2) or Hugging Face
    /// directories.
    #[arg(long, value_delimiter = ',', default_value = "m-small,m-medium")]
    model: Vec<String>,
    /// Worker threads (default: physical cores).
    #[arg(long)]
    threads: Option<usize>,
    /// The scenario of WORKLOADS.md to run.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Profile)]
    scenario: ScenarioArg,
    /// Repetitions of the scenario per pass (default: enough for about a second).
    #[arg(long)]
    runs: Option<u64>,
    /// Add the kernel sweeps: GEMM sizes, GELU lengths, softmax rows.
    #[arg(long)]
    deep: bool,
    /// Where report.md and report.json go.
    #[arg(long, default_value = "target/profile")]
    out: PathBuf,
    /// Compare two report.json files (before, after) instead of running anything.
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
    compare: Option<Vec<PathBuf>>,
    /// Also write every span of the hot-path pass as a Chrome trace (chrome://tracing, Perfetto).
    #[arg(long, value_name = "FILE")]
    chrome_trace: Option<PathBuf>,
    /// Test hook: busy-wait MICROS inside every entry of the span SPAN (`SPAN=MICROS`), to
    /// check that `--compare` flags a slowed span.
    #[arg(long, hide = true, value_name = "SPAN=MICROS")]
    inject_delay: Option<String>,
}

/// `--scenario` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScenarioArg {
    /// Three sessions of a 10-token prompt + 50 generated tokens (T = 0.8, seed 42).
    Profile,
    /// A 128-token prefill, then 64 decode steps.
    Pp128tg64,
}

impl From<ScenarioArg> for Scenario {
    fn from(arg: ScenarioArg) -> Scenario {
        match arg {
            ScenarioArg::Profile => Scenario::Profile,
            ScenarioArg::Pp128tg64 => Scenario::Pp128Tg64,
        }
    }
}

/// A span slowed on purpose (`--inject-delay`).
#[derive(Clone, Copy, Debug)]
struct InjectedDelay {
    span: &'static str,
    delay: Duration,
}

/// Runs `smallmind profile`.
pub(crate) fn profile(args: &ProfileArgs) -> Result<(), BoxError> {
    if let Some(files) = &args.compare {
        return compare_files(&files[0], &files[1]);
    }
    let delay = args.inject_delay.as_deref().map(parse_delay).transpose()?;
    println!(
        "SIMD path: {:?} (best available {:?})\n",
        smallmind_kernels::active_path(),
        smallmind_kernels::dispatch::best_path()
    );
    let mut reports = Vec::new();
    for model in &args.model {
        let settings = measure::Settings {
            scenario: args.scenario.into(),
            threads: args.threads,
            runs: args.runs,
            delay,
            chrome_trace: args.chrome_trace.as_deref(),
        };
        let report = measure::profile_model(model, &settings)?;
        println!("{}", report.to_markdown());
        reports.push(report);
    }
    if args.deep {
        let report = deep::kernel_sweeps(args.threads)?;
        println!("{}", report.to_markdown());
        reports.push(report);
    }
    write_reports(&args.out, &reports)
}

fn parse_delay(text: &str) -> Result<InjectedDelay, BoxError> {
    let bad = || format!("--inject-delay wants SPAN=MICROS, got {text:?}");
    let (span, micros) = text.split_once('=').ok_or_else(bad)?;
    let micros: u64 = micros.parse().map_err(|_| bad())?;
    Ok(InjectedDelay {
        // The layer matches `&'static str` span names; one small leak per process.
        span: Box::leak(span.to_string().into_boxed_str()),
        delay: Duration::from_micros(micros),
    })
}

fn write_reports(dir: &Path, reports: &[Report]) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let markdown: String = reports.iter().map(Report::to_markdown).collect();
    let json = smallmind_telemetry::report::reports_to_json(reports);
    for (name, text) in [("report.md", markdown), ("report.json", json)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("wrote {0}/report.md and {0}/report.json", dir.display());
    Ok(())
}

/// Compares the reports of two `report.json` files, workload by workload.
fn compare_files(before: &Path, after: &Path) -> Result<(), BoxError> {
    let (before, after) = (read_reports(before)?, read_reports(after)?);
    let mut matched = 0;
    for new in &after {
        let Some(old) = before.iter().find(|r| r.workload == new.workload) else {
            println!("{}: not in the first file, skipped\n", new.workload);
            continue;
        };
        matched += 1;
        println!(
            "### {}\n\n{}",
            new.workload,
            compare(old, new).to_markdown()
        );
    }
    if matched == 0 {
        return Err("the two files share no workload to compare".into());
    }
    Ok(())
}

fn read_reports(path: &Path) -> Result<Vec<Report>, BoxError> {
    Ok(smallmind_telemetry::report::read_reports(path)?)
}
