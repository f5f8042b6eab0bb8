//! Text from a trained char-level model: prompt, sample, and when the
//! context is full, slide the window (re-prefill its second half) so a
//! sample can be longer than the model's context.

use std::sync::Arc;

use smallmind_model::{Model, Sampler, SamplerConfig, Session, SessionOptions};
use smallmind_tokenizer::CharTokenizer;

use crate::error::{Result, TrainError};

/// `chars` characters sampled after `prompt` (which is not repeated).
///
/// # Errors
/// [`TrainError::InvalidSetting`] for an empty prompt,
/// [`TrainError::Tokenizer`] for a character outside the vocabulary; the
/// model's and sampler's errors pass through.
pub fn sample_text(
    model: Arc<Model>,
    tokenizer: &CharTokenizer,
    prompt: &str,
    chars: usize,
    sampler: SamplerConfig,
    threads: Option<usize>,
) -> Result<String> {
    let mut tokens = tokenizer.encode(prompt)?;
    if tokens.is_empty() {
        return Err(TrainError::InvalidSetting {
            name: "prompt".into(),
            reason: "the sample prompt is empty".into(),
        });
    }
    let vocab = model.config().vocab_size;
    let mut session = Session::new(
        model,
        &SessionOptions {
            threads,
            ..SessionOptions::default()
        },
    )?;
    let capacity = session.capacity();
    let window = |tokens: &[u32]| tokens[tokens.len().saturating_sub(capacity / 2)..].to_vec();
    let mut sampler = Sampler::new(sampler, vocab)?;
    let first = window(&tokens);
    let mut logits = session.prefill(&first)?.to_vec();
    let mut text = String::with_capacity(chars);
    for _ in 0..chars {
        let token = sampler.sample(&logits, &tokens)?;
        tokens.push(token);
        text.push(tokenizer.decode_id(token)?);
        if session.position() == capacity {
            session.reset();
            logits.copy_from_slice(session.prefill(&window(&tokens))?);
        } else {
            logits.copy_from_slice(session.decode(token)?);
        }
    }
    Ok(text)
}
