//! [`Session`]: one conversation with a model — its KV cache, its planned
//! workspace and its thread pool.
//!
//! Memory is planned once in [`Session::new`]: the KV cache for `capacity`
//! positions and every activation buffer for chunks of `max_batch` tokens.
//! [`Session::prefill`] and [`Session::decode`] only borrow them, so after
//! the first call decoding allocates nothing on the heap.
//!
//! All compute runs on the session's worker team (`threads` workers, the
//! calling thread included; default: the physical core count), a
//! [`smallmind_kernels::Team`] that lives as long as the session: each op's
//! kernel splits its work over it in one short parallel region, and between
//! regions the workers spin briefly, then park. Entering it allocates nothing,
//! so decoding allocates nothing whether or not the caller runs inside
//! [`Session::install`].

use std::sync::Arc;

use smallmind_kernels::Team;
use smallmind_ops::rope::RopeTable;
use smallmind_ops::{ActivationPrecision, AttentionShape};

use crate::error::{ModelError, Result};
use crate::family::RopeSpec;
use crate::forward::{LocalPlan, LogitRows, OneSequence, Pass};
use crate::kv_cache::KvCache;
use crate::spans::ForwardSpans;
use crate::weights::Model;
use crate::workspace::Workspace;

/// How a session is planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Worker threads; `None` means the physical core count.
    pub threads: Option<usize>,
    /// KV cache positions; `None` means the model's context length.
    pub capacity: Option<usize>,
    /// Tokens per prefill chunk (rows of every activation buffer).
    pub max_batch: usize,
    /// How layers with quantized weights treat their inputs: quantized to Q8 on the fly (the
    /// default, llama.cpp's way) or kept in f32 (exact, slower).
    pub activations: ActivationPrecision,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            threads: None,
            capacity: None,
            max_batch: 256,
            activations: ActivationPrecision::default(),
        }
    }
}

/// The number of physical cores (logical CPUs if that is unknown).
pub fn physical_cores() -> usize {
    num_cpus::get_physical().max(1)
}

/// A model plus the state of one token stream.
#[derive(Debug)]
pub struct Session {
    team: Arc<Team>,
    plan: Plan,
    pub(crate) cache: KvCache,
}

/// What a forward pass needs besides the KV cache, planned once for chunks
/// of `ws.max_tokens` rows against caches of `capacity` positions. A session
/// owns one; so does a `crate::batch::BatchDecoder`, whose rows are sessions.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) model: Arc<Model>,
    /// Positions the RoPE tables and the attention scratch cover.
    pub(crate) capacity: usize,
    shape: AttentionShape,
    rope: Option<RopeTable>,
    local: LocalPlan,
    pub(crate) ws: Workspace,
    spans: ForwardSpans,
    activations: ActivationPrecision,
}

impl Session {
    /// Plans the cache and buffers for `model` and starts its worker team.
    ///
    /// # Errors
    /// [`ModelError::InvalidSetting`] for zero threads, a zero batch, or a
    /// capacity of zero or past the model's context; [`ModelError::ThreadPool`]
    /// if a worker thread cannot start.
    pub fn new(model: Arc<Model>, options: &SessionOptions) -> Result<Session> {
        let threads = options.threads.unwrap_or_else(physical_cores);
        let team = Team::new(check_nonzero("threads", threads)?, "smallmind")
            .map_err(ModelError::ThreadPool)?;
        Session::with_team(model, options, Arc::new(team))
    }

    /// As [`Session::new`] but sharing an existing team (its size wins over
    /// `options.threads`). Sessions sharing a team may run on different
    /// threads: one that finds the team busy runs its step alone.
    ///
    /// # Errors
    /// As [`Session::new`].
    pub fn with_team(
        model: Arc<Model>,
        options: &SessionOptions,
        team: Arc<Team>,
    ) -> Result<Session> {
        let plan = Plan::new(model, options)?;
        let cache = KvCache::new(plan.model.config().num_layers, &plan.shape, plan.capacity);
        Ok(Session { team, plan, cache })
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.plan.model
    }

    /// Positions processed so far (the next token's position).
    pub fn position(&self) -> usize {
        self.cache.len()
    }

    /// Positions the KV cache holds.
    pub fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Workers, the calling thread included.
    pub fn threads(&self) -> usize {
        self.team.workers()
    }

    /// The session's worker team, for callers that want to run their own
    /// parallel work on it.
    pub fn team(&self) -> &Arc<Team> {
        &self.team
    }

    /// Heap bytes of the KV cache and the workspace.
    pub fn planned_bytes(&self) -> usize {
        self.cache.bytes() + self.plan.ws.bytes()
    }

    /// Runs `f` with the session's team as the calling thread's current team,
    /// so kernels `f` calls directly split over it too.
    pub fn install<R>(&mut self, f: impl FnOnce(&mut Session) -> R) -> R {
        let team = Arc::clone(&self.team);
        team.install(|| f(self))
    }

    /// Feeds `tokens` after the current position and returns the logits of
    /// the last one, `(V,)`.
    ///
    /// # Errors
    /// [`ModelError::EmptyPrompt`], [`ModelError::TokenOutOfRange`] or
    /// [`ModelError::ContextOverflow`]; the session is unchanged then.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        let _span = self.plan.spans.prefill.clone().entered();
        self.run_last_logits(tokens)
    }

    fn run_last_logits(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.check_tokens(tokens)?;
        let (plan, cache) = (&mut self.plan, &mut self.cache);
        self.team.install(|| {
            for chunk in tokens.chunks(plan.ws.max_tokens) {
                let mut seq = OneSequence {
                    cache: &mut *cache,
                    rows: chunk.len(),
                };
                plan.pass().run(chunk, &mut seq, LogitRows::Last)?;
            }
            Ok::<_, ModelError>(())
        })?;
        Ok(&self.plan.ws.logits)
    }

    /// Feeds `tokens` and writes the logits of every one of them into `out`,
    /// `(T, V)` (resized). For evaluation and tests; [`Session::prefill`] is
    /// the fast path.
    ///
    /// # Errors
    /// As [`Session::prefill`].
    pub fn prefill_all_logits(&mut self, tokens: &[u32], out: &mut Vec<f32>) -> Result<()> {
        self.check_tokens(tokens)?;
        let v = self.plan.model.config().vocab_size;
        out.resize(tokens.len() * v, 0.0);
        let _span = self.plan.spans.prefill.clone().entered();
        let (plan, cache) = (&mut self.plan, &mut self.cache);
        self.team.install(|| {
            let max = plan.ws.max_tokens;
            for (chunk, out) in tokens.chunks(max).zip(out.chunks_mut(max * v)) {
                let mut seq = OneSequence {
                    cache: &mut *cache,
                    rows: chunk.len(),
                };
                plan.pass().run(chunk, &mut seq, LogitRows::All(out))?;
            }
            Ok(())
        })
    }

    /// Feeds one token and returns the logits for the next, `(V,)`.
    ///
    /// # Errors
    /// [`ModelError::TokenOutOfRange`] or [`ModelError::ContextOverflow`].
    pub fn decode(&mut self, token: u32) -> Result<&[f32]> {
        let _span = self.plan.spans.decode.clone().entered();
        self.run_last_logits(std::slice::from_ref(&token))
    }

    /// The logits of the last processed position, `(V,)`.
    pub fn logits(&self) -> &[f32] {
        &self.plan.ws.logits
    }

    /// Forgets every position: the next call starts a new sequence.
    pub fn reset(&mut self) {
        self.cache.truncate(0);
    }

    /// Keeps the first `len` positions and forgets the rest (for example to
    /// re-generate from a shared prefix).
    ///
    /// # Errors
    /// [`ModelError::InvalidSetting`] if `len` is past the current position.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        let position = self.position();
        if len > position {
            return Err(ModelError::InvalidSetting {
                name: "truncate",
                reason: format!("cannot truncate to {len}: only {position} positions are held"),
            });
        }
        self.cache.truncate(len);
        Ok(())
    }
}

impl Session {
    fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        if tokens.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        self.plan.check_vocab(tokens)?;
        self.cache.check_room(tokens.len())
    }
}

impl Plan {
    /// Plans `model` for `options` (capacity, chunk rows, activations).
    pub(crate) fn new(model: Arc<Model>, options: &SessionOptions) -> Result<Plan> {
        let config = model.config();
        let context = config.max_position_embeddings;
        let capacity = check_nonzero("capacity", options.capacity.unwrap_or(context))?;
        if capacity > context {
            return Err(ModelError::InvalidSetting {
                name: "capacity",
                reason: format!("{capacity} positions exceed the model's context of {context}"),
            });
        }
        let max_batch = check_nonzero("max_batch", options.max_batch)?.min(capacity);
        let spec = model.spec();
        let mut shape =
            AttentionShape::new(config.num_heads, config.num_kv_heads, config.head_dim)?;
        shape.scale = spec.attention_scale;
        let rope = match spec.rope() {
            Some(rope) => Some(rope_table(rope, capacity)?),
            None => None,
        };
        let local = LocalPlan {
            shape: AttentionShape {
                window: spec.local.as_ref().map(|l| l.window),
                ..shape
            },
            rope: match spec.local.as_ref().and_then(|l| l.rope.as_ref()) {
                Some(rope) => Some(rope_table(rope, capacity)?),
                None => None,
            },
        };
        let ws = Workspace::plan(
            config,
            spec,
            &shape,
            max_batch,
            capacity,
            model.scratch_len(max_batch),
        );
        Ok(Plan {
            capacity,
            shape,
            rope,
            local,
            ws,
            model,
            spans: ForwardSpans::new(),
            activations: options.activations,
        })
    }

    pub(crate) fn pass(&mut self) -> Pass<'_> {
        Pass {
            model: &self.model,
            shape: &self.shape,
            rope: self.rope.as_ref(),
            local: &self.local,
            ws: &mut self.ws,
            spans: &self.spans,
            activations: self.activations,
        }
    }

    /// [`ModelError::TokenOutOfRange`] for the first token outside the vocabulary.
    pub(crate) fn check_vocab(&self, tokens: &[u32]) -> Result<()> {
        let vocab_size = self.model.config().vocab_size;
        match tokens.iter().find(|&&t| t as usize >= vocab_size) {
            Some(&token) => Err(ModelError::TokenOutOfRange { token, vocab_size }),
            None => Ok(()),
        }
    }
}

/// The cos/sin tables of `rope` for a session of `positions` positions
/// (which also picks LongRoPE's set, [`RopeSpec::divisors_for`]).
fn rope_table(rope: &RopeSpec, positions: usize) -> Result<RopeTable> {
    let divisors = rope.divisors_for(positions);
    Ok(if divisors.is_empty() && rope.attention_factor == 1.0 {
        RopeTable::new(rope.theta, rope.rotary_dim, positions)?
    } else {
        let unit;
        let divisors = if divisors.is_empty() {
            unit = vec![1.0; rope.rotary_dim / 2];
            &unit
        } else {
            divisors
        };
        let (theta, dim, scale) = (rope.theta, rope.rotary_dim, rope.attention_factor);
        RopeTable::scaled(theta, dim, divisors, scale, positions)?
    })
}

fn check_nonzero(name: &'static str, value: usize) -> Result<usize> {
    if value == 0 {
        return Err(ModelError::InvalidSetting {
            name,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}
