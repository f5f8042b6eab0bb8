//! `smallmind`: run a preset or a Hugging Face safetensors model from token ids and report the
//! speed, or profile a benchmark scenario.
//!
//! ```text
//! smallmind run --preset m-small --prompt-ids 1,2,3 --max-tokens 32
//! smallmind run --model path/to/hf-dir --prompt-ids 1,2,3 --temperature 0.8 --seed 42
//! smallmind profile --model m-small,m-medium --out target/profile
//! smallmind profile --compare before/report.json after/report.json
//! smallmind bench --model m-gpt2 -p 128 -n 64 -t 1,2
//! ```
//!
//! All model logic lives in `smallmind-model`; this binary parses flags, installs telemetry
//! (the counting allocator, and a `tracing` layer while profiling) and prints.

mod bench;
mod model_spec;
mod profile;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smallmind_telemetry::alloc::CountingAllocator;

/// Counts heap allocations for `smallmind profile` (a few relaxed atomic adds per allocation).
#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

#[derive(Parser, Debug)]
#[command(
    name = "smallmind",
    version,
    about = "Fast CPU inference for small transformers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate from a prompt of token ids and report tok/s.
    Run(run::RunArgs),
    /// Run a benchmark scenario with telemetry: speed, memory and the hot-path table.
    Profile(profile::ProfileArgs),
    /// Prompt-processing and generation throughput as a llama-bench table.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Profile(args) => profile::profile(args),
        Command::Bench(args) => bench::bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
