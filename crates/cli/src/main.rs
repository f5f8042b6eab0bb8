//! `smallmind`: generate with a GGUF file, a Hugging Face directory or a preset, benchmark it,
//! or profile a benchmark scenario.
//!
//! ```text
//! smallmind generate --model SmolLM2-135M-Instruct.Q4_1.gguf --chat --prompt "What is the capital of France?"
//! smallmind generate --model path/to/hf-dir --prompt "Once upon a time" -n 64 --temperature 0.8
//! smallmind generate --model m-small --prompt-ids 1,2,3 --max-tokens 32
//! smallmind profile --model m-small,m-medium --out target/profile
//! smallmind profile --compare before/report.json after/report.json
//! smallmind bench --model m-gpt2 -p 128 -n 64 -t 1,2
//! smallmind serve -m SmolLM2-135M-Instruct.Q4_1.gguf --slots 8 --port 8080
//! smallmind train --data input.txt --preset m-small --steps 2000 --out checkpoints/tiny
//! ```
//!
//! All model logic lives in the library (`smallmind::load` finds and loads a model, its
//! `TextSession` streams text); this binary parses flags, installs telemetry (the counting
//! allocator, and a `tracing` layer while profiling) and prints.

mod bench;
mod chat;
mod generate;
mod inspect;
mod loading;
mod perplexity;
mod profile;
mod quantize;
mod serve;
mod tokenize;
mod train;

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
    /// Generate from a prompt: text streams to stdout, speed to stderr.
    Generate(generate::GenerateArgs),
    /// Talk with the model through its chat template (a terminal or a pipe).
    Chat(chat::ChatArgs),
    /// Print a model's metadata, tensor types and parameter count.
    Inspect(inspect::InspectArgs),
    /// Print the token ids of a text as a JSON array.
    Tokenize(tokenize::TokenizeArgs),
    /// Rewrite a GGUF file in a llama.cpp mixture (Q4_K_M, Q5_K_M, ...) or one weight type.
    Quantize(quantize::QuantizeArgs),
    /// Run a benchmark scenario with telemetry: speed, memory and the hot-path table.
    Profile(profile::ProfileArgs),
    /// Prompt-processing and generation throughput as a llama-bench table.
    Bench(bench::BenchArgs),
    /// The mean next-token loss of a text, and its perplexity, as JSON.
    Perplexity(perplexity::PerplexityArgs),
    /// Serve the model over an OpenAI-compatible HTTP API (chat, completions, SSE, metrics).
    Serve(serve::ServeArgs),
    /// Train a GPT-2 style model on text with a char-level vocabulary.
    Train(train::TrainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Generate(args) => generate::generate(args),
        Command::Chat(args) => chat::chat(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Tokenize(args) => tokenize::tokenize(args),
        Command::Quantize(args) => quantize::quantize(args),
        Command::Profile(args) => profile::profile(args),
        Command::Bench(args) => bench::bench(args),
        Command::Perplexity(args) => perplexity::perplexity(args),
        Command::Serve(args) => serve::serve(args),
        Command::Train(args) => train::train(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
