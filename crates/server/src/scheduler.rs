//! The scheduler: one thread owns the model and `--slots` slots, takes requests from a bounded
//! queue, and advances every busy slot each step.
//!
//! # A slot
//! A [`Session`] (its own KV cache and buffers; every slot shares ONE worker team, since only
//! this thread computes), a [`Sampler`], and `cached`: the tokens whose keys and values the
//! cache holds. A slot keeps them after its request ends, so a later request starting with the
//! same tokens (a system prompt, the earlier turns of a chat) reuses them.
//!
//! # A step ([`Scheduler::step`])
//! 1. **Admit** queued requests while a slot is free. The slot is the free one whose cached
//!    tokens share the longest prefix with the prompt, the least recently used among equals;
//!    its cache is cut back to that prefix (keeping at least one prompt token to feed).
//! 2. **Drop** requests whose client went away (the receiving end of their events is gone),
//!    whose deadline passed, or all of them when the server is draining.
//! 3. **Feed** every busy slot ([`feed_all`]): a slot still prefilling feeds its next chunk of
//!    at most [`PREFILL_CHUNK`] prompt tokens (so a long prompt does not stall the streams
//!    already decoding); the decoding slots feed the tokens they sampled last step all at once,
//!    as the rows of one batched forward ([`BatchDecoder`]: the linear layers read each weight
//!    once for all of them, attention runs per slot over its own cache).
//! 4. **Sample** a token for each slot whose prompt is all in, decode its text
//!    ([`TextStream`]: UTF-8 across tokens, stop strings) and send the piece to its client.
//!
//! So each step costs one token per decoding slot, and a client that disconnects frees its slot
//! within one step.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use smallmind::kernels::Team;
use smallmind::model::BatchDecoder;
use smallmind::model::sampler::Sampler;
use smallmind::{SamplerConfig, Session, SessionOptions, TextModel, TextStream};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Prompt tokens a prefilling slot feeds per step: long enough to keep the matrix products
/// efficient, short enough that a step stays within a few decode steps' time.
pub(crate) const PREFILL_CHUNK: usize = 128;

/// How long an idle scheduler waits for a request before checking whether the server drains.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// One admitted request, as the HTTP layer hands it over.
#[derive(Debug)]
pub(crate) struct Job {
    /// The prompt, encoded (and checked to fit a slot).
    pub prompt: Vec<u32>,
    /// At most this many tokens (already capped to the slot's room).
    pub max_tokens: usize,
    pub stop: Vec<String>,
    pub sampling: SamplerConfig,
    /// When it arrived (TTFT is measured from here).
    pub arrived: Instant,
    pub deadline: Instant,
    /// Where its text goes; dropped by the HTTP side when the client disconnects.
    pub events: UnboundedSender<Event>,
}

/// What the scheduler tells a request's HTTP handler.
#[derive(Debug)]
pub(crate) enum Event {
    /// Text that became final.
    Text(String),
    /// The end: why, and the token counts.
    Done(Outcome),
    /// The request failed (or the server is shutting down); nothing more follows.
    Failed(ApiError),
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// `stop` (a stop token or string) or `length` (`max_tokens` or a full cache).
    pub finish_reason: &'static str,
    pub prompt_tokens: usize,
    pub cached_tokens: usize,
    pub completion_tokens: usize,
}

/// What the scheduler thread needs besides the model.
#[derive(Debug)]
pub(crate) struct SchedulerConfig {
    pub slots: usize,
    /// KV positions per slot.
    pub context: usize,
    pub threads: Option<usize>,
    pub timeout: Duration,
}

/// The thread's state; borrows the model so each request's [`TextStream`] can borrow its codec.
pub(crate) struct Scheduler<'m> {
    model: &'m TextModel,
    slots: Vec<Slot<'m>>,
    queue: Receiver<Job>,
    draining: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    timeout: Duration,
    /// Increases at each admission; a slot's `last_used` is its value then (LRU order).
    clock: u64,
    /// The requests that ended this step, with their last event (sent after the gauges are
    /// updated). Capacity: one per slot.
    endings: Vec<(Job, Event)>,
    /// The activation buffers of the decoding slots' batched forward.
    batch: BatchDecoder,
}

struct Slot<'m> {
    session: Session,
    sampler: Sampler,
    /// The tokens whose K/V the session's cache holds, `(position,)`.
    cached: Vec<u32>,
    last_used: u64,
    request: Option<Request<'m>>,
    /// The slot's row of this step's batched decode (its logits), if it decoded.
    batch_row: Option<usize>,
}

/// A request being served by a slot.
struct Request<'m> {
    job: Job,
    /// Prompt tokens in the cache so far (reused ones included).
    prompt_fed: usize,
    cached_tokens: usize,
    /// Sampled and not yet fed to the model.
    pending: Option<u32>,
    generated: usize,
    text: TextStream<'m>,
    /// The model's end-of-generation tokens.
    stop_tokens: &'m [u32],
    stopped_by_token: bool,
    last_token_at: Option<Instant>,
}

impl<'m> Scheduler<'m> {
    /// Plans `config.slots` sessions over one worker team.
    pub(crate) fn new(
        model: &'m TextModel,
        config: &SchedulerConfig,
        queue: Receiver<Job>,
        draining: Arc<AtomicBool>,
        metrics: Arc<Metrics>,
    ) -> smallmind::Result<Scheduler<'m>> {
        let threads = config
            .threads
            .unwrap_or_else(smallmind::model::session::physical_cores);
        let team = Team::new(threads.max(1), "smallmind-serve")
            .map_err(smallmind::model::ModelError::ThreadPool)?;
        let team = Arc::new(team);
        let options = SessionOptions {
            capacity: Some(config.context),
            max_batch: PREFILL_CHUNK,
            ..SessionOptions::default()
        };
        let vocab_size = model.model().config().vocab_size;
        let slots = (0..config.slots)
            .map(|_| {
                Ok(Slot {
                    session: Session::with_team(model.model().clone(), &options, team.clone())?,
                    sampler: Sampler::new(SamplerConfig::default(), vocab_size)?,
                    cached: Vec::with_capacity(config.context),
                    last_used: 0,
                    request: None,
                    batch_row: None,
                })
            })
            .collect::<smallmind::Result<Vec<_>>>()?;
        metrics
            .kv_cache_capacity
            .set((config.slots * config.context) as i64);
        Ok(Scheduler {
            model,
            slots,
            queue,
            draining,
            metrics,
            timeout: config.timeout,
            clock: 0,
            endings: Vec::with_capacity(config.slots),
            batch: BatchDecoder::new(model.model().clone(), &options, config.slots)?,
        })
    }

    /// Serves until the server drains and nothing is left in flight.
    pub(crate) fn run(mut self) {
        loop {
            let draining = self.draining.load(Ordering::Acquire);
            if !self.busy() {
                if draining {
                    self.reject_queued();
                    return;
                }
                match self.queue.recv_timeout(IDLE_POLL) {
                    Ok(job) => self.admit(job),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            self.step(draining);
        }
    }

    fn busy(&self) -> bool {
        self.slots.iter().any(|s| s.request.is_some())
    }

    /// One scheduling step (see the module docs).
    fn step(&mut self, draining: bool) {
        if draining {
            self.reject_queued();
        } else {
            self.admit_queued();
        }
        self.drop_abandoned(draining);
        feed_all(&mut self.slots, &mut self.batch, &mut self.endings);
        let batch_logits = self.batch.logits();
        for slot in &mut self.slots {
            if let Some(ending) = slot.sample_and_send(&self.metrics, batch_logits) {
                self.endings.push(ending);
            }
        }
        // The gauges first: a client that has its answer sees them settled.
        self.update_gauges();
        for (job, event) in self.endings.drain(..) {
            let _ = job.events.send(event);
        }
    }

    fn admit_queued(&mut self) {
        while self.slots.iter().any(|s| s.request.is_none()) {
            match self.queue.try_recv() {
                Ok(job) => self.admit(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    fn reject_queued(&mut self) {
        while let Ok(job) = self.queue.try_recv() {
            self.metrics.queue_depth.dec();
            let _ = job.events.send(Event::Failed(ApiError::unavailable(
                "the server is shutting down",
            )));
        }
    }

    /// Puts `job` in the free slot sharing the longest prefix with its prompt (LRU among
    /// equals). A free slot exists: the caller checked.
    fn admit(&mut self, job: Job) {
        self.metrics.queue_depth.dec();
        if job.events.is_closed() {
            return;
        }
        if Instant::now() >= job.deadline {
            let _ = job.events.send(Event::Failed(ApiError::timed_out(
                self.timeout.as_secs_f64(),
            )));
            return;
        }
        let Some(index) = choose_slot(&self.slots, &job.prompt) else {
            return;
        };
        self.clock += 1;
        let slot = &mut self.slots[index];
        slot.last_used = self.clock;
        let text = match TextStream::new(self.model, &job.stop) {
            Ok(text) => text,
            Err(e) => {
                let _ = job.events.send(Event::Failed(ApiError::invalid(
                    Some("stop"),
                    e.to_string(),
                )));
                return;
            }
        };
        if let Err(e) = slot.sampler.set_config(job.sampling.clone()) {
            let _ = job
                .events
                .send(Event::Failed(ApiError::invalid(None, e.to_string())));
            return;
        }
        slot.sampler.reset();
        // Keep the shared prefix, but feed at least the last prompt token: sampling needs
        // its logits.
        let keep = common_prefix(&slot.cached, &job.prompt).min(job.prompt.len() - 1);
        // `keep` is at most the cache's position, so truncating cannot fail.
        let _ = slot.session.truncate(keep);
        slot.cached.truncate(keep);
        self.metrics.prompt_tokens.inc_by(job.prompt.len() as u64);
        self.metrics.cached_tokens.inc_by(keep as u64);
        slot.request = Some(Request {
            job,
            prompt_fed: keep,
            cached_tokens: keep,
            pending: None,
            generated: 0,
            text,
            stop_tokens: &self.model.defaults().stop_tokens,
            stopped_by_token: false,
            last_token_at: None,
        });
    }

    /// Ends the requests nobody waits for any more, or past their deadline, or all when
    /// draining.
    fn drop_abandoned(&mut self, draining: bool) {
        let now = Instant::now();
        for slot in &mut self.slots {
            let Some(request) = &slot.request else {
                continue;
            };
            let failure = if request.job.events.is_closed() {
                None
            } else if draining {
                Some(ApiError::unavailable("the server is shutting down"))
            } else if now >= request.job.deadline {
                Some(ApiError::timed_out(self.timeout.as_secs_f64()))
            } else {
                continue;
            };
            let Some(request) = slot.request.take() else {
                continue;
            };
            if let Some(error) = failure {
                self.endings.push((request.job, Event::Failed(error)));
            }
        }
    }

    fn update_gauges(&self) {
        let busy = self.slots.iter().filter(|s| s.request.is_some()).count();
        let held: usize = self.slots.iter().map(|s| s.cached.len()).sum();
        self.metrics.busy_slots.set(busy as i64);
        self.metrics.kv_cache_tokens.set(held as i64);
    }
}

/// Runs the model for every busy slot: the next prompt chunk of each prefilling slot, then the
/// pending tokens of all decoding slots as one batched forward, each slot's logits in its
/// `batch_row`.
fn feed_all(slots: &mut [Slot<'_>], batch: &mut BatchDecoder, endings: &mut Vec<(Job, Event)>) {
    let mut sessions: Vec<&mut Session> = Vec::with_capacity(slots.len());
    let mut tokens: Vec<u32> = Vec::with_capacity(slots.len());
    for slot in slots.iter_mut() {
        slot.batch_row = None;
        let Slot {
            session,
            cached,
            request,
            batch_row,
            ..
        } = slot;
        let Some(active) = request else {
            continue;
        };
        if active.prompt_fed < active.job.prompt.len() {
            if let Err(error) = prefill_chunk(session, cached, active)
                && let Some(request) = request.take()
            {
                endings.push((request.job, Event::Failed(error)));
            }
        } else if let Some(token) = active.pending.take() {
            cached.push(token);
            *batch_row = Some(tokens.len());
            tokens.push(token);
            sessions.push(session);
        }
    }
    if tokens.is_empty() {
        return;
    }
    let Err(error) = batch.decode(&mut sessions, &tokens) else {
        return;
    };
    // Nothing was fed: every decoding slot's request fails.
    drop(sessions);
    for slot in slots.iter_mut().filter(|s| s.batch_row.is_some()) {
        slot.batch_row = None;
        slot.cached.truncate(slot.session.position());
        if let Some(request) = slot.request.take() {
            let error = ApiError::internal(error.to_string());
            endings.push((request.job, Event::Failed(error)));
        }
    }
}

/// Feeds the next chunk of `request`'s prompt to `session`.
fn prefill_chunk(
    session: &mut Session,
    cached: &mut Vec<u32>,
    request: &mut Request<'_>,
) -> Result<(), ApiError> {
    let prompt = &request.job.prompt;
    let end = (request.prompt_fed + PREFILL_CHUNK).min(prompt.len());
    let chunk = &prompt[request.prompt_fed..end];
    match session.prefill(chunk) {
        Ok(_) => {
            cached.extend_from_slice(chunk);
            request.prompt_fed = end;
            Ok(())
        }
        // The session is unchanged on error.
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

impl Slot<'_> {
    /// Once the prompt is in, samples the next token from the last logits and streams its
    /// text; returns the request's last event if it ended.
    fn sample_and_send(&mut self, metrics: &Metrics, batch_logits: &[f32]) -> Option<(Job, Event)> {
        let request = self.request.as_mut()?;
        if request.prompt_fed < request.job.prompt.len() {
            return None;
        }
        let logits = match self.batch_row {
            Some(row) => {
                let vocab = self.session.model().config().vocab_size;
                &batch_logits[row * vocab..(row + 1) * vocab]
            }
            None => self.session.logits(),
        };
        let ending = match sample_one(&mut self.sampler, logits, &self.cached, request) {
            Ok(generated) => {
                if generated {
                    request.observe_token(metrics);
                }
                let finish_reason =
                    request.finished(self.session.position() >= self.session.capacity())?;
                Event::Done(Outcome {
                    finish_reason,
                    prompt_tokens: request.job.prompt.len(),
                    cached_tokens: request.cached_tokens,
                    completion_tokens: request.generated,
                })
            }
            Err(error) => Event::Failed(error),
        };
        self.request.take().map(|request| (request.job, ending))
    }
}

/// Samples one token for `request` and sends its text; returns whether it generated one
/// (not for a stop token, which ends the request).
fn sample_one(
    sampler: &mut Sampler,
    logits: &[f32],
    history: &[u32],
    request: &mut Request<'_>,
) -> Result<bool, ApiError> {
    let token = sampler
        .sample(logits, history)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if request.stop_tokens.contains(&token) {
        request.stopped_by_token = true;
        return Ok(false);
    }
    request.generated += 1;
    request.pending = Some(token);
    let piece = request
        .text
        .push(token)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !piece.is_empty() {
        let _ = request.job.events.send(Event::Text(piece.to_owned()));
    }
    Ok(true)
}

impl Request<'_> {
    /// Counts a generated token and its latency: from arrival for the first, from the
    /// previous one after that.
    fn observe_token(&mut self, metrics: &Metrics) {
        metrics.generated_tokens.inc();
        let now = Instant::now();
        match self.last_token_at.replace(now) {
            None => metrics
                .time_to_first_token
                .observe((now - self.job.arrived).as_secs_f64()),
            Some(previous) => metrics
                .inter_token_latency
                .observe((now - previous).as_secs_f64()),
        }
    }

    /// Whether the request is over after this step's token, and why: `stop` for a stop token
    /// or string, `length` for `max_tokens` or a cache with no room for the pending token.
    /// Flushes the text held back for stop strings when it ends otherwise.
    fn finished(&mut self, cache_full: bool) -> Option<&'static str> {
        if self.text.stopped().is_some() {
            return Some("stop");
        }
        let reason = if self.stopped_by_token {
            "stop"
        } else if self.generated >= self.job.max_tokens || cache_full {
            "length"
        } else {
            return None;
        };
        let rest = self.text.finish();
        if !rest.is_empty() {
            let _ = self.job.events.send(Event::Text(rest.to_owned()));
        }
        Some(reason)
    }
}

/// The free slot to serve `prompt`: the longest common prefix with its cached tokens, then
/// the least recently used.
fn choose_slot(slots: &[Slot<'_>], prompt: &[u32]) -> Option<usize> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.request.is_none())
        // `min_by_key` keeps the first of equals: the lowest index among never-used slots.
        .min_by_key(|(_, s)| {
            (
                std::cmp::Reverse(common_prefix(&s.cached, prompt)),
                s.last_used,
            )
        })
        .map(|(index, _)| index)
}

/// How many leading tokens `a` and `b` share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{SyncSender, sync_channel};

    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    use super::*;

    fn tiny() -> TextModel {
        smallmind::load(smallmind_testkit::fixture(
            "tiny-llama-gguf/tiny-llama-Q8_0.gguf",
        ))
        .unwrap()
    }

    fn scheduler(model: &TextModel, slots: usize) -> (Scheduler<'_>, SyncSender<Job>) {
        let (queue, jobs) = sync_channel(8);
        let config = SchedulerConfig {
            slots,
            context: 256,
            threads: Some(1),
            timeout: Duration::from_secs(3600),
        };
        let draining = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(Metrics::new());
        let scheduler = Scheduler::new(model, &config, jobs, draining, metrics).unwrap();
        (scheduler, queue)
    }

    /// A greedy job over `prompt` that runs to `max_tokens` unless a stop token comes.
    fn job(prompt: &[u32], max_tokens: usize) -> (Job, UnboundedReceiver<Event>) {
        let (events, receiver) = unbounded_channel();
        let arrived = Instant::now();
        let job = Job {
            prompt: prompt.to_vec(),
            max_tokens,
            stop: Vec::new(),
            sampling: SamplerConfig::greedy(),
            arrived,
            deadline: arrived + Duration::from_secs(3600),
            events,
        };
        (job, receiver)
    }

    /// A prompt of `len` ordinary tokens (ids 3.. of the tiny vocabulary: no control tokens).
    fn prompt(len: usize, salt: u32) -> Vec<u32> {
        (0..len as u32).map(|i| 3 + (i * 7 + salt) % 120).collect()
    }

    fn fed(scheduler: &Scheduler<'_>, slot: usize) -> usize {
        scheduler.slots[slot].session.position()
    }

    #[test]
    fn a_client_that_goes_away_frees_its_slot_within_one_step() {
        let model = tiny();
        let (mut scheduler, queue) = scheduler(&model, 1);
        let (job, events) = job(&prompt(10, 0), 200);
        queue.send(job).unwrap();
        scheduler.step(false);
        assert!(scheduler.busy());
        drop(events);
        scheduler.step(false);
        assert!(!scheduler.busy());
    }

    #[test]
    fn a_long_prompt_is_fed_in_chunks_while_another_slot_decodes() {
        let model = tiny();
        let (mut scheduler, queue) = scheduler(&model, 2);
        let (short, _short_events) = job(&prompt(5, 1), 100);
        queue.send(short).unwrap();
        scheduler.step(false);
        assert_eq!(fed(&scheduler, 0), 5);

        let long_len = PREFILL_CHUNK + 40;
        let (long, _long_events) = job(&prompt(long_len, 2), 100);
        queue.send(long).unwrap();
        scheduler.step(false);
        // The decoding slot advanced one token; the new one fed one chunk of its prompt.
        assert_eq!(fed(&scheduler, 0), 6);
        assert_eq!(fed(&scheduler, 1), PREFILL_CHUNK);
        scheduler.step(false);
        assert_eq!(fed(&scheduler, 0), 7);
        assert_eq!(fed(&scheduler, 1), long_len);
    }

    /// Runs a job to its end and returns its outcome and text.
    fn run_to_end(
        scheduler: &mut Scheduler<'_>,
        queue: &SyncSender<Job>,
        prompt: &[u32],
    ) -> (Outcome, String) {
        let (job, mut events) = job(prompt, 8);
        queue.send(job).unwrap();
        let mut text = String::new();
        loop {
            scheduler.step(false);
            while let Ok(event) = events.try_recv() {
                match event {
                    Event::Text(piece) => text.push_str(&piece),
                    Event::Done(outcome) => return (outcome, text),
                    Event::Failed(error) => panic!("{error:?}"),
                }
            }
        }
    }

    #[test]
    fn a_request_streams_the_same_text_alone_or_batched_with_others() {
        let model = tiny();
        let (mut alone, queue) = scheduler(&model, 3);
        let (outcome, text) = run_to_end(&mut alone, &queue, &prompt(9, 5));
        // The same request beside two others: their decode steps share its forward passes.
        let (mut shared, queue) = scheduler(&model, 3);
        let (first, mut events) = job(&prompt(9, 5), 8);
        let (second, _second_events) = job(&prompt(20, 6), 8);
        let (third, _third_events) = job(&prompt(3, 7), 8);
        for job in [first, second, third] {
            queue.send(job).unwrap();
        }
        let mut batched = String::new();
        let batched_outcome = loop {
            shared.step(false);
            let mut done = None;
            while let Ok(event) = events.try_recv() {
                match event {
                    Event::Text(piece) => batched.push_str(&piece),
                    Event::Done(outcome) => done = Some(outcome),
                    Event::Failed(error) => panic!("{error:?}"),
                }
            }
            if let Some(outcome) = done {
                break outcome;
            }
        };
        assert_eq!(batched, text);
        assert_eq!(batched_outcome, outcome);
    }

    #[test]
    fn a_slot_is_chosen_by_longest_cached_prefix_then_least_recently_used() {
        let model = tiny();
        let (mut scheduler, queue) = scheduler(&model, 2);
        let system = prompt(30, 3);
        let with = |question: u32| {
            let mut p = system.clone();
            p.extend(prompt(6, question));
            p
        };
        // Slot 0 (both empty, both unused: the first) serves a prompt with the system prefix.
        let (first, first_text) = run_to_end(&mut scheduler, &queue, &with(10));
        assert_eq!(first.cached_tokens, 0);
        // Repeating it reuses all of it but the last token, and cached decoding gives the
        // same text as the uncached run did.
        let (again, again_text) = run_to_end(&mut scheduler, &queue, &with(10));
        assert_eq!(again.cached_tokens, with(10).len() - 1);
        assert_eq!(again_text, first_text);
        assert_eq!(again.completion_tokens, first.completion_tokens);
        // An unrelated prompt shares nothing with either slot: the least recently used, 1.
        let (other, _) = run_to_end(&mut scheduler, &queue, &prompt(12, 99));
        assert_eq!(other.cached_tokens, 0);
        assert_eq!(scheduler.slots[1].cached[..12], prompt(12, 99));
        // The next question with the same system prompt finds it in slot 0.
        let (second, _) = run_to_end(&mut scheduler, &queue, &with(11));
        assert_eq!(second.cached_tokens, common_prefix(&with(10), &with(11)));
        assert!(second.cached_tokens >= 30);
        assert_eq!(scheduler.slots[0].cached[..30], system);
    }
}
