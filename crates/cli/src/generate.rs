//! `smallmind generate`: one prompt in, streamed text (or token ids) out on stdout, and the
//! prefill/decode speed on stderr.

use std::io::Write;
use std::sync::Arc;

use clap::Args;
use smallmind_model::generate::Generation;
use smallmind_model::sampler::{Sampler, SamplerConfig, StopCriteria};
use smallmind_model::{Model, Session, SessionOptions};
use smallmind_tokenizer::{ChatMessage, ChatTemplate, EncodeOptions, StreamDecoder, Tokenizer};

use crate::model_spec::{self, Codec, LoadedModel};

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
    pub(crate) fn sampler(&self, vocab_size: usize) -> Result<Sampler, BoxError> {
        let config = SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repeat_penalty,
            seed: self.seed,
            ..SamplerConfig::default()
        };
        Ok(Sampler::new(config, vocab_size)?)
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
    /// Tokens to generate at most.
    #[arg(short = 'n', long, default_value_t = 128)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Stop tokens, comma-separated (default: the model's end-of-generation tokens).
    #[arg(long, value_delimiter = ',')]
    stop_ids: Option<Vec<u32>>,
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
    let LoadedModel {
        model,
        tokenizer,
        chars,
        ..
    } = model_spec::load(&args.model)?;
    let codec = Codec::new(tokenizer.as_ref(), chars.as_ref());
    let model = Arc::new(model);
    let prompt = prompt_tokens(args, codec)?;
    let context = model.config().max_position_embeddings;
    let wanted = args.context.unwrap_or(prompt.len() + args.max_tokens);
    let options = SessionOptions {
        threads: args.threads,
        capacity: Some(wanted.min(context)),
        activations: crate::model_spec::activations(args.exact),
        ..SessionOptions::default()
    };
    let mut session = Session::new(Arc::clone(&model), &options)?;
    describe(&model, &session);
    let mut sampler = args.sampling.sampler(model.config().vocab_size)?;
    let stop = StopCriteria {
        stop_tokens: args
            .stop_ids
            .clone()
            .unwrap_or_else(|| end_of_generation_ids(&model, codec.bpe())),
        max_new_tokens: args.max_tokens,
    };
    let mut generation = Generation::new(&mut session, &mut sampler, stop, &prompt)?;
    stream(&mut generation, codec)?;
    report(&generation);
    Ok(())
}

/// The prompt's token ids: `--prompt-ids`, or `--prompt` encoded (through the chat template
/// with `--chat`), or a fixed prompt of ids 1..=10 for a preset without either.
fn prompt_tokens(args: &GenerateArgs, codec: Codec<'_>) -> Result<Vec<u32>, BoxError> {
    if let Some(ids) = &args.prompt_ids {
        return Ok(ids.clone());
    }
    let Some(text) = &args.prompt else {
        return match codec {
            Codec::Ids => Ok((1..=10).collect()),
            _ => Err("give a --prompt (or --prompt-ids)".into()),
        };
    };
    match codec {
        Codec::Bpe(tokenizer) => {
            let text = if args.chat {
                chat_template(tokenizer)?
                    .render(&[ChatMessage::new("user", text.as_str())], true)?
            } else {
                text.clone()
            };
            Ok(tokenizer.encode(&text, EncodeOptions::PROMPT)?)
        }
        Codec::Chars(_) if args.chat => {
            Err("--chat needs a chat template; a char-level model has none".into())
        }
        Codec::Chars(chars) => Ok(chars.encode(text)?),
        Codec::Ids => Err(format!(
            "{} has no tokenizer: pass the prompt as --prompt-ids",
            args.model
        )
        .into()),
    }
}

/// The model's chat template, recognised from the tokenizer's Jinja source.
pub(crate) fn chat_template(tokenizer: &Tokenizer) -> Result<ChatTemplate, BoxError> {
    let source = tokenizer
        .chat_template()
        .ok_or("the model has no chat template")?;
    Ok(ChatTemplate::detect(source)?)
}

/// Every end-of-generation token of the tokenizer, plus the config's EOS ids.
pub(crate) fn end_of_generation_ids(model: &Model, tokenizer: Option<&Tokenizer>) -> Vec<u32> {
    let mut ids = model.config().eos_token_ids.clone();
    if let Some(t) = tokenizer {
        let vocab = t.vocab_size() as u32;
        ids.extend((0..vocab).filter(|&id| t.is_end_of_generation(id)));
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(crate) fn describe(model: &Model, session: &Session) {
    let (mapped, owned) = model.weight_bytes();
    eprintln!(
        "model: {:?}, {} parameters ({:.1} MB mapped, {:.1} MB in memory); {} threads, \
         context {}, {:.1} MB planned; SIMD {:?}",
        model.config().architecture,
        model.param_count(),
        mapped as f64 / 1e6,
        owned as f64 / 1e6,
        session.threads(),
        session.capacity(),
        session.planned_bytes() as f64 / 1e6,
        smallmind_kernels::active_path(),
    );
}

/// Prints each token as it comes: text through a stream decoder or the char vocabulary, or ids
/// without a tokenizer. Returns the generated text (empty without a tokenizer).
pub(crate) fn stream(
    generation: &mut Generation<'_>,
    codec: Codec<'_>,
) -> Result<String, BoxError> {
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    let mut decoder = codec
        .bpe()
        .map(|t| StreamDecoder::new(t).skip_special(true));
    for token in generation.by_ref() {
        let token = token?;
        match (&mut decoder, codec) {
            (Some(decoder), _) => {
                let piece = decoder.push(token)?;
                text.push_str(piece);
                write!(out, "{piece}")?;
            }
            (None, Codec::Chars(chars)) => {
                let ch = chars.decode_id(token)?;
                text.push(ch);
                write!(out, "{ch}")?;
            }
            (None, _) => write!(out, "{token} ")?,
        }
        out.flush()?;
    }
    if let Some(decoder) = &mut decoder {
        let rest = decoder.finish();
        text.push_str(rest);
        write!(out, "{rest}")?;
    }
    writeln!(out)?;
    Ok(text)
}

pub(crate) fn report(generation: &Generation<'_>) {
    let s = generation.stats();
    eprintln!(
        "prompt {} tokens: {:.1} tok/s prefill, TTFT {:.2} ms; generated {} tokens: {:.1} tok/s \
         decode ({:?})",
        s.prompt_tokens,
        s.prefill_tokens_per_second(),
        s.time_to_first_token.as_secs_f64() * 1e3,
        s.generated_tokens,
        s.decode_tokens_per_second(),
        generation.finish_reason(),
    );
}
