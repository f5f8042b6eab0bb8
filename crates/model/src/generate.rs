//! Streaming generation: [`Generation`] is an iterator that prefills the
//! prompt on its first step, then samples and decodes one token per step,
//! until a stop token, the token limit or a full KV cache; it keeps per-run
//! [`GenerationStats`] (prefill and decode tok/s, time to first token).
//!
//! The token history (prompt + generated, for the repetition penalty) is
//! allocated once with room for the whole run, so a step allocates nothing
//! beyond what [`Session`] and [`Sampler`] do (nothing, in steady state, when
//! the loop runs inside [`Session::install`]).

use std::time::{Duration, Instant};

use crate::error::{ModelError, Result};
use crate::sampler::Sampler;
use crate::session::Session;

/// When to end a generation: on a stop token (end of sequence, end of turn, ...) or after
/// `max_new_tokens` tokens; [`Generation`] checks both after each sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopCriteria {
    /// Tokens that end the generation (e.g. EOS); they are not yielded.
    pub stop_tokens: Vec<u32>,
    /// The most tokens to generate.
    pub max_new_tokens: usize,
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token was sampled (it is not yielded).
    StopToken(u32),
    /// Stop string `i` of the request appeared in the text (it and what follows are cut).
    /// Only the text layer above the tokens (`smallmind::TextGeneration`) ends this way.
    StopString(usize),
    /// The token limit was reached.
    MaxTokens,
    /// The KV cache is full.
    ContextFull,
    /// A step failed; its error was yielded.
    Error,
}

/// Timing of one generation run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenerationStats {
    /// Prompt tokens prefilled.
    pub prompt_tokens: usize,
    /// Tokens yielded.
    pub generated_tokens: usize,
    /// Time in prefill.
    pub prefill_time: Duration,
    /// Time in decode steps (after the first token).
    pub decode_time: Duration,
    /// From the first `next()` to the first token: prefill plus one sample.
    pub time_to_first_token: Duration,
    /// Time spent sampling.
    pub sample_time: Duration,
}

impl GenerationStats {
    /// Prompt tokens per second of prefill.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill_time)
    }

    /// Decoded tokens per second (tokens after the first, over decode time).
    pub fn decode_tokens_per_second(&self) -> f64 {
        per_second(self.generated_tokens.saturating_sub(1), self.decode_time)
    }
}

/// `n` per second of `t` (0 for no time).
pub(crate) fn per_second(n: usize, t: Duration) -> f64 {
    if t.is_zero() {
        0.0
    } else {
        n as f64 / t.as_secs_f64()
    }
}

/// An iterator of generated tokens over a session (see the module docs).
#[derive(Debug)]
pub struct Generation<'s> {
    session: &'s mut Session,
    sampler: &'s mut Sampler,
    stop: StopCriteria,
    /// Prompt then generated tokens.
    history: Vec<u32>,
    prompt_len: usize,
    finished: Option<FinishReason>,
    stats: GenerationStats,
}

impl<'s> Generation<'s> {
    /// Prepares a run of `prompt` on `session` (from its current position).
    ///
    /// # Errors
    /// [`ModelError::EmptyPrompt`]; token and context errors surface from the
    /// first step.
    pub fn new(
        session: &'s mut Session,
        sampler: &'s mut Sampler,
        stop: StopCriteria,
        prompt: &[u32],
    ) -> Result<Self> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        // No more tokens can come than the cache has room for, whatever the limit says.
        let room = session
            .capacity()
            .saturating_sub(session.position() + prompt.len())
            + 1;
        let mut history = Vec::with_capacity(prompt.len() + stop.max_new_tokens.min(room));
        history.extend_from_slice(prompt);
        Ok(Generation {
            session,
            sampler,
            stop,
            prompt_len: prompt.len(),
            history,
            finished: None,
            stats: GenerationStats {
                prompt_tokens: prompt.len(),
                ..GenerationStats::default()
            },
        })
    }

    /// Timing so far.
    pub fn stats(&self) -> &GenerationStats {
        &self.stats
    }

    /// Why the run ended, once it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finished
    }

    /// Prompt and generated tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.history
    }

    fn generated(&self) -> usize {
        self.history.len() - self.prompt_len
    }

    /// Runs the model on what the previous step produced: the prompt first,
    /// then the last token.
    fn advance_model(&mut self) -> Result<Option<FinishReason>> {
        let start = Instant::now();
        if self.generated() == 0 {
            self.session.prefill(&self.history)?;
            self.stats.prefill_time = start.elapsed();
            return Ok(None);
        }
        if self.session.position() >= self.session.capacity() {
            return Ok(Some(FinishReason::ContextFull));
        }
        let last = self.history[self.history.len() - 1];
        self.session.decode(last)?;
        self.stats.decode_time += start.elapsed();
        Ok(None)
    }

    fn step(&mut self) -> Result<Option<u32>> {
        if self.generated() >= self.stop.max_new_tokens {
            self.finished = Some(FinishReason::MaxTokens);
            return Ok(None);
        }
        let first = self.generated() == 0;
        let step_start = Instant::now();
        if let Some(reason) = self.advance_model()? {
            self.finished = Some(reason);
            return Ok(None);
        }
        let sample_start = Instant::now();
        // The sampler's repetition window picks the tail it looks at.
        let token = self.sampler.sample(self.session.logits(), &self.history)?;
        self.stats.sample_time += sample_start.elapsed();
        if first {
            self.stats.time_to_first_token = step_start.elapsed();
        }
        if self.stop.stop_tokens.contains(&token) {
            self.finished = Some(FinishReason::StopToken(token));
            return Ok(None);
        }
        self.history.push(token);
        self.stats.generated_tokens += 1;
        Ok(Some(token))
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<u32>;

    fn next(&mut self) -> Option<Result<u32>> {
        if self.finished.is_some() {
            return None;
        }
        match self.step() {
            Ok(Some(token)) => Some(Ok(token)),
            Ok(None) => None,
            Err(e) => {
                self.finished = Some(FinishReason::Error);
                Some(Err(e))
            }
        }
    }
}
