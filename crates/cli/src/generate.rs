//! `smallmind generate`: one prompt in, streamed text (or token ids) out on stdout, and the
//! prefill/decode speed on stderr.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use smallmind::{
    ChatMessage, FinishReason, GenerateOptions, GenerationStats, SamplerConfig, SessionOptions,
    TextGeneration, TextModel,
};
use smallmind_model::generate::Generation;
use smallmind_model::sampler::Sampler;
use smallmind_model::{Session, StopCriteria};

use crate::loading;

type BoxError = Box<dyn std::error::Error>;

/// Sampling flags shared by `generate` and `chat` (llama.cpp's names and defaults).
#[derive(Args, Debug, Clone)]
pub(crate) struct SamplingArgs {
    /// Sampling temperature; 0 means greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    /// Nucleus sampling mass (1: off).
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Drop tokens below min_p × the top probability (0: off).
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    /// Repetition penalty over the last 64 tokens (1: off).
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    /// Sampling seed: the same seed replays the same tokens.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl SamplingArgs {
    /// The sampler settings of these flags.
    pub(crate) fn config(&self) -> SamplerConfig {
        SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repeat_penalty,
            seed: self.seed,
            ..SamplerConfig::default()
        }
    }
}

/// Flags of `smallmind generate`.
#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// A GGUF file, a Hugging Face directory or a preset (m-small, m-medium, m-large, m-gpt2).
    #[arg(short, long, default_value = "m-small")]
    model: String,
    /// The prompt text (needs a model with a tokenizer).
    #[arg(short, long, conflicts_with = "prompt_ids")]
    prompt: Option<String>,
    /// The prompt as token ids, comma-separated.
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<u32>>,
    /// Wrap the prompt as one user message in the model's chat template.
    #[arg(long, requires = "prompt")]
    chat: bool,
    /// With --chat, a built-in chat format instead of the model's: chatml, smollm2, llama3,
    /// mistral, gemma.
    #[arg(long, value_name = "NAME", requires = "chat")]
    chat_template: Option<String>,
    /// Tokens to generate at most.
    #[arg(short = 'n', long, default_value_t = 128)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Stop tokens, comma-separated (default: the model's end-of-generation tokens).
    #[arg(long, value_delimiter = ',')]
    stop_ids: Option<Vec<u32>>,
    /// Stop at this text, which is cut from the output (repeat for several).
    #[arg(long)]
    stop: Vec<String>,
    /// Worker threads (default: physical cores).
    #[arg(short, long)]
    threads: Option<usize>,
    /// KV cache positions (default: prompt plus --max-tokens, within the model's context).
    #[arg(short, long)]
    context: Option<usize>,
    /// Keep activations in f32 for quantized weights: exact, slower (default:
    /// quantize them to Q8 on the fly, as llama.cpp does).
    #[arg(long)]
    exact: bool,
}

/// Runs `smallmind generate`.
pub(crate) fn generate(args: &GenerateArgs) -> Result<(), BoxError> {
    let model = with_chat_template(loading::load(&args.model)?, &args.chat_template)?;
    let prompt = prompt_tokens(args, &model)?;
    let context = model.model().config().max_position_embeddings;
    let wanted = args.context.unwrap_or(prompt.len() + args.max_tokens);
    let options = SessionOptions {
        threads: args.threads,
        capacity: Some(wanted.min(context)),
        activations: loading::activations(args.exact),
        ..SessionOptions::default()
    };
    if model.codec().is_none() {
        return generate_ids(args, &model, &options, &prompt);
    }
    let mut session = model.session(&options)?;
    describe(&model, session.session());
    let mut generate = GenerateOptions::default()
        .max_tokens(args.max_tokens)
        .sampling(args.sampling.config())
        .stop(&args.stop);
    if let Some(ids) = &args.stop_ids {
        generate = generate.stop_tokens(ids.iter().copied());
    }
    let mut generation = session.generate_from_tokens(&prompt, &generate)?;
    stream(&mut generation)?;
    report(generation.stats(), generation.finish_reason());
    Ok(())
}

/// `model` with the built-in chat format `name` (`--chat-template`), if given.
pub(crate) fn with_chat_template(
    model: TextModel,
    name: &Option<String>,
) -> Result<TextModel, BoxError> {
    Ok(match name {
        Some(name) => model.with_chat_template(smallmind::ChatTemplate::named(name)?),
        None => model,
    })
}

/// The prompt's token ids: `--prompt-ids`, or `--prompt` encoded (through the chat template
/// with `--chat`), or a fixed prompt of ids 1..=10 for a model without a tokenizer.
fn prompt_tokens(args: &GenerateArgs, model: &TextModel) -> Result<Vec<u32>, BoxError> {
    if let Some(ids) = &args.prompt_ids {
        return Ok(ids.clone());
    }
    match &args.prompt {
        None if model.codec().is_none() => Ok((1..=10).collect()),
        None => Err("give a --prompt (or --prompt-ids)".into()),
        Some(text) if args.chat => {
            Ok(model.chat_tokens(&[ChatMessage::new("user", text.as_str())])?)
        }
        Some(text) => Ok(model.encode(text)?),
    }
}

/// Generation for a model without a tokenizer (a preset): token ids in, token ids out.
fn generate_ids(
    args: &GenerateArgs,
    model: &TextModel,
    options: &SessionOptions,
    prompt: &[u32],
) -> Result<(), BoxError> {
    if !args.stop.is_empty() {
        return Err(format!("--stop needs text; {} has no tokenizer", model.name()).into());
    }
    let mut session = Session::new(Arc::clone(model.model()), options)?;
    describe(model, &session);
    let vocab_size = model.model().config().vocab_size;
    let mut sampler = Sampler::new(args.sampling.config(), vocab_size)?;
    let stop = StopCriteria {
        stop_tokens: args
            .stop_ids
            .clone()
            .unwrap_or_else(|| model.defaults().stop_tokens.clone()),
        max_new_tokens: args.max_tokens,
    };
    let mut generation = Generation::new(&mut session, &mut sampler, stop, prompt)?;
    let mut out = std::io::stdout().lock();
    for token in generation.by_ref() {
        write!(out, "{} ", token?)?;
        out.flush()?;
    }
    writeln!(out)?;
    report(generation.stats(), generation.finish_reason());
    Ok(())
}

pub(crate) fn describe(model: &TextModel, session: &Session) {
    let (mapped, owned) = model.model().weight_bytes();
    eprintln!(
        "model: {:?}, {} parameters ({:.1} MB mapped, {:.1} MB in memory); {} threads, \
         context {}, {:.1} MB planned; SIMD {:?}",
        model.model().config().architecture,
        model.model().param_count(),
        mapped as f64 / 1e6,
        owned as f64 / 1e6,
        session.threads(),
        session.capacity(),
        session.planned_bytes() as f64 / 1e6,
        smallmind_kernels::active_path(),
    );
}

/// Prints each piece of text as it comes; returns the whole text.
pub(crate) fn stream(generation: &mut TextGeneration<'_>) -> Result<String, BoxError> {
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    while let Some(piece) = generation.next_piece()? {
        text.push_str(piece);
        write!(out, "{piece}")?;
        out.flush()?;
    }
    writeln!(out)?;
    Ok(text)
}

pub(crate) fn report(s: &GenerationStats, finish: Option<FinishReason>) {
    eprintln!(
        "prompt {} tokens: {:.1} tok/s prefill, TTFT {:.2} ms; generated {} tokens: {:.1} tok/s \
         decode ({:?})",
        s.prompt_tokens,
        s.prefill_tokens_per_second(),
        s.time_to_first_token.as_secs_f64() * 1e3,
        s.generated_tokens,
        s.decode_tokens_per_second(),
        finish,
    );
}
