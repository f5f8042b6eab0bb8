//! `smallmind run`: generate from a prompt of token ids and report tok/s.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use smallmind_model::generate::Generation;
use smallmind_model::preset::{PRESET_SEED, Preset};
use smallmind_model::sampler::{Sampler, SamplerConfig, StopCriteria};
use smallmind_model::{Model, Session, SessionOptions, loader};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// A benchmark preset: m-small, m-medium, m-large or m-gpt2 (seeded random weights).
    #[arg(long, conflicts_with = "model", required_unless_present = "model")]
    preset: Option<String>,
    /// A Hugging Face model directory (config.json + model.safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Seed of the preset's random weights.
    #[arg(long, default_value_t = PRESET_SEED)]
    weights_seed: u64,
    /// Prompt token ids, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,7,8,9,10")]
    prompt_ids: Vec<u32>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 50)]
    max_tokens: usize,
    /// Stop tokens, comma-separated (default: the model's EOS ids).
    #[arg(long, value_delimiter = ',')]
    stop_ids: Option<Vec<u32>>,
    /// Worker threads (default: physical cores).
    #[arg(long)]
    threads: Option<usize>,
    /// KV cache positions (default: the model's context).
    #[arg(long)]
    context: Option<usize>,
    /// Sampling temperature; 0 means greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling mass (1: off).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Drop tokens below min_p × the top probability (0: off).
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    /// Repetition penalty (1: off).
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn load_model(args: &RunArgs) -> Result<Model, Box<dyn std::error::Error>> {
    if let Some(dir) = &args.model {
        return Ok(loader::load_dir(dir)?);
    }
    let name = args.preset.as_deref().unwrap_or("m-small");
    Ok(Preset::parse(name)?.model(args.weights_seed)?)
}

pub(crate) fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let model = Arc::new(load_model(args)?);
    let options = SessionOptions {
        threads: args.threads,
        capacity: args.context,
        ..SessionOptions::default()
    };
    let mut session = Session::new(Arc::clone(&model), &options)?;
    let sampler_config = SamplerConfig {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repeat_penalty,
        seed: args.seed,
        ..SamplerConfig::default()
    };
    let mut sampler = Sampler::new(sampler_config, model.config().vocab_size)?;
    let stop = StopCriteria {
        stop_tokens: args
            .stop_ids
            .clone()
            .unwrap_or_else(|| model.config().eos_token_ids.clone()),
        max_new_tokens: args.max_tokens,
    };
    let (mapped, owned) = model.weight_bytes();
    eprintln!(
        "model: {:?}, {} parameters ({:.1} MB mapped, {:.1} MB in memory); {} threads, context {}, {:.1} MB planned",
        model.config().architecture,
        model.param_count(),
        mapped as f64 / 1e6,
        owned as f64 / 1e6,
        session.threads(),
        session.capacity(),
        session.planned_bytes() as f64 / 1e6,
    );
    let mut generation = Generation::new(&mut session, &mut sampler, stop, &args.prompt_ids)?;
    let mut out = std::io::stdout().lock();
    for token in generation.by_ref() {
        write!(out, "{} ", token?)?;
        out.flush()?;
    }
    writeln!(out)?;
    let s = generation.stats();
    eprintln!(
        "prompt {} tokens: {:.1} tok/s prefill, TTFT {:.2} ms; generated {} tokens: {:.1} tok/s decode ({:?})",
        s.prompt_tokens,
        s.prefill_tokens_per_second(),
        s.time_to_first_token.as_secs_f64() * 1e3,
        s.generated_tokens,
        s.decode_tokens_per_second(),
        generation.finish_reason(),
    );
    Ok(())
}
