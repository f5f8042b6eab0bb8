//! `smallmind chat`: a conversation with the model's chat template, one user line per turn,
//! from a terminal or a pipe.
//!
//! Each turn renders the whole conversation, keeps the KV cache for the longest prefix of
//! tokens the session already holds, and feeds only the rest. `/reset` starts over, `/quit` (or
//! the end of input) ends. When the conversation outgrows the context, it starts over with the
//! last user line.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use clap::Args;
use smallmind_model::generate::{FinishReason, Generation};
use smallmind_model::sampler::StopCriteria;
use smallmind_model::{Session, SessionOptions};
use smallmind_tokenizer::{ChatMessage, ChatTemplate, EncodeOptions, Tokenizer};

use crate::generate::{self, SamplingArgs};
use crate::model_spec::{self, LoadedModel};

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

/// The conversation and what the session holds of it.
struct Conversation {
    template: ChatTemplate,
    messages: Vec<ChatMessage>,
    /// The tokens the session's KV cache holds, in order.
    fed: Vec<u32>,
}

/// Runs `smallmind chat`.
pub(crate) fn chat(args: &ChatArgs) -> Result<(), BoxError> {
    let LoadedModel {
        model, tokenizer, ..
    } = model_spec::load(&args.model)?;
    let tokenizer =
        tokenizer.ok_or("chat needs a model with a tokenizer (GGUF or HF directory)")?;
    let model = Arc::new(model);
    let capacity = args
        .context
        .unwrap_or(DEFAULT_CONTEXT)
        .min(model.config().max_position_embeddings);
    let options = SessionOptions {
        threads: args.threads,
        capacity: Some(capacity),
        activations: crate::model_spec::activations(args.exact),
        ..SessionOptions::default()
    };
    let mut session = Session::new(Arc::clone(&model), &options)?;
    generate::describe(&model, &session);
    let mut sampler = args.sampling.sampler(model.config().vocab_size)?;
    let stop_tokens = generate::end_of_generation_ids(&model, Some(&tokenizer));
    let mut conversation = Conversation::new(generate::chat_template(&tokenizer)?, args);
    let interactive = std::io::stdin().is_terminal();
    for line in prompts(interactive) {
        let line = line?;
        match line.trim() {
            "/quit" => break,
            "/reset" => {
                conversation.reset(args);
                continue;
            }
            "" => continue,
            text => conversation.messages.push(ChatMessage::new("user", text)),
        }
        let prompt = conversation.prompt_tokens(&tokenizer, &mut session)?;
        let stop = StopCriteria {
            stop_tokens: stop_tokens.clone(),
            max_new_tokens: args.max_tokens,
        };
        let mut generation = Generation::new(&mut session, &mut sampler, stop, &prompt)?;
        let reply = generate::stream(&mut generation, model_spec::Codec::Bpe(&tokenizer))?;
        let reason = generation.finish_reason();
        let history = generation.tokens().to_vec();
        conversation.fed.extend_from_slice(&history);
        conversation.fed.truncate(session.position());
        if reason == Some(FinishReason::ContextFull) {
            eprintln!("(context full: the next turn starts a new conversation)");
            conversation.reset(args);
            session.reset();
            continue;
        }
        conversation
            .messages
            .push(ChatMessage::new("assistant", reply.trim_end()));
    }
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

impl Conversation {
    fn new(template: ChatTemplate, args: &ChatArgs) -> Conversation {
        let mut conversation = Conversation {
            template,
            messages: Vec::new(),
            fed: Vec::new(),
        };
        conversation.reset(args);
        conversation
    }

    fn reset(&mut self, args: &ChatArgs) {
        self.messages.clear();
        self.fed.clear();
        if let Some(system) = &args.system {
            self.messages
                .push(ChatMessage::new("system", system.as_str()));
        }
    }

    /// Renders the conversation, rewinds the session to the longest prefix of it that the
    /// KV cache already holds, and returns the tokens still to feed. A conversation that no
    /// longer fits the cache starts over from its last user message.
    fn prompt_tokens(
        &mut self,
        tokenizer: &Tokenizer,
        session: &mut Session,
    ) -> Result<Vec<u32>, BoxError> {
        let mut tokens = self.render(tokenizer)?;
        if tokens.len() >= session.capacity() {
            eprintln!("(the conversation outgrew the context: starting over from this message)");
            let last = self.messages.pop();
            self.messages.retain(|m| m.role == "system");
            self.messages.extend(last);
            tokens = self.render(tokenizer)?;
        }
        let held = self
            .fed
            .iter()
            .zip(&tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // Generation feeds at least one token, so keep the last one back.
        let keep = held.min(tokens.len().saturating_sub(1));
        session.truncate(keep)?;
        self.fed.truncate(keep);
        Ok(tokens[keep..].to_vec())
    }

    fn render(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>, BoxError> {
        let text = self.template.render(&self.messages, true)?;
        Ok(tokenizer.encode(&text, EncodeOptions::PROMPT)?)
    }
}
