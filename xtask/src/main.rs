//! `cargo xtask`: the project's task runner (the alias lives in `.cargo/config.toml`).
//!
//! A plain binary with few dependencies; each subcommand is one module and drives `cargo` as a
//! child process, so nothing here is needed at run time by the library crates:
//! - [`profile`]: build the `smallmind` CLI in release and run its hot-path profile;
//! - [`bench`]: run the criterion and instruction-count benches, and gate the counts against
//!   the committed baseline.

mod bench;
mod profile;

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
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Profile(args) => profile::run(&args),
        Task::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
