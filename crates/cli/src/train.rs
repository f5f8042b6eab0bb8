//! `smallmind train`: train a GPT-2 family model from scratch on a text file
//! or a directory of them, with a char-level vocabulary; a progress bar with
//! loss, tokens/s and ETA; validation loss at intervals; checkpoints that
//! `smallmind generate` and Hugging Face transformers load; Ctrl-C saves
//! before exiting; `--resume` continues exactly where a checkpoint stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use smallmind_model::preset::Preset;
use smallmind_model::{ModelConfig, SamplerConfig, loader};
use smallmind_tokenizer::{CHAR_TOKENIZER_FILE, CharTokenizer};
use smallmind_train::checkpoint::Checkpoint;
use smallmind_train::data::{DEFAULT_VAL_FRACTION, TextDataset};
use smallmind_train::sample_text;
use smallmind_train::schedule::LrSchedule;
use smallmind_train::trainer::{TrainSettings, Trainer, init_params};

type BoxError = Box<dyn std::error::Error>;
/// An error that can leave the training pool's thread.
type SendError = Box<dyn std::error::Error + Send + Sync>;

/// Arguments of `smallmind train`.
#[derive(Args, Debug)]
pub(crate) struct TrainArgs {
    /// Training text: a `.txt` file or a directory of them.
    #[arg(long)]
    data: PathBuf,
    /// Model shape: a preset (m-small, m-medium, m-large; default m-small); the vocabulary comes
    /// from the data. With --resume it must match the checkpoint's.
    #[arg(long)]
    preset: Option<String>,
    /// Optimizer steps.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Rows per batch.
    #[arg(short = 'b', long, default_value_t = 16)]
    batch_size: usize,
    /// Tokens per row (default: the preset's context).
    #[arg(long)]
    context: Option<usize>,
    /// Micro-batches accumulated per optimizer step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Learning-rate schedule: constant, cosine, cosine:MIN_LR or step:EVERY:GAMMA.
    #[arg(long, default_value = "cosine")]
    schedule: String,
    /// Steps of linear warmup (default: 100, or a tenth of --steps if that is less).
    #[arg(long)]
    warmup: Option<u64>,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    /// Clip the global gradient norm to this (0: no clipping; negative is an error).
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f32,
    /// Fraction of the text held out for validation.
    #[arg(long, default_value_t = DEFAULT_VAL_FRACTION)]
    val_fraction: f32,
    /// Steps between validation runs (0: only at the end).
    #[arg(long, default_value_t = 200)]
    eval_interval: u64,
    /// Validation batches per evaluation, at most.
    #[arg(long, default_value_t = 16)]
    eval_batches: usize,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 500)]
    save_interval: u64,
    /// Seed of the initial weights and the batches.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Checkpoint directory.
    #[arg(short, long, default_value = "checkpoints/run")]
    out: PathBuf,
    /// Continue the run saved in --out.
    #[arg(long)]
    resume: bool,
    /// Worker threads (default: physical cores).
    #[arg(short, long)]
    threads: Option<usize>,
    /// Characters of the sample generated at the end (0: none).
    #[arg(long, default_value_t = 200)]
    sample_chars: usize,
}

/// Runs `smallmind train`.
pub(crate) fn train(args: &TrainArgs) -> Result<(), BoxError> {
    let threads = args
        .threads
        .unwrap_or_else(smallmind_model::session::physical_cores);
    if threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;
    }
    let (data, mut trainer) = start(args)?;
    eprintln!(
        "training {} parameters on {} ({} train / {} validation tokens, {} characters); \
         batch {}×{}, {} threads; checkpoints in {}",
        trainer.params().len(),
        args.data.display(),
        data.train_tokens().len(),
        data.val_tokens().len(),
        data.tokenizer().vocab_size(),
        trainer.settings().batch_size,
        trainer.settings().context,
        threads,
        args.out.display()
    );
    let finished = pool
        .install(|| run(args, &data, &mut trainer, &interrupted))
        .map_err(|e| e as BoxError)?;
    trainer.save(&args.out, &data)?;
    if !finished {
        eprintln!(
            "interrupted at step {}: checkpoint saved to {}; continue with --resume",
            trainer.step_count(),
            args.out.display()
        );
        return Ok(());
    }
    eprintln!("checkpoint saved to {}", args.out.display());
    if args.sample_chars > 0 {
        sample(&args.out, &data, args.sample_chars, args.seed, threads)?;
    }
    Ok(())
}

/// A fresh run, or the run saved in `--out` with `--resume`.
fn start(args: &TrainArgs) -> Result<(TextDataset, Trainer), BoxError> {
    if args.resume {
        let expected = match &args.preset {
            Some(name) => Some(resumed_config(&args.out, name)?),
            None => None,
        };
        let checkpoint = Checkpoint::load(&args.out, expected.as_ref())?;
        let tokenizer = checkpoint
            .tokenizer
            .clone()
            .ok_or("the checkpoint has no tokenizer_chars.json; it cannot be resumed")?;
        let val_fraction = checkpoint
            .state
            .as_ref()
            .map_or(args.val_fraction, |s| s.val_fraction);
        let data = TextDataset::load_with_tokenizer(&args.data, tokenizer, val_fraction)?;
        let trainer = Trainer::resume(checkpoint, &data, args.eval_batches)?;
        return Ok((data, trainer));
    }
    let data = TextDataset::load(&args.data, args.val_fraction)?;
    let preset = Preset::parse(args.preset.as_deref().unwrap_or(DEFAULT_PRESET))?;
    let mut config = preset.config();
    config.vocab_size = data.tokenizer().vocab_size();
    let context = args.context.unwrap_or(config.max_position_embeddings);
    let warmup = args.warmup.unwrap_or((args.steps / 10).min(100));
    let schedule = LrSchedule::parse(&args.schedule, args.lr, warmup, args.steps)?;
    let settings = TrainSettings {
        batch_size: args.batch_size,
        context,
        grad_accum: args.grad_accum,
        grad_clip: (args.grad_clip != 0.0).then_some(args.grad_clip),
        schedule,
        weight_decay: args.weight_decay,
        seed: args.seed,
        val_fraction: args.val_fraction,
        val_batches: args.eval_batches,
    };
    let params = init_params(&config, args.seed)?;
    let trainer = Trainer::new(&config, params, &data, settings)?;
    Ok((data, trainer))
}

/// The preset of a fresh run without --preset.
const DEFAULT_PRESET: &str = "m-small";

/// The config `--preset` implies for the checkpoint in `dir` (whose vocabulary it keeps).
fn resumed_config(dir: &Path, preset: &str) -> Result<ModelConfig, BoxError> {
    let chars = CharTokenizer::load(dir.join(CHAR_TOKENIZER_FILE))?;
    Ok(ModelConfig {
        vocab_size: chars.vocab_size(),
        ..Preset::parse(preset)?.config()
    })
}

/// The loop: steps with a progress bar, validation and checkpoints at their
/// intervals. Returns false if Ctrl-C stopped it.
fn run(
    args: &TrainArgs,
    data: &TextDataset,
    trainer: &mut Trainer,
    interrupted: &AtomicBool,
) -> Result<bool, SendError> {
    let first = trainer.step_count();
    let bar = ProgressBar::new(args.steps);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps | {msg} | ETA {eta}",
    )?);
    bar.set_position(first);
    // Throughput counts the optimizer steps only, not validation or saving.
    let mut step_time = Duration::ZERO;
    let mut tokens = 0usize;
    if first == 0
        && let Some(loss) = trainer.validate()?
    {
        say(&bar, format!("step 0: validation loss {loss:.4}"));
    }
    while trainer.step_count() < args.steps {
        if interrupted.load(Ordering::SeqCst) {
            bar.abandon();
            return Ok(false);
        }
        let started = Instant::now();
        let stats = trainer.step(data)?;
        step_time += started.elapsed();
        tokens += stats.tokens;
        let rate = tokens as f64 / step_time.as_secs_f64();
        bar.set_position(stats.step);
        // Only a visible bar needs its message (formatting allocates).
        if !bar.is_hidden() {
            bar.set_message(format!(
                "loss {:.4} | {:.1}k tok/s | lr {:.2e}",
                stats.loss,
                rate / 1e3,
                stats.lr
            ));
        }
        let last = stats.step == args.steps;
        let evaluate = (args.eval_interval > 0 && stats.step % args.eval_interval == 0) || last;
        if evaluate && let Some(loss) = trainer.validate()? {
            say(
                &bar,
                format!(
                    "step {}: train loss {:.4}, validation loss {loss:.4}, {:.1}k tok/s",
                    stats.step,
                    stats.loss,
                    rate / 1e3
                ),
            );
        }
        if args.save_interval > 0 && stats.step % args.save_interval == 0 && !last {
            trainer.save(&args.out, data)?;
        }
    }
    bar.finish();
    Ok(true)
}

/// Prints a line above the progress bar, or to stderr when the bar is
/// hidden (stderr is not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Loads the saved checkpoint the way `smallmind generate` does and prints
/// `chars` sampled characters after the training text's first character.
fn sample(
    dir: &Path,
    data: &TextDataset,
    chars: usize,
    seed: u64,
    threads: usize,
) -> Result<(), BoxError> {
    let model = Arc::new(loader::load_dir(dir)?);
    let tokenizer = data.tokenizer();
    let first = data.train_tokens().first().copied().unwrap_or(0);
    let prompt = tokenizer.decode_id(first)?.to_string();
    let config = SamplerConfig {
        temperature: 0.8,
        seed,
        ..SamplerConfig::default()
    };
    let text = sample_text(model, tokenizer, &prompt, chars, config, Some(threads))?;
    println!("{prompt}{text}");
    Ok(())
}
