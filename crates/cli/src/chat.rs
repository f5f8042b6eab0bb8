//! `smallmind chat`: a conversation with the model's chat template, one user line per turn,
//! from a terminal or a pipe.
//!
//! Each turn hands the whole conversation to `smallmind::TextSession::chat`, which keeps the KV
//! cache for the longest prefix of tokens it already holds and feeds only the rest. `/reset` starts over, `/quit` (or
//! the end of input) ends. When the conversation outgrows the context, it starts over with the
//! last user line.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use smallmind::{ChatMessage, FinishReason, GenerateOptions, SessionOptions, TextModel};

use crate::generate::{self, SamplingArgs};
use crate::loading;

type BoxError = Box<dyn std::error::Error>;

/// KV cache positions when `--context` is not given (within the model's context).
const DEFAULT_CONTEXT: usize = 4096;

/// Flags of `smallmind chat`.
#[derive(Args, Debug)]
pub(crate) struct ChatArgs {
    /// A GGUF file or a Hugging Face directory with a tokenizer and a chat template.
    #[arg(short, long)]
    model: String,
    /// A system message (default: the template's own, if it has one).
    #[arg(long)]
    system: Option<String>,
    /// A built-in chat format instead of the model's: chatml, smollm2, llama3, mistral, gemma.
    #[arg(long, value_name = "NAME")]
    chat_template: Option<String>,
    /// Tokens per reply at most.
    #[arg(short = 'n', long, default_value_t = 512)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Worker threads (default: physical cores).
    #[arg(short, long)]
    threads: Option<usize>,
    /// KV cache positions (default: 4096, within the model's context).
    #[arg(short, long)]
    context: Option<usize>,
    /// Keep activations in f32 for quantized weights: exact, slower (default:
    /// quantize them to Q8 on the fly, as llama.cpp does).
    #[arg(long)]
    exact: bool,
}

/// Runs `smallmind chat`.
pub(crate) fn chat(args: &ChatArgs) -> Result<(), BoxError> {
    let model = generate::with_chat_template(loading::load(&args.model)?, &args.chat_template)?;
    if model.tokenizer().is_none() {
        return Err("chat needs a model with a tokenizer (GGUF or HF directory)".into());
    }
    let capacity = args
        .context
        .unwrap_or(DEFAULT_CONTEXT)
        .min(model.model().config().max_position_embeddings);
    let options = SessionOptions {
        threads: args.threads,
        capacity: Some(capacity),
        activations: loading::activations(args.exact),
        ..SessionOptions::default()
    };
    let mut session = model.session(&options)?;
    generate::describe(&model, session.session());
    let reply_options = GenerateOptions::default()
        .max_tokens(args.max_tokens)
        .sampling(args.sampling.config());
    // Fails early on a model without a (recognised) chat template.
    model.render_chat(&[])?;
    let mut messages = fresh_conversation(args);
    let interactive = std::io::stdin().is_terminal();
    for line in prompts(interactive) {
        let line = line?;
        match line.trim() {
            "/quit" => break,
            "/reset" => {
                messages = fresh_conversation(args);
                continue;
            }
            "" => continue,
            text => messages.push(ChatMessage::new("user", text)),
        }
        fit_context(&model, &mut messages, capacity)?;
        let mut generation = session.chat(&messages, &reply_options)?;
        let reply = generate::stream(&mut generation)?;
        if generation.finish_reason() == Some(FinishReason::ContextFull) {
            eprintln!("(context full: the next turn starts a new conversation)");
            drop(generation);
            messages = fresh_conversation(args);
            session.reset();
            continue;
        }
        messages.push(ChatMessage::new("assistant", reply.trim_end()));
    }
    Ok(())
}

/// The conversation's opening: the `--system` message, if any.
fn fresh_conversation(args: &ChatArgs) -> Vec<ChatMessage> {
    let system = args.system.as_deref();
    system
        .map(|s| ChatMessage::new("system", s))
        .into_iter()
        .collect()
}

/// A conversation that no longer fits the KV cache starts over from its last user message
/// (keeping the system message).
fn fit_context(
    model: &TextModel,
    messages: &mut Vec<ChatMessage>,
    capacity: usize,
) -> Result<(), BoxError> {
    if model.chat_tokens(messages)?.len() < capacity {
        return Ok(());
    }
    eprintln!("(the conversation outgrew the context: starting over from this message)");
    let last = messages.pop();
    messages.retain(|m| m.role == "system");
    messages.extend(last);
    Ok(())
}

/// Lines from stdin, with a `> ` prompt on a terminal.
fn prompts(interactive: bool) -> impl Iterator<Item = std::io::Result<String>> {
    let mut lines = std::io::stdin().lock().lines();
    std::iter::from_fn(move || {
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
        lines.next()
    })
}
