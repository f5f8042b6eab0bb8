//! How well a model predicts a text: the mean next-token cross-entropy
//! `L = −(1/(T−1))·Σ_{t<T−1} log softmax(logits_t)[x_{t+1}]` and the
//! perplexity `e^L` (what `llama-perplexity` reports), over one window that
//! fits the session. Log-sum-exp in f64, shifted by the row maximum.

use crate::error::{ModelError, Result};
use crate::session::Session;

/// The mean next-token loss of `tokens` and its perplexity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextLoss {
    /// Predicted tokens: `tokens.len() − 1`.
    pub predictions: usize,
    /// Mean cross-entropy, nats per token.
    pub loss: f64,
}

impl TextLoss {
    /// `e^loss`.
    pub fn perplexity(&self) -> f64 {
        self.loss.exp()
    }
}

/// Feeds `tokens` from the session's start (the session is reset first) and
/// scores every next-token prediction.
///
/// # Errors
/// [`ModelError::EmptyPrompt`] for fewer than two tokens (nothing to
/// predict), and [`Session::prefill_all_logits`]'s errors (a token outside
/// the vocabulary, more tokens than the session holds).
pub fn text_loss(session: &mut Session, tokens: &[u32]) -> Result<TextLoss> {
    if tokens.len() < 2 {
        return Err(ModelError::EmptyPrompt);
    }
    session.reset();
    let mut logits = Vec::new();
    session.prefill_all_logits(tokens, &mut logits)?;
    let vocab = logits.len() / tokens.len();
    let total: f64 = logits
        .chunks_exact(vocab)
        .zip(&tokens[1..])
        .map(|(row, &next)| negative_log_likelihood(row, next as usize))
        .sum();
    let predictions = tokens.len() - 1;
    Ok(TextLoss {
        predictions,
        loss: total / predictions as f64,
    })
}

/// `logsumexp(row) − row[target]`, in f64.
fn negative_log_likelihood(row: &[f32], target: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    max + sum.ln() - row[target] as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_log_vocab() {
        let row = [0.5f32; 8];
        assert!((negative_log_likelihood(&row, 3) - 8f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn a_confident_correct_prediction_costs_little() {
        let mut row = [0.0f32; 4];
        row[2] = 20.0;
        assert!(negative_log_likelihood(&row, 2) < 1e-8);
        assert!(negative_log_likelihood(&row, 1) > 19.9);
    }
}
