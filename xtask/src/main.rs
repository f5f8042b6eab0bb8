//! `cargo xtask`: the project's task runner (the alias lives in `.cargo/config.toml`).
//!
//! A plain binary with few dependencies; each subcommand is one module and drives `cargo` as a
//! child process, so nothing here is needed at run time by the library crates:
//! - [`profile`]: build the `smallmind` CLI in release and run its hot-path profile;
//! - [`bench`](mod@bench): run the criterion and instruction-count benches, and gate the counts against
//!   the committed baseline;
//! - [`guard`]: check that every commit changing that baseline says why (CI);
//! - [`proofs`]: run the exhaustive error proofs of the math kernels, which plain test runs
//!   skip.

mod bench;
mod git;
mod guard;
mod profile;
mod proofs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project tasks for smallmind.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run a workload with telemetry and print the hot-path report.
    Profile(profile::Args),
    /// Run the benches; `--check` gates instruction counts against the baseline.
    Bench(bench::Args),
    /// Fail if a commit changed the instruction-count baseline without an
    /// `Icount-Resave: <reason>` trailer and a history entry.
    BaselineGuard(guard::Args),
    /// Run the exhaustive ulp proofs of exp, tanh and erf (every f32 input; minutes).
    Proofs(proofs::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Profile(args) => profile::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::BaselineGuard(args) => guard::run(&args),
        Task::Proofs(args) => proofs::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
