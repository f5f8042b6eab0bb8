//! `cargo xtask profile`: builds the `smallmind` CLI in release and runs `smallmind profile`,
//! which measures a scenario of `WORKLOADS.md` with telemetry and prints the report (see
//! `docs/profiling.md`).
//!
//! ```text
//! cargo xtask profile                                   # profile scenario, M-small and M-medium
//! cargo xtask profile --model m-gpt2 --threads 2 --scenario pp128tg64
//! cargo xtask profile --deep                            # + GEMM, GELU and softmax sweeps
//! cargo xtask profile --out before  …  --out after      # then:
//! cargo xtask profile --compare before/report.json after/report.json
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Flags of `cargo xtask profile`; each is passed on to `smallmind profile`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Models, comma-separated: presets (m-small, m-medium, m-large, m-gpt2) or Hugging Face
    /// directories [default: m-small,m-medium].
    #[arg(long)]
    model: Option<String>,
    /// Worker threads [default: physical cores].
    #[arg(long)]
    threads: Option<usize>,
    /// `profile` or `pp128tg64` [default: profile].
    #[arg(long)]
    scenario: Option<String>,
    /// Repetitions of the scenario per pass [default: about a second's worth].
    #[arg(long)]
    runs: Option<u64>,
    /// Add the kernel sweeps (GEMM sizes, GELU lengths, softmax rows).
    #[arg(long)]
    deep: bool,
    /// Where report.md and report.json go [default: target/profile in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compare two report.json files instead of running anything.
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
    compare: Option<Vec<PathBuf>>,
    /// Also write a Chrome trace of the hot-path pass.
    #[arg(long, value_name = "FILE")]
    chrome_trace: Option<PathBuf>,
    /// Further `smallmind profile` flags, after `--`.
    #[arg(last = true)]
    rest: Vec<String>,
}

/// Runs the task.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let root = workspace_root();
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "smallmind-cli",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .args(["--", "profile"])
        .args(profile_flags(args, &root));
    let status = command
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("smallmind profile failed ({status})"))
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

fn profile_flags(args: &Args, root: &Path) -> Vec<OsString> {
    let mut flags: Vec<OsString> = Vec::new();
    let mut flag = |name: &str, value: Option<OsString>| {
        if let Some(value) = value {
            flags.push(name.into());
            flags.push(value);
        }
    };
    flag("--model", args.model.as_ref().map(Into::into));
    flag("--threads", args.threads.map(|t| t.to_string().into()));
    flag("--scenario", args.scenario.as_ref().map(Into::into));
    flag("--runs", args.runs.map(|r| r.to_string().into()));
    flag("--chrome-trace", args.chrome_trace.as_ref().map(Into::into));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/profile"));
    flag("--out", Some(out.into()));
    if let Some(files) = &args.compare {
        flags.push("--compare".into());
        flags.extend(files.iter().map(Into::into));
    }
    if args.deep {
        flags.push("--deep".into());
    }
    flags.extend(args.rest.iter().map(Into::into));
    flags
}
