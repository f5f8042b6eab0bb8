//! `smallmind bench`: prompt-processing and text-generation throughput in the form of
//! llama-bench's table, so the two tools can be run side by side on the same model.
//!
//! - `pp<N>`: one prefill of `N` tokens into an empty KV cache;
//! - `tg<N>`: `N` decode steps, one token each, from an empty KV cache.
//!
//! Each test runs once to warm up, then `--repetitions` times; the table shows the mean and
//! sample standard deviation of the tokens per second.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use smallmind_model::{Model, Session, SessionOptions};

type BoxError = Box<dyn std::error::Error>;
/// An error that can leave the session's pool.
type SendError = Box<dyn std::error::Error + Send + Sync>;

/// Flags of `smallmind bench` (llama-bench's names).
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// A preset (m-small, m-medium, m-large, m-gpt2) or a Hugging Face directory.
    #[arg(short, long, default_value = "m-gpt2")]
    model: String,
    /// Prompt lengths to prefill, comma-separated (0 skips the test).
    #[arg(
        short = 'p',
        long = "n-prompt",
        value_delimiter = ',',
        default_value = "128"
    )]
    n_prompt: Vec<usize>,
    /// Tokens to generate, comma-separated (0 skips the test).
    #[arg(
        short = 'n',
        long = "n-gen",
        value_delimiter = ',',
        default_value = "64"
    )]
    n_gen: Vec<usize>,
    /// Thread counts, comma-separated (default: physical cores).
    #[arg(short = 't', long, value_delimiter = ',')]
    threads: Option<Vec<usize>>,
    /// Timed repetitions of each test.
    #[arg(short = 'r', long, default_value_t = 5)]
    repetitions: usize,
    /// Keep activations in f32 for quantized weights: exact, slower (default:
    /// quantize them to Q8 on the fly, as llama.cpp does).
    #[arg(long)]
    exact: bool,
}

/// One row of the table.
struct Row {
    threads: usize,
    test: String,
    tokens_per_second: Vec<f64>,
}

/// Runs `smallmind bench`.
pub(crate) fn bench(args: &BenchArgs) -> Result<(), BoxError> {
    if args.repetitions == 0 {
        return Err("--repetitions must be at least 1".into());
    }
    let loaded = crate::loading::load(&args.model)?;
    let (name, model) = (loaded.name(), loaded.model());
    let threads = args
        .threads
        .clone()
        .unwrap_or_else(|| vec![smallmind_model::session::physical_cores()]);
    println!("| model | params | SIMD | threads | test | t/s |\n|---|---:|---|---:|---:|---:|");
    for &t in &threads {
        let options = SessionOptions {
            threads: Some(t),
            activations: crate::loading::activations(args.exact),
            ..SessionOptions::default()
        };
        let mut session = Session::new(Arc::clone(model), &options)?;
        for row in run_tests(&mut session, args)? {
            print_row(name, model, &row);
        }
    }
    Ok(())
}

fn run_tests(session: &mut Session, args: &BenchArgs) -> Result<Vec<Row>, BoxError> {
    let vocab = session.model().config().vocab_size;
    let mut rows = Vec::new();
    for &n in args.n_prompt.iter().filter(|&&n| n > 0) {
        let prompt = tokens(n, vocab);
        let rates = repeat(session, args.repetitions, |s| {
            s.prefill(&prompt)?;
            Ok(n)
        })?;
        rows.push(row(session, format!("pp{n}"), rates));
    }
    for &n in args.n_gen.iter().filter(|&&n| n > 0) {
        let steps = tokens(n, vocab);
        let rates = repeat(session, args.repetitions, |s| {
            for &token in &steps {
                s.decode(token)?;
            }
            Ok(n)
        })?;
        rows.push(row(session, format!("tg{n}"), rates));
    }
    Ok(rows)
}

fn row(session: &Session, test: String, tokens_per_second: Vec<f64>) -> Row {
    Row {
        threads: session.threads(),
        test,
        tokens_per_second,
    }
}

/// Runs `test` (returning its token count) once to warm up and `times` more from an empty
/// cache, inside the session's pool; returns each timed run's tokens per second.
fn repeat(
    session: &mut Session,
    times: usize,
    test: impl Fn(&mut Session) -> Result<usize, SendError> + Send + Sync,
) -> Result<Vec<f64>, BoxError> {
    let rates = session.install(|s| {
        (0..=times)
            .map(|_| {
                s.reset();
                let start = Instant::now();
                let n = test(s)?;
                Ok(n as f64 / start.elapsed().as_secs_f64())
            })
            .collect::<Result<Vec<f64>, SendError>>()
    });
    Ok(rates.map_err(|e| e as BoxError)?[1..].to_vec())
}

/// `n` token ids spread over the vocabulary, as llama-bench feeds arbitrary tokens.
fn tokens(n: usize, vocab: usize) -> Vec<u32> {
    (0..n as u64)
        .map(|i| ((i * 2_654_435_761 + 7) % vocab as u64) as u32)
        .collect()
}

fn print_row(name: &str, model: &Model, row: &Row) {
    let (mean, sd) = mean_and_sd(&row.tokens_per_second);
    println!(
        "| {name} | {:.1}M | {:?} | {} | {} | {mean:.2} ± {sd:.2} |",
        model.param_count() as f64 / 1e6,
        smallmind_kernels::active_path(),
        row.threads,
        row.test,
    );
}

/// The mean and the sample standard deviation (0 for a single value).
fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
