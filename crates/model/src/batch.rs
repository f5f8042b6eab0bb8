//! Batched decoding: one forward pass advances several [`Session`]s by one
//! token each.
//!
//! Decode is memory-bound: a single sequence reads every weight to produce one
//! row. [`BatchDecoder::decode`] stacks the next token of `M` sessions as the
//! `M` rows of one pass (`crate::forward`), so the linear layers run with
//! `M` rows and read each weight once for all of them, while RoPE, the cache
//! writes and attention run per session over its own KV cache. The sessions
//! keep their caches; the decoder owns only the activation buffers for
//! `max_sequences` rows and the `(M, V)` logits, planned once, so a decode
//! allocates nothing.
//!
//! **Batch invariance.** A row's result does not depend on the other rows
//! wherever the linear kernel computes each output row in a fixed order
//! whatever `M` is: the quantized GEMM (ggml block formats) is written so that
//! every output equals its GEMV, and row-wise norms, activations and
//! per-session attention never mix rows. On the tiny Q8_0 fixture a batched
//! row is bit-identical to the session's own decode on every SIMD path. The
//! f32 weight path runs the GEMV for one row and the blocked f32 GEMM for
//! several, whose sums are grouped differently: there the logits differ by
//! about 1e-5 (`tests/batch.rs` measures both), though the tokens of the tests'
//! greedy and seeded runs are the same alone or among 7 others. Making the f32
//! and 16-bit GEMMs reduce each row in the GEMV's order is the kernels' part.

use std::sync::Arc;

use crate::error::{ModelError, Result};
use crate::forward::{LogitRows, Sequences};
use crate::kv_cache::KvCache;
use crate::session::{Plan, Session, SessionOptions};
use crate::weights::Model;

/// Buffers for decoding up to `max_sequences` sessions of one model together.
#[derive(Debug)]
pub struct BatchDecoder {
    plan: Plan,
    /// `(max_sequences, V)`; the first `M` rows are the last decode's.
    logits: Vec<f32>,
    rows: usize,
}

impl BatchDecoder {
    /// Plans a decoder for `max_sequences` sessions of `model` with KV caches of
    /// at most `options.capacity` positions (`options.max_batch` is ignored).
    ///
    /// # Errors
    /// As [`Session::new`] for the capacity; [`ModelError::InvalidSetting`] for
    /// zero sequences.
    pub fn new(
        model: Arc<Model>,
        options: &SessionOptions,
        max_sequences: usize,
    ) -> Result<BatchDecoder> {
        if max_sequences == 0 {
            return Err(ModelError::InvalidSetting {
                name: "max_sequences",
                reason: "must be at least 1".into(),
            });
        }
        let options = SessionOptions {
            max_batch: max_sequences,
            ..options.clone()
        };
        let vocab_size = model.config().vocab_size;
        let plan = Plan::new(model, &options)?;
        Ok(BatchDecoder {
            logits: vec![0.0; plan.ws.max_tokens * vocab_size],
            plan,
            rows: 0,
        })
    }

    /// Most sessions one decode takes.
    pub fn max_sequences(&self) -> usize {
        self.plan.ws.max_tokens
    }

    /// Feeds `tokens[i]` to `sessions[i]`, all in one forward pass on the first
    /// session's worker team, and returns the logits `(M, V)`: row `i` is what
    /// `sessions[i].decode(tokens[i])` would return (see the module docs for
    /// when the bits are the same).
    ///
    /// # Errors
    /// [`ModelError::InvalidSetting`] for a count that differs from the
    /// tokens', is zero or above [`BatchDecoder::max_sequences`], a session of
    /// another model or with a larger cache than planned;
    /// [`ModelError::TokenOutOfRange`]; [`ModelError::ContextOverflow`] for a
    /// full session. Nothing changes then.
    pub fn decode(&mut self, sessions: &mut [&mut Session], tokens: &[u32]) -> Result<&[f32]> {
        self.check(sessions, tokens)?;
        let m = tokens.len();
        let v = self.plan.model.config().vocab_size;
        let team = sessions[0].team().clone();
        let plan = &mut self.plan;
        let out = &mut self.logits[..m * v];
        let mut rows = SessionRows(sessions);
        team.install(|| plan.pass().run(tokens, &mut rows, LogitRows::All(out)))?;
        self.rows = m;
        Ok(&self.logits[..m * v])
    }

    /// The logits of the last decode, `(M, V)`.
    pub fn logits(&self) -> &[f32] {
        &self.logits[..self.rows * self.plan.model.config().vocab_size]
    }

    fn check(&self, sessions: &[&mut Session], tokens: &[u32]) -> Result<()> {
        let invalid = |reason: String| {
            Err(ModelError::InvalidSetting {
                name: "sessions",
                reason,
            })
        };
        let (m, max) = (sessions.len(), self.max_sequences());
        if m != tokens.len() || m == 0 || m > max {
            return invalid(format!(
                "{m} sessions and {} tokens: need the same count, 1 to {max}",
                tokens.len()
            ));
        }
        self.plan.check_vocab(tokens)?;
        for (i, session) in sessions.iter().enumerate() {
            if !Arc::ptr_eq(session.model(), &self.plan.model) {
                return invalid(format!("session {i} runs another model"));
            }
            if session.capacity() > self.plan.capacity {
                return invalid(format!(
                    "session {i} holds {} positions; the decoder was planned for {}",
                    session.capacity(),
                    self.plan.capacity
                ));
            }
            session.cache.check_room(1)?;
        }
        Ok(())
    }
}

/// One row per session.
struct SessionRows<'a, 'b>(&'a mut [&'b mut Session]);

impl Sequences for SessionRows<'_, '_> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn rows(&self, _: usize) -> usize {
        1
    }

    fn cache(&mut self, i: usize) -> &mut KvCache {
        &mut self.0[i].cache
    }
}
