//! Token sampling: greedy, temperature, top-k, top-p, min-p, repetition penalty, seeded.
//!
//! # Pipeline
//! [`Sampler::sample`] turns one row of logits `(vocab_size,)` into a token id
//! in the order Hugging Face transformers applies its logits processors and
//! warpers:
//!
//! 1. **Sanitize.** A NaN logit is read as `-inf` (the token is never chosen).
//! 2. **Repetition penalty** (CTRL, Keskar et al. 2019, "CTRL: A Conditional
//!    Transformer Language Model for Controllable Generation", §4.1, in the
//!    form HF implements): for each *distinct* token among the last
//!    [`SamplerConfig::repetition_window`] of `recent_tokens`, a positive logit
//!    is divided by the penalty and a negative one multiplied by it. A token
//!    repeated in the window is penalized once.
//! 3. **Greedy** if `temperature == 0`: the argmax, ties going to the lowest
//!    id. Top-k, top-p and min-p cannot remove the argmax, so they are skipped,
//!    and no random number is drawn.
//! 4. **Temperature:** every logit is divided by `temperature`. Tokens whose
//!    logit is `-inf` leave the candidate set here. If any logit is `+inf`, the
//!    `+inf` tokens are the candidates and share the mass equally.
//! 5. **Top-k:** keep the `top_k` highest logits (ties broken towards the
//!    lowest id).
//! 6. **Weights:** `w = exp(logit − max logit)`, so the best token weighs 1.
//! 7. **Top-p** (nucleus sampling, Holtzman et al. 2019, "The Curious Case of
//!    Neural Text Degeneration"): keep the smallest set of highest-probability
//!    tokens whose probability mass (over the top-k survivors) is `≥ top_p`.
//! 8. **Min-p** (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for
//!    Creative and Coherent LLM Outputs"): drop tokens whose probability is
//!    below `min_p · p_max`, i.e. whose weight is below `min_p`.
//! 9. **Draw:** one uniform number `u ∈ [0, Σw)` from the seeded RNG, and the
//!    first candidate whose cumulative weight exceeds `u`.
//!
//! Both top-p and min-p keep a prefix of the candidates in descending logit
//! order and the best token survives both, so applying both keeps the shorter
//! prefix. The sampler therefore runs the cheap min-p filter (one pass, no
//! sort) before top-p's partial sort, with top-p's mass still measured over
//! the top-k survivors; the result is the set HF computes in the order
//! top-p → min-p.
//!
//! # Cost
//! With `V` the vocabulary, `n` the candidates after top-k and `m` the
//! candidates after top-p:
//! - greedy: `O(V)` (one copy, one argmax pass);
//! - temperature, masking: `O(V)`;
//! - top-k: `O(V)` average (`select_nth_unstable_by` on the candidates) plus
//!   `O(k log k)` to sort the survivors;
//! - weights and min-p: `O(n)` (one `exp` per candidate);
//! - top-p: `O(n)` for the total mass, then the nucleus is found by sorting
//!   only what it needs: chunks of 64, 256, 1024, … best candidates are
//!   selected (`O(n)` each) and sorted until their mass reaches `top_p`, so
//!   `O(n · log₄(m / 64) + m log m)` rather than `O(n log n)`;
//! - draw: `O(m)`.
//!
//! [`Sampler::new`] allocates one candidate buffer of `V` entries; sampling
//! then allocates nothing (`tests/sampler_alloc.rs` proves it).
//!
//! # Reproducibility
//! The RNG is ChaCha8 ([`rand_chacha::ChaCha8Rng`]) seeded with
//! `seed_from_u64(seed)`, whose stream is specified and portable. Each
//! non-greedy draw consumes exactly one `u64`, turned into a uniform `f64`
//! by taking its top 53 bits. Every other step is IEEE-754 arithmetic in a
//! fixed order: `exp` is our own (`exp_nonpositive`: `+` and `×` only, not
//! the platform's libm), sums run sequentially in f64 over a canonical
//! candidate order (id order, or descending logit with ties by id), and ties
//! never depend on the unstable selection's internal order. So the same seed,
//! settings and logits give the same tokens on every run and every machine.
//! [`Sampler::reset`] and [`Sampler::reseed`] restart the stream to replay a
//! session.
//!
//! # Stop conditions
//! [`StopCriteria`] says when a generation ends: on a stop token or after
//! `max_new_tokens` tokens.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{ModelError, Result};

/// Sampling settings. Every filter has a neutral value that disables it.
///
/// [`Default`] samples from the model's own distribution: temperature 1 and
/// every filter off (`top_k = 0`, `top_p = 1`, `min_p = 0`,
/// `repetition_penalty = 1`), with a 64-token penalty window (used only once a
/// penalty is set) and seed 0. A library should not reshape the distribution
/// unless asked; callers wanting llama.cpp-like output set, for example,
/// `temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05`.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Divides the logits; `0` means greedy (argmax), values below 1 sharpen
    /// the distribution and above 1 flatten it. Finite and `≥ 0`.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; `0` disables the filter.
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of most likely tokens whose
    /// mass is `≥ top_p`. In `(0, 1]`; `1` disables it.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one.
    /// In `[0, 1]`; `0` disables it.
    pub min_p: f32,
    /// CTRL repetition penalty: recent tokens' positive logits are divided by
    /// it, negative ones multiplied. Finite and `> 0`; `1` disables it, values
    /// above 1 discourage repetition.
    pub repetition_penalty: f32,
    /// How many of the most recent tokens the penalty looks at (the tail of
    /// the `recent_tokens` slice given to [`Sampler::sample`]); `0` looks at
    /// none, `usize::MAX` at all of them.
    pub repetition_window: usize,
    /// Seed of the RNG; the same seed replays the same tokens.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            repetition_window: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    /// Greedy decoding (temperature 0): always the most likely token.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Whether these settings pick the argmax without drawing.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Checks every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(invalid(
                "temperature",
                format!("must be a finite number >= 0 (0 means greedy), got {t}"),
            ));
        }
        let p = self.top_p;
        if !(p > 0.0 && p <= 1.0) {
            return Err(invalid(
                "top_p",
                format!("must be in (0, 1] (1 disables it), got {p}"),
            ));
        }
        let m = self.min_p;
        if !(0.0..=1.0).contains(&m) {
            return Err(invalid(
                "min_p",
                format!("must be in [0, 1] (0 disables it), got {m}"),
            ));
        }
        let r = self.repetition_penalty;
        if !(r.is_finite() && r > 0.0) {
            return Err(invalid(
                "repetition_penalty",
                format!("must be a finite number > 0 (1 disables it), got {r}"),
            ));
        }
        Ok(())
    }
}

fn invalid(name: &'static str, reason: String) -> ModelError {
    ModelError::InvalidSetting { name, reason }
}

/// A token still in the running after the filters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The token id.
    pub id: u32,
    /// Its logit after the repetition penalty and the temperature.
    pub logit: f32,
    /// Its unnormalized probability `exp(logit − max logit)` (the best token
    /// weighs 1; tokens at `+inf` weigh 1 each). Set by the filtering steps;
    /// `1` on the greedy path.
    pub weight: f64,
}

/// Turns logits into token ids; owns its buffers and its seeded RNG.
///
/// ```
/// use smallmind_model::sampler::{Sampler, SamplerConfig};
///
/// let config = SamplerConfig { temperature: 0.8, top_k: 40, seed: 42, ..Default::default() };
/// let mut sampler = Sampler::new(config, 4).unwrap();
/// let token = sampler.sample(&[0.1, 2.0, -1.0, 0.5], &[]).unwrap();
/// assert!(token < 4);
/// ```
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplerConfig,
    vocab_size: usize,
    /// Capacity `vocab_size`, never exceeded, so it never reallocates.
    candidates: Vec<Candidate>,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler for a vocabulary of `vocab_size` tokens, its RNG seeded with
    /// `config.seed`. Allocates every buffer sampling needs.
    pub fn new(config: SamplerConfig, vocab_size: usize) -> Result<Self> {
        config.validate()?;
        check_vocab_size(vocab_size)?;
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            vocab_size,
            candidates: Vec::with_capacity(vocab_size),
        })
    }

    /// The current settings.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// The vocabulary size the logits must match.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Replaces the settings. The RNG stream continues; call [`Self::reset`]
    /// to restart it from the new `seed`.
    pub fn set_config(&mut self, config: SamplerConfig) -> Result<()> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// Restarts the RNG from `seed` (the config's seed is left unchanged).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    /// Restarts the RNG from the config's seed, so the next tokens replay the
    /// session from its start.
    pub fn reset(&mut self) {
        self.reseed(self.config.seed);
    }

    /// Picks the next token from `logits` `(vocab_size,)`, penalizing the
    /// tail of `recent_tokens` (oldest first). Allocates nothing.
    ///
    /// Errors: `logits.len() != vocab_size` or every logit NaN/`-inf`
    /// ([`ModelError::InvalidSetting`] naming `logits`), a penalized token
    /// `≥ vocab_size` ([`ModelError::TokenOutOfRange`]).
    pub fn sample(&mut self, logits: &[f32], recent_tokens: &[u32]) -> Result<u32> {
        self.filter(logits, recent_tokens)?;
        if self.config.is_greedy() {
            return Ok(self.candidates[0].id);
        }
        let u = uniform_f64(&mut self.rng);
        Ok(draw(&self.candidates, u))
    }

    /// Runs every step of [`Self::sample`] but the draw, and returns the
    /// candidates it would draw from with their weights (one candidate on the
    /// greedy path). Consumes no random number. Same errors as `sample`.
    ///
    /// The order is canonical: id order, or descending logit (ties by id)
    /// when top-k or top-p sorted them.
    pub fn filter(&mut self, logits: &[f32], recent_tokens: &[u32]) -> Result<&[Candidate]> {
        self.check_logits_len(logits)?;
        let config = &self.config;
        let candidates = &mut self.candidates;
        load_penalized_logits(candidates, logits, recent_tokens, config)?;
        if config.is_greedy() {
            keep_argmax(candidates)?;
            return Ok(candidates);
        }
        let max_logit = apply_temperature_and_drop_masked(candidates, config.temperature)?;
        let sorted = keep_top_k(candidates, config.top_k);
        let total_weight = set_weights(candidates, max_logit);
        keep_min_p(candidates, config.min_p);
        keep_top_p(candidates, config.top_p, total_weight, sorted);
        Ok(candidates)
    }

    fn check_logits_len(&self, logits: &[f32]) -> Result<()> {
        if logits.len() == self.vocab_size {
            return Ok(());
        }
        Err(invalid(
            "logits",
            format!(
                "length {} does not match the vocabulary size {}",
                logits.len(),
                self.vocab_size
            ),
        ))
    }
}

fn check_vocab_size(vocab_size: usize) -> Result<()> {
    let max = u32::MAX as usize;
    if vocab_size == 0 || vocab_size > max {
        return Err(invalid(
            "vocab_size",
            format!("must be in 1..={max} (token ids are u32), got {vocab_size}"),
        ));
    }
    Ok(())
}

/// Reads NaN as `-inf`, so a NaN token is never chosen.
fn sanitize(logit: f32) -> f32 {
    if logit.is_nan() {
        f32::NEG_INFINITY
    } else {
        logit
    }
}

/// CTRL penalty as HF applies it: positive logits shrink, negative ones grow.
fn penalize(logit: f32, penalty: f32) -> f32 {
    if logit < 0.0 {
        logit * penalty
    } else {
        logit / penalty
    }
}

/// Fills `candidates` with every token `(vocab_size,)`, its logit sanitized
/// and, for the tokens in the penalty window, penalized once (the penalty is
/// recomputed from the original logit, so repeats do not compound).
fn load_penalized_logits(
    candidates: &mut Vec<Candidate>,
    logits: &[f32],
    recent_tokens: &[u32],
    config: &SamplerConfig,
) -> Result<()> {
    candidates.clear();
    candidates.extend(logits.iter().enumerate().map(|(id, &logit)| Candidate {
        id: id as u32,
        logit: sanitize(logit),
        weight: 1.0,
    }));
    let window_start = recent_tokens.len().saturating_sub(config.repetition_window);
    for &token in &recent_tokens[window_start..] {
        let Some(&logit) = logits.get(token as usize) else {
            return Err(ModelError::TokenOutOfRange {
                token,
                vocab_size: logits.len(),
            });
        };
        let penalized = penalize(sanitize(logit), config.repetition_penalty);
        candidates[token as usize].logit = penalized;
    }
    Ok(())
}

/// Leaves only the argmax (ties → lowest id). Errors if every logit is `-inf`.
fn keep_argmax(candidates: &mut Vec<Candidate>) -> Result<()> {
    let mut best = candidates[0];
    for &candidate in &candidates[1..] {
        if candidate.logit > best.logit {
            best = candidate;
        }
    }
    if best.logit == f32::NEG_INFINITY {
        return Err(all_masked());
    }
    candidates.clear();
    candidates.push(best);
    Ok(())
}

fn all_masked() -> ModelError {
    invalid(
        "logits",
        "every logit is NaN or -inf: no token can be sampled".to_string(),
    )
}

/// Divides the logits by `temperature`, drops `-inf` tokens and returns the
/// largest logit. If it is `+inf`, only the `+inf` tokens stay.
fn apply_temperature_and_drop_masked(
    candidates: &mut Vec<Candidate>,
    temperature: f32,
) -> Result<f32> {
    let mut max_logit = f32::NEG_INFINITY;
    candidates.retain_mut(|candidate| {
        candidate.logit /= temperature;
        max_logit = max_logit.max(candidate.logit);
        candidate.logit > f32::NEG_INFINITY
    });
    if candidates.is_empty() {
        return Err(all_masked());
    }
    if max_logit == f32::INFINITY {
        candidates.retain(|candidate| candidate.logit == f32::INFINITY);
    }
    Ok(max_logit)
}

/// Descending logit, ties by ascending id: a strict total order, so every
/// selection and sort below has one possible result.
fn by_rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Keeps the `top_k` best candidates, sorted by rank; returns whether the
/// candidates are now sorted. `O(n)` average selection, `O(k log k)` sort.
fn keep_top_k(candidates: &mut Vec<Candidate>, top_k: usize) -> bool {
    if top_k == 0 || top_k >= candidates.len() {
        return false;
    }
    candidates.select_nth_unstable_by(top_k - 1, by_rank);
    candidates.truncate(top_k);
    candidates.sort_unstable_by(by_rank);
    true
}

/// Sets each weight to `exp(logit − max_logit)` and returns their sum.
fn set_weights(candidates: &mut [Candidate], max_logit: f32) -> f64 {
    let mut total = 0.0;
    for candidate in candidates {
        candidate.weight = if candidate.logit == max_logit {
            1.0
        } else {
            exp_nonpositive(f64::from(candidate.logit) - f64::from(max_logit))
        };
        total += candidate.weight;
    }
    total
}

/// Drops candidates whose probability is below `min_p · p_max` (weights are
/// already relative to the best token).
fn keep_min_p(candidates: &mut Vec<Candidate>, min_p: f32) {
    if min_p > 0.0 {
        let threshold = f64::from(min_p);
        candidates.retain(|candidate| candidate.weight >= threshold);
    }
}

/// Keeps the nucleus: the shortest prefix in rank order whose weight reaches
/// `top_p · total_weight` (`total_weight` measured before min-p).
fn keep_top_p(candidates: &mut Vec<Candidate>, top_p: f32, total_weight: f64, sorted: bool) {
    if top_p >= 1.0 {
        return;
    }
    let target = f64::from(top_p) * total_weight;
    let len = if sorted {
        sorted_prefix_reaching(candidates, target)
    } else {
        select_prefix_reaching(candidates, target)
    };
    candidates.truncate(len);
}

/// Length of the shortest prefix of rank-sorted `candidates` whose weight
/// reaches `target` (all of them if rounding keeps it short).
fn sorted_prefix_reaching(candidates: &[Candidate], target: f64) -> usize {
    let mut mass = 0.0;
    for (i, candidate) in candidates.iter().enumerate() {
        mass += candidate.weight;
        if mass >= target {
            return i + 1;
        }
    }
    candidates.len()
}

/// Like [`sorted_prefix_reaching`] for unsorted candidates, sorting only what
/// it needs: it moves the next best chunk (64, then 4× larger each round) to
/// the front with an `O(n)` selection, sorts that chunk, and stops inside the
/// chunk where the mass reaches `target`. The returned prefix is rank-sorted.
fn select_prefix_reaching(candidates: &mut [Candidate], target: f64) -> usize {
    const FIRST_CHUNK: usize = 64;
    let mut sorted_len = 0;
    let mut chunk = FIRST_CHUNK;
    let mut mass = 0.0;
    while sorted_len < candidates.len() {
        let rest = &mut candidates[sorted_len..];
        let take = chunk.min(rest.len());
        if take < rest.len() {
            rest.select_nth_unstable_by(take - 1, by_rank);
        }
        let block = &mut rest[..take];
        block.sort_unstable_by(by_rank);
        for (i, candidate) in block.iter().enumerate() {
            mass += candidate.weight;
            if mass >= target {
                return sorted_len + i + 1;
            }
        }
        sorted_len += take;
        chunk = chunk.saturating_mul(4);
    }
    candidates.len()
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of one `u64`, so the
/// mapping from the RNG stream is fixed by this crate, not by `rand`.
fn uniform_f64(rng: &mut ChaCha8Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// The candidate where the cumulative weight first exceeds `u · Σw`
/// (`u ∈ [0, 1)`). If rounding leaves the scaled `u` at `Σw`, the last
/// candidate with positive weight is taken.
fn draw(candidates: &[Candidate], u: f64) -> u32 {
    let total: f64 = candidates.iter().map(|c| c.weight).sum();
    let threshold = u * total;
    let mut cumulative = 0.0;
    let mut last_positive = candidates[0].id;
    for candidate in candidates {
        cumulative += candidate.weight;
        if candidate.weight > 0.0 {
            last_positive = candidate.id;
        }
        if cumulative > threshold {
            return candidate.id;
        }
    }
    last_positive
}

/// `e^d` for `d ≤ 0`, relative error below 1e-14, from IEEE `+`, `×`, `round`
/// and exact bit operations only, so it gives the same bits on every machine
/// (the platform's libm `exp` need not).
///
/// `e^d = 2^n · e^r` with `n = round(d·log₂e)` and `r = d − n·ln2`, computed
/// with a two-part `ln 2` whose high part has enough trailing zero bits for
/// `n·LN2_HI` to be exact (`|r| ≤ ln2/2`); `e^r` is its Taylor polynomial of
/// degree 11 (truncation `< 0.347¹²/12! · e^0.347 ≈ 9e-15`). Below `d = −700`
/// (`e^d < 1e-304`, nothing next to the best token's weight 1) it returns 0.
fn exp_nonpositive(d: f64) -> f64 {
    // ln 2 = LN2_HI + LN2_LO; LN2_HI keeps 21 zero low bits, so n·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const INV_FACTORIALS: [f64; 12] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
    ];
    if d.is_nan() || d < -700.0 {
        return 0.0;
    }
    let n = (d * std::f64::consts::LOG2_E).round();
    let r = (d - n * LN2_HI) - n * LN2_LO;
    let exp_r = INV_FACTORIALS
        .iter()
        .rev()
        .fold(0.0, |acc, &coefficient| acc * r + coefficient);
    // n ∈ [−1010, 0]: 2^n is a normal number built from its exponent bits.
    let two_pow_n = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    exp_r * two_pow_n
}

/// Why a generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token (end of sequence, end of turn, …) was generated.
    StopToken(u32),
    /// `max_new_tokens` tokens were generated.
    MaxTokens,
}

/// When to end a generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopCriteria {
    /// Tokens that end the generation (e.g. EOS).
    pub stop_tokens: Vec<u32>,
    /// The most tokens to generate.
    pub max_new_tokens: usize,
}

impl StopCriteria {
    /// Checks the token just generated; `generated_count` counts it. A stop
    /// token wins over the length limit when both apply.
    pub fn should_stop(&self, token: u32, generated_count: usize) -> Option<StopReason> {
        if self.stop_tokens.contains(&token) {
            Some(StopReason::StopToken(token))
        } else if generated_count >= self.max_new_tokens {
            Some(StopReason::MaxTokens)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error bound of [`exp_nonpositive`] against the platform `exp`
    /// (itself within an ulp or so).
    const EXP_REL_TOL: f64 = 1e-13;

    #[test]
    fn exp_nonpositive_matches_std() {
        let mut d = 0.0_f64;
        while d > -700.0 {
            let expected = d.exp();
            let got = exp_nonpositive(d);
            assert!(
                ((got - expected) / expected).abs() < EXP_REL_TOL,
                "exp({d}) = {got}, expected {expected}"
            );
            d -= 0.013_7;
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        assert_eq!(exp_nonpositive(-800.0), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn chunked_nucleus_equals_sorted_nucleus() {
        let candidates: Vec<Candidate> = (0..5_000u32)
            .map(|id| {
                let logit = ((id * 7_919) % 1_000) as f32 / 100.0;
                Candidate {
                    id,
                    logit,
                    weight: exp_nonpositive(f64::from(logit) - 9.99),
                }
            })
            .collect();
        let total: f64 = candidates.iter().map(|c| c.weight).sum();
        let mut sorted = candidates.clone();
        sorted.sort_by(by_rank);
        for top_p in [0.01, 0.3, 0.9, 0.999, 0.999_999] {
            let target = top_p * total;
            let mut chunked = candidates.clone();
            let len = select_prefix_reaching(&mut chunked, target);
            assert_eq!(len, sorted_prefix_reaching(&sorted, target));
            assert_eq!(chunked[..len], sorted[..len]);
        }
    }

    #[test]
    fn draw_falls_back_to_last_positive_weight() {
        let candidates = [
            Candidate {
                id: 3,
                logit: 0.0,
                weight: 1.0,
            },
            Candidate {
                id: 5,
                logit: -800.0,
                weight: 0.0,
            },
        ];
        assert_eq!(draw(&candidates, 0.0), 3);
        assert_eq!(draw(&candidates, 1.0), 3);
    }
}
