//! The benchmark scenarios of `WORKLOADS.md` as code, so that `smallmind profile`, the criterion
//! benches and the tests run exactly the same work:
//! - [`Scenario::Profile`]: three sessions, each a 10-token seeded random prompt followed by 50
//!   generated tokens (temperature 0.8, seed 42);
//! - [`Scenario::Pp128Tg64`]: one 128-token prompt, then 64 decode steps.
//!
//! A [`Workload`] plans its sampler and prompts once; [`Workload::run`] replays the scenario on a
//! session, inside the session's pool, and returns its [`WorkloadStats`]. A [`StepProbe`] sees
//! the start and end of every decode step (to count allocations in steady state, for example).

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::generate::StopCriteria;
use crate::generate::{Generation, per_second};
use crate::sampler::{Sampler, SamplerConfig};
use crate::session::Session;

/// Sampling temperature of every scenario.
pub const TEMPERATURE: f32 = 0.8;
/// Sampler seed of every scenario; prompt `i` is drawn with seed `SEED + i`.
pub const SEED: u64 = 42;

/// A scenario of `WORKLOADS.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Three sessions of a 10-token prompt and 50 generated tokens.
    Profile,
    /// A 128-token prefill, then 64 decode steps, as llama-bench's pp128 + tg64.
    Pp128Tg64,
}

/// The shape of one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScenarioShape {
    /// Independent sessions (the KV cache is reset between them).
    pub sessions: usize,
    /// Prompt tokens per session.
    pub prompt_tokens: usize,
    /// Tokens generated per session: one from the prompt's logits, then one per decode step.
    pub new_tokens: usize,
}

impl Scenario {
    /// Its sessions, prompt and generation lengths.
    pub fn shape(self) -> ScenarioShape {
        match self {
            Scenario::Profile => ScenarioShape {
                sessions: 3,
                prompt_tokens: 10,
                new_tokens: 50,
            },
            Scenario::Pp128Tg64 => ScenarioShape {
                sessions: 1,
                prompt_tokens: 128,
                new_tokens: 65,
            },
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Profile => "profile",
            Scenario::Pp128Tg64 => "pp128tg64",
        }
    }
}

impl ScenarioShape {
    /// KV cache positions one session needs (the last generated token is never fed back).
    pub fn positions(&self) -> usize {
        self.prompt_tokens + self.new_tokens - 1
    }
}

/// Hooks around every decode step (after a session's first token). `()` does nothing.
pub trait StepProbe {
    /// Just before a decode step.
    fn decode_step_start(&mut self) {}
    /// Just after it.
    fn decode_step_end(&mut self) {}
}

impl StepProbe for () {}

/// Totals of one or more runs of a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WorkloadStats {
    /// Sessions run.
    pub sessions: usize,
    /// Prompt tokens prefilled.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Decode steps (generated tokens after each session's first).
    pub decode_steps: usize,
    /// Time in prefill.
    pub prefill_time: Duration,
    /// Time in decode steps.
    pub decode_time: Duration,
    /// Time to first token, summed over sessions.
    pub time_to_first_token: Duration,
    /// Time in the sampler.
    pub sample_time: Duration,
    /// Wall time of the runs.
    pub wall_time: Duration,
}

impl WorkloadStats {
    /// Adds another run's totals.
    pub fn add(&mut self, other: &WorkloadStats) {
        self.sessions += other.sessions;
        self.prompt_tokens += other.prompt_tokens;
        self.generated_tokens += other.generated_tokens;
        self.decode_steps += other.decode_steps;
        self.prefill_time += other.prefill_time;
        self.decode_time += other.decode_time;
        self.time_to_first_token += other.time_to_first_token;
        self.sample_time += other.sample_time;
        self.wall_time += other.wall_time;
    }

    /// Prompt tokens per second of prefill.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill_time)
    }

    /// Decode steps per second.
    pub fn decode_tokens_per_second(&self) -> f64 {
        per_second(self.decode_steps, self.decode_time)
    }

    /// Mean time to first token.
    pub fn mean_time_to_first_token(&self) -> Duration {
        self.time_to_first_token / self.sessions.max(1) as u32
    }
}

/// A scenario planned for one model: its sampler and prompts (see the module docs).
#[derive(Debug)]
pub struct Workload {
    scenario: Scenario,
    sampler: Sampler,
    prompts: Vec<Vec<u32>>,
}

impl Workload {
    /// Plans `scenario` for a model with `config`.
    ///
    /// # Errors
    /// [`ModelError::InvalidSetting`] if a session does not fit the model's context.
    pub fn new(scenario: Scenario, config: &ModelConfig) -> Result<Workload> {
        let shape = scenario.shape();
        let context = config.max_position_embeddings;
        if shape.positions() > context {
            return Err(ModelError::InvalidSetting {
                name: "scenario",
                reason: format!(
                    "{} needs {} positions; the model's context is {context}",
                    scenario.name(),
                    shape.positions()
                ),
            });
        }
        let sampler_config = SamplerConfig {
            temperature: TEMPERATURE,
            seed: SEED,
            ..SamplerConfig::default()
        };
        let vocab = config.vocab_size;
        Ok(Workload {
            scenario,
            sampler: Sampler::new(sampler_config, vocab)?,
            prompts: (0..shape.sessions as u64)
                .map(|i| random_prompt(shape.prompt_tokens, vocab, SEED + i))
                .collect(),
        })
    }

    /// The scenario.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Runs every session of the scenario on `session` (reset before each), inside its pool.
    ///
    /// # Errors
    /// Whatever a prefill, decode or sampling step returns.
    pub fn run(
        &mut self,
        session: &mut Session,
        probe: &mut (impl StepProbe + Send),
    ) -> Result<WorkloadStats> {
        let new_tokens = self.scenario.shape().new_tokens;
        let (sampler, prompts) = (&mut self.sampler, &self.prompts);
        session.install(|session| {
            let start = Instant::now();
            let mut totals = WorkloadStats::default();
            for prompt in prompts {
                session.reset();
                sampler.reset();
                totals.add(&run_session(session, sampler, prompt, new_tokens, probe)?);
            }
            totals.wall_time = start.elapsed();
            Ok(totals)
        })
    }
}

/// One session: the prompt, then `new_tokens` tokens, with `probe` around each decode step.
fn run_session(
    session: &mut Session,
    sampler: &mut Sampler,
    prompt: &[u32],
    new_tokens: usize,
    probe: &mut impl StepProbe,
) -> Result<WorkloadStats> {
    let stop = StopCriteria {
        stop_tokens: Vec::new(),
        max_new_tokens: new_tokens,
    };
    let mut generation = Generation::new(session, sampler, stop, prompt)?;
    generation.next().transpose()?;
    loop {
        probe.decode_step_start();
        let step = generation.next();
        probe.decode_step_end();
        match step {
            Some(token) => token?,
            None => break,
        };
    }
    let s = generation.stats();
    Ok(WorkloadStats {
        sessions: 1,
        prompt_tokens: s.prompt_tokens,
        generated_tokens: s.generated_tokens,
        decode_steps: s.generated_tokens.saturating_sub(1),
        prefill_time: s.prefill_time,
        decode_time: s.decode_time,
        time_to_first_token: s.time_to_first_token,
        sample_time: s.sample_time,
        wall_time: Duration::ZERO,
    })
}

/// `len` token ids drawn uniformly from the vocabulary with `seed`.
fn random_prompt(len: usize, vocab_size: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|_| rng.random_range(0..vocab_size as u32))
        .collect()
}
