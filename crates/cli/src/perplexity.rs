//! `smallmind perplexity`: the mean next-token loss of a text under a model,
//! and its perplexity, as one JSON line (e.g. to check a checkpoint against
//! Hugging Face transformers with `scripts/train_peer.py check-load`).

use std::sync::Arc;

use clap::Args;
use smallmind_model::{Session, SessionOptions, text_loss};

use crate::loading;

type BoxError = Box<dyn std::error::Error>;

/// Arguments of `smallmind perplexity`.
#[derive(Args, Debug)]
pub(crate) struct PerplexityArgs {
    /// A GGUF file, a model directory (HF or `smallmind train` checkpoint), or a preset.
    #[arg(short, long)]
    model: String,
    /// The text to score, encoded as a prompt (BOS as the model's metadata says).
    #[arg(short, long, conflicts_with = "prompt_ids")]
    prompt: Option<String>,
    /// The token ids to score, comma-separated.
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<u32>>,
    /// Worker threads (default: physical cores).
    #[arg(short, long)]
    threads: Option<usize>,
    /// Keep activations in f32 for quantized weights: exact, slower (default:
    /// quantize them to Q8 on the fly, as llama.cpp does).
    #[arg(long)]
    exact: bool,
}

/// Runs `smallmind perplexity`.
pub(crate) fn perplexity(args: &PerplexityArgs) -> Result<(), BoxError> {
    let model = loading::load(&args.model)?;
    let tokens = match (&args.prompt_ids, &args.prompt) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => model.encode(text)?,
        (None, None) => return Err("give a --prompt or --prompt-ids to score".into()),
    };
    let context = model.model().config().max_position_embeddings;
    if tokens.len() > context {
        return Err(format!(
            "the text is {} tokens; the model's context is {context}",
            tokens.len()
        )
        .into());
    }
    let options = SessionOptions {
        threads: args.threads,
        capacity: Some(tokens.len().max(1)),
        activations: loading::activations(args.exact),
        ..SessionOptions::default()
    };
    let mut session = Session::new(Arc::clone(model.model()), &options)?;
    let scored = text_loss(&mut session, &tokens)?;
    println!(
        "{{\"tokens\": {}, \"predictions\": {}, \"loss\": {}, \"perplexity\": {}}}",
        tokens.len(),
        scored.predictions,
        scored.loss,
        scored.perplexity()
    );
    Ok(())
}
