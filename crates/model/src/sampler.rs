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
//!    repeated in the window is penalized once. Then the **presence and
//!    frequency penalties** (OpenAI's, in llama.cpp's form over the same
//!    window): a token seen `c > 0` times loses `c · frequency_penalty +
//!    presence_penalty` from its logit.
//! 3. **Greedy** if `temperature == 0`: the argmax, ties going to the lowest
//!    id. Top-k, top-p and min-p cannot remove the argmax, so they are skipped,
//!    and no random number is drawn.
//! 4. **Temperature:** every logit is divided by `temperature`. Tokens whose
//!    logit is `-inf` leave the candidate set here. If any logit is `+inf`, the
//!    `+inf` tokens are the candidates and share the mass equally.
//! 5. **Top-k:** keep the `top_k` highest logits (ties broken towards the
//!    lowest id).
//! 6. **Weights:** `w = exp(logit − max logit)`, so the best token weighs 1.
//!    A weight below `e^−87 ≈ 1.6e-38` is 0 and the token is dropped (it
//!    could not be drawn anyway).
//! 7. **Top-p** (nucleus sampling, Holtzman et al. 2019, "The Curious Case of
//!    Neural Text Degeneration"): keep the smallest set of highest-probability
//!    tokens whose probability mass (over the top-k survivors) is `≥ top_p`.
//! 8. **Min-p** (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for
//!    Creative and Coherent LLM Outputs"): drop tokens whose probability is
//!    below `min_p · p_max`, i.e. whose weight is below `min_p`.
//! 9. **Draw:** one uniform number `u ∈ [0, 1)` from the seeded RNG, and the
//!    first candidate whose cumulative weight exceeds `u · Σw`.
//!
//! Both top-p and min-p keep a prefix of the candidates in descending logit
//! order and the best token survives both, so applying both keeps the shorter
//! prefix. The sampler therefore runs the cheap min-p filter first, with
//! top-p's mass still measured over the top-k survivors; the result is the
//! set HF computes in the order top-p → min-p.
//!
//! # Layouts and cost
//! With `V` the vocabulary and `k` the top-k:
//! - **Greedy**, `O(V)`: a copy of the sanitized, penalized logits, their
//!   range over eight lanes, and a search for the first maximum.
//! - **Dense** (no top-k): the candidates stay in id order and a dropped token
//!   just gets weight 0, so nothing is moved or sorted. Copy, range, `exp`
//!   and min-p are vectorizable passes, `O(V)`. Top-p avoids an
//!   `O(V log V)` sort: one pass builds the probability mass per weight
//!   bucket (eight buckets per octave); walking the buckets from the top
//!   finds the one where the mass reaches `top_p`; tokens above it are in,
//!   tokens below it out, and only that boundary bucket's `b` tokens are
//!   sorted to place the cut: `O(V + b log b)`.
//! - **Ranked** (top-k): a candidate is one `u64` *rank key*, the logit's bits
//!   mapped to an unsigned integer of the same order in the high half and the
//!   complement of the id in the low half, so comparing keys compares logits
//!   with ties going to the lower id, as plain integer compares with a single
//!   possible result. `select_nth_unstable_by` on the keys finds the top `k`
//!   in `O(V)` on average, then `O(k log k)` sorts them; weights, min-p and
//!   the top-p prefix are `O(k)`.
//! - **Draw**, `O(V)` dense or `O(k)` ranked: blocked sums, then a scan of
//!   one block.
//!
//! Measured on this machine (Zen 5, one thread, `V = 49152`, shared with
//! other jobs): greedy 9–30 µs, temperature / min-p / top-k 40 about 60 µs,
//! top-p 0.9 about 100 µs per token.
//!
//! [`Sampler::new`] allocates three buffers of `V` entries (scores, keys,
//! weights); sampling then allocates nothing (`tests/sampler_alloc.rs`
//! proves it).
//!
//! # Reproducibility
//! The RNG is ChaCha8 ([`rand_chacha::ChaCha8Rng`]) seeded with
//! `seed_from_u64(seed)`, whose stream is specified and portable. Each
//! non-greedy draw consumes exactly one `u64`, turned into a uniform `f64`
//! by taking its top 53 bits; greedy draws nothing. Every other step is
//! IEEE-754 arithmetic in a fixed order: `exp` is our own (`exp_nonpositive`:
//! `+`, `×`, compares and bit operations, never fused, so a vectorized and a
//! scalar evaluation agree bit for bit, unlike the platform's libm), sums run
//! in a fixed blocked order over a canonical candidate order (id order, or
//! descending logit with ties by id), and no result depends on an unstable
//! selection's internal order. So the same seed, settings and logits give the
//! same tokens on every run and every machine (`tests/sampler.rs` pins two
//! token streams). [`Sampler::reset`] and [`Sampler::reseed`] restart the
//! stream to replay a session.

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
    /// Subtracted once from the logit of every token in the penalty window
    /// (OpenAI's `presence_penalty`). In `[-2, 2]`; `0` disables it.
    pub presence_penalty: f32,
    /// Subtracted from a token's logit once per occurrence in the penalty
    /// window (OpenAI's `frequency_penalty`). In `[-2, 2]`; `0` disables it.
    pub frequency_penalty: f32,
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
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
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
        for (name, value) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if !(-2.0..=2.0).contains(&value) {
                return Err(invalid(
                    name,
                    format!("must be in [-2, 2] (0 disables it), got {value}"),
                ));
            }
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
    /// Its unnormalized probability `exp(logit − max logit)`: the best token
    /// weighs 1, as does each token at `+inf`, and the only candidate on the
    /// greedy path.
    pub weight: f32,
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
    /// `(vocab_size,)` logits by id: sanitized, penalized, divided by the
    /// temperature.
    scores: Vec<f32>,
    /// `(n,)` rank keys of the candidates ([`rank_key`]) in the
    /// [`Layout::Ranked`] layout; capacity `vocab_size`, never exceeded, so it
    /// never reallocates.
    keys: Vec<u64>,
    /// The candidates' weights: `(vocab_size,)` by id ([`Layout::Dense`]) or
    /// `(n,)` aligned with `keys` ([`Layout::Ranked`]).
    weights: Vec<f32>,
    /// Where the last filtering left its candidates.
    layout: Layout,
    rng: ChaCha8Rng,
    /// Entered by [`Sampler::sample`] (see `crate::spans`).
    span: tracing::Span,
}

/// Where the filtered candidates are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// No top-k or top-p: every token in id order, `weights` by id, the
    /// dropped ones weighing 0. No keys are built, nothing is moved.
    Dense,
    /// `keys` and `weights` hold the candidates, in a canonical order.
    Ranked,
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
            scores: Vec::with_capacity(vocab_size),
            keys: Vec::with_capacity(vocab_size),
            weights: Vec::with_capacity(vocab_size),
            layout: Layout::Ranked,
            span: tracing::debug_span!("sample"),
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
    /// ([`ModelError::InvalidSetting`] naming `logits`), a token in the
    /// penalty window `≥ vocab_size` ([`ModelError::TokenOutOfRange`]).
    pub fn sample(&mut self, logits: &[f32], recent_tokens: &[u32]) -> Result<u32> {
        let _span = self.span.clone().entered();
        self.run_filters(logits, recent_tokens)?;
        if self.config.is_greedy() {
            return Ok(key_id(self.keys[0]));
        }
        let index = draw(&self.weights, uniform_f64(&mut self.rng));
        Ok(match self.layout {
            Layout::Dense => index as u32,
            Layout::Ranked => key_id(self.keys[index]),
        })
    }

    /// Runs every step of [`Self::sample`] but the draw and returns the
    /// candidates it would draw from (one on the greedy path). Consumes no
    /// random number. Same errors as `sample`.
    ///
    /// The order is the one the draw uses: id order without top-k,
    /// descending logit (ties by id) with it.
    pub fn filter(
        &mut self,
        logits: &[f32],
        recent_tokens: &[u32],
    ) -> Result<impl ExactSizeIterator<Item = Candidate> + '_> {
        self.run_filters(logits, recent_tokens)?;
        if self.layout == Layout::Dense {
            rank_dense(&self.scores, &mut self.keys, &mut self.weights);
            self.layout = Layout::Ranked;
        }
        let candidates = self.keys.iter().zip(&self.weights);
        Ok(candidates.map(|(&key, &weight)| Candidate {
            id: key_id(key),
            logit: key_logit(key),
            weight,
        }))
    }

    /// Leaves the final candidates in `weights` and, in the ranked layout,
    /// `keys`.
    fn run_filters(&mut self, logits: &[f32], recent_tokens: &[u32]) -> Result<()> {
        self.check_logits_len(logits)?;
        let config = &self.config;
        let (scores, keys, weights) = (&mut self.scores, &mut self.keys, &mut self.weights);
        let divisor = if config.is_greedy() {
            1.0
        } else {
            config.temperature
        };
        load_scores(scores, logits, divisor);
        for_each_penalized(logits, recent_tokens, config, |token, logit| {
            scores[token as usize] = logit / divisor;
        })?;
        let (min_score, max_score) = score_range(scores);
        if max_score == f32::NEG_INFINITY {
            return Err(invalid(
                "logits",
                "every logit is NaN or -inf: no token can be sampled".to_string(),
            ));
        }
        self.layout = Layout::Ranked;
        if config.is_greedy() {
            keep_argmax(scores, keys, weights, max_score);
        } else if config.top_k == 0 || config.top_k >= scores.len() {
            set_dense_weights(scores, weights, max_score);
            let total = total_weight(weights);
            zero_below_min_p(weights, config.min_p);
            if config.top_p < 1.0 {
                let target = f64::from(config.top_p) * total;
                keep_top_p_dense(scores, weights, keys, target);
            }
            self.layout = Layout::Dense;
        } else {
            load_keys(scores, keys, min_score, max_score);
            keep_top_k(keys, config.top_k);
            set_weights(keys, weights, max_score);
            let total = total_weight(weights);
            keep_min_p(keys, weights, config.min_p);
            if config.top_p < 1.0 {
                let target = f64::from(config.top_p) * total;
                keep_top_p_sorted(keys, weights, target);
            }
        }
        Ok(())
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

/// One integer that ranks a candidate: larger key ⇔ larger logit, or the
/// same logit and a lower id. The high half maps the logit's bits to an
/// unsigned integer of the same order ([`ordered_bits`]); `−0` is first
/// turned into `+0` so the two tie. The low half is `!id`. `logit` must not
/// be NaN. Branch-free, so the loops over keys vectorize.
#[inline(always)]
fn rank_key(id: u32, logit: f32) -> u64 {
    (u64::from(ordered_bits(logit + 0.0)) << 32) | u64::from(!id)
}

/// The logit's bits as an unsigned integer of the same order: a negative
/// float's bits all flipped, a positive one's sign bit set.
#[inline(always)]
fn ordered_bits(logit: f32) -> u32 {
    let bits = logit.to_bits();
    let negative = ((bits as i32) >> 31) as u32; // all ones if negative
    bits ^ (negative | 0x8000_0000)
}

/// Inverse of [`ordered_bits`].
#[inline(always)]
fn logit_of_ordered(ordered: u32) -> f32 {
    let positive = ((ordered as i32) >> 31) as u32; // all ones if positive
    f32::from_bits(ordered ^ (!positive | 0x8000_0000))
}

/// The logit a [`rank_key`] holds.
#[inline(always)]
fn key_logit(key: u64) -> f32 {
    logit_of_ordered((key >> 32) as u32)
}

/// The token id a [`rank_key`] holds.
#[inline(always)]
fn key_id(key: u64) -> u32 {
    !(key as u32)
}

/// Descending rank: the order of every selection and sort below.
fn descending(a: &u64, b: &u64) -> std::cmp::Ordering {
    b.cmp(a)
}

/// Reads NaN as `-inf`, so a NaN token is never chosen.
#[inline(always)]
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

/// Fills `scores` `(vocab_size,)` with the sanitized logits divided by
/// `divisor` (the temperature, or 1 when greedy).
fn load_scores(scores: &mut Vec<f32>, logits: &[f32], divisor: f32) {
    scores.clear();
    if divisor == 1.0 {
        scores.extend(logits.iter().map(|&logit| sanitize(logit)));
    } else {
        scores.extend(logits.iter().map(|&logit| sanitize(logit) / divisor));
    }
}

/// Calls `apply(token, penalized logit)` for each token in the penalty window
/// (the tail of `recent_tokens`): the CTRL penalty, then the presence and
/// frequency penalties (`logit − c · frequency − presence` for a token seen
/// `c` times, as llama.cpp's penalties sampler). The penalty is computed from
/// the original logit, so when `apply` overwrites a row indexed by id, a token
/// repeated in the window is penalized once. Errors on a token outside the
/// vocabulary.
fn for_each_penalized(
    logits: &[f32],
    recent_tokens: &[u32],
    config: &SamplerConfig,
    mut apply: impl FnMut(u32, f32),
) -> Result<()> {
    let window_start = recent_tokens.len().saturating_sub(config.repetition_window);
    let window = &recent_tokens[window_start..];
    let counted = config.presence_penalty != 0.0 || config.frequency_penalty != 0.0;
    for &token in window {
        let Some(&logit) = logits.get(token as usize) else {
            return Err(ModelError::TokenOutOfRange {
                token,
                vocab_size: logits.len(),
            });
        };
        let mut penalized = penalize(sanitize(logit), config.repetition_penalty);
        if counted {
            // O(window²) with the 64-token default window: cheaper than a count table.
            let count = window.iter().filter(|&&t| t == token).count();
            penalized -= count as f32 * config.frequency_penalty + config.presence_penalty;
        }
        apply(token, penalized);
    }
    Ok(())
}

/// The smallest and largest score (none NaN), over eight lanes so the loop
/// vectorizes (a float min/max through one accumulator does not).
fn score_range(scores: &[f32]) -> (f32, f32) {
    let mut lows = [f32::INFINITY; 8];
    let mut highs = [f32::NEG_INFINITY; 8];
    let chunks = scores.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for j in 0..8 {
            lows[j] = smaller(lows[j], chunk[j]);
            highs[j] = larger(highs[j], chunk[j]);
        }
    }
    let (mut low, mut high) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in lows.iter().chain(tail) {
        low = smaller(low, x);
    }
    for &x in highs.iter().chain(tail) {
        high = larger(high, x);
    }
    (low, high)
}

/// `min` as one compare and select (the `minps` pattern); no NaN here.
#[inline(always)]
fn smaller(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// `max` as one compare and select (the `maxps` pattern); no NaN here.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// Greedy: keeps the first token (the lowest id) whose score is the maximum.
fn keep_argmax(scores: &[f32], keys: &mut Vec<u64>, weights: &mut Vec<f32>, max_score: f32) {
    let id = scores.iter().position(|&x| x == max_score).unwrap_or(0);
    keys.clear();
    keys.push(rank_key(id as u32, max_score));
    weights.clear();
    weights.push(1.0);
}

/// The dense layout: `weights` `(vocab_size,)` by id, `exp(score − max)`
/// (the best token weighs 1). With a `+inf` maximum the `+inf` tokens weigh 1
/// and the others 0.
fn set_dense_weights(scores: &[f32], weights: &mut Vec<f32>, max_score: f32) {
    weights.resize(scores.len(), 0.0);
    if max_score == f32::INFINITY {
        for (w, &x) in weights.iter_mut().zip(scores) {
            *w = if x == f32::INFINITY { 1.0 } else { 0.0 };
        }
        return;
    }
    for (w, &x) in weights.iter_mut().zip(scores) {
        *w = exp_nonpositive(x - max_score);
    }
}

/// Dense min-p: zeroes the weights below `min_p` (weights are relative to
/// the best token, so this drops probabilities below `min_p · p_max`).
fn zero_below_min_p(weights: &mut [f32], min_p: f32) {
    if min_p > 0.0 {
        for w in weights {
            *w = if *w >= min_p { *w } else { 0.0 };
        }
    }
}

/// Mass-histogram buckets: a weight in `(0, 1]` goes to bucket
/// `bits >> BUCKET_SHIFT` (its exponent and top 3 mantissa bits, so eight
/// buckets per octave, higher bucket ⇔ higher weight).
const BUCKET_SHIFT: u32 = 20;
const BUCKETS: usize = (0x3f80_0000 >> BUCKET_SHIFT) + 1;

#[inline(always)]
fn bucket_of(weight: f32) -> usize {
    (weight.to_bits() >> BUCKET_SHIFT) as usize
}

/// Dense top-p without sorting the vocabulary: one pass builds the mass per
/// bucket (four interleaved histograms, so repeated buckets do not serialize
/// the adds); walking the buckets from the top finds the bucket where the
/// mass reaches `target`. Tokens above it are in the nucleus, tokens below it
/// out; only the boundary bucket's tokens are ranked (`keys` as scratch) and
/// cut where the mass reaches `target`. `O(V + b log b)`, `b` the boundary
/// bucket's size. Dropped tokens get weight 0.
fn keep_top_p_dense(scores: &[f32], weights: &mut [f32], keys: &mut Vec<u64>, target: f64) {
    let Some((boundary, mass_above)) = boundary_bucket(weights, target) else {
        return; // rounding kept the mass short of the target: keep everything
    };
    keys.clear();
    for (id, w) in weights.iter_mut().enumerate() {
        let bucket = bucket_of(*w);
        if bucket < boundary {
            *w = 0.0;
        } else if bucket == boundary {
            keys.push(rank_key(id as u32, scores[id]));
        }
    }
    keys.sort_unstable_by(descending);
    let mut mass = mass_above;
    let cut = keys.iter().position(|&key| {
        mass += f64::from(weights[key_id(key) as usize]);
        mass >= target
    });
    let cut = cut.map_or(keys.len(), |i| i + 1);
    for &key in &keys[cut..] {
        weights[key_id(key) as usize] = 0.0;
    }
}

/// The highest bucket at which the mass of it and every bucket above reaches
/// `target`, with the mass strictly above it; `None` if it never does.
fn boundary_bucket(weights: &[f32], target: f64) -> Option<(usize, f64)> {
    let mut histograms = [[0.0f64; BUCKETS]; 4];
    let chunks = weights.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (histogram, &w) in histograms.iter_mut().zip(chunk) {
            histogram[bucket_of(w)] += f64::from(w);
        }
    }
    for &w in tail {
        histograms[0][bucket_of(w)] += f64::from(w);
    }
    let mut mass_above = 0.0;
    for bucket in (0..BUCKETS).rev() {
        let mass: f64 = histograms.iter().map(|histogram| histogram[bucket]).sum();
        if mass_above + mass >= target {
            return Some((bucket, mass_above));
        }
        mass_above += mass;
    }
    None
}

/// Turns the dense layout into the ranked one: keys, in id order, for the
/// tokens of positive weight, and their weights moved to the front.
fn rank_dense(scores: &[f32], keys: &mut Vec<u64>, weights: &mut Vec<f32>) {
    keys.clear();
    let mut kept = 0;
    for id in 0..weights.len() {
        if weights[id] > 0.0 {
            keys.push(rank_key(id as u32, scores[id]));
            weights[kept] = weights[id];
            kept += 1;
        }
    }
    weights.truncate(kept);
}

/// Fills `keys` with the tokens that can be drawn, in id order: all of them,
/// except `-inf` ones, and only the `+inf` ones if the maximum is `+inf`.
fn load_keys(scores: &[f32], keys: &mut Vec<u64>, min_score: f32, max_score: f32) {
    keys.clear();
    let ranked = scores.iter().enumerate();
    let keyed = ranked.map(|(id, &x)| rank_key(id as u32, x));
    if max_score == f32::INFINITY {
        keys.extend(keyed.filter(|&key| key_logit(key) == f32::INFINITY));
    } else if min_score == f32::NEG_INFINITY {
        keys.extend(keyed.filter(|&key| key_logit(key) > f32::NEG_INFINITY));
    } else {
        keys.extend(keyed);
    }
}

/// Keeps the `top_k` best keys (`top_k > 0`), sorted by rank: `O(n)`
/// average selection, `O(k log k)` sort.
fn keep_top_k(keys: &mut Vec<u64>, top_k: usize) {
    if top_k < keys.len() {
        keys.select_nth_unstable_by(top_k - 1, descending);
        keys.truncate(top_k);
    }
    keys.sort_unstable_by(descending);
}

/// `exp(logit − max_logit)` of one key (exactly 1 for the best tokens).
/// `max_logit` must be finite: with `+inf`, every candidate weighs 1.
#[inline(always)]
fn weight_of(key: u64, max_logit: f32) -> f32 {
    exp_nonpositive(key_logit(key) - max_logit)
}

/// Fills `weights` `(n,)` with the weights of `keys` `(n,)`.
fn set_weights(keys: &[u64], weights: &mut Vec<f32>, max_logit: f32) {
    weights.resize(keys.len(), 0.0);
    if max_logit == f32::INFINITY {
        weights.fill(1.0); // only the +inf tokens are left
        return;
    }
    for (w, &key) in weights.iter_mut().zip(keys) {
        *w = weight_of(key, max_logit);
    }
}

/// Weights per block of the blocked sums: [`total_weight`] adds the blocks'
/// sums in order, and [`draw`] finds the block first, then the candidate.
const SUM_BLOCK: usize = 256;

/// `Σ weights` in f64, block by block ([`block_sum`]), in a fixed order.
fn total_weight(weights: &[f32]) -> f64 {
    weights.chunks(SUM_BLOCK).map(block_sum).sum()
}

/// The sum of one block in f64, over eight interleaved accumulators (lane
/// `j` takes the elements `≡ j mod 8`) added in lane order at the end.
fn block_sum(block: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = block.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &w) in lanes.iter_mut().zip(chunk) {
            *lane += f64::from(w);
        }
    }
    for (lane, &w) in lanes.iter_mut().zip(tail) {
        *lane += f64::from(w);
    }
    lanes.iter().sum()
}

/// Ranked min-p: drops candidates whose probability is below
/// `min_p · p_max` (weights are already relative to the best token) and those
/// whose weight underflowed to 0, keeping keys and weights aligned.
fn keep_min_p(keys: &mut Vec<u64>, weights: &mut Vec<f32>, min_p: f32) {
    let mut kept = 0;
    for i in 0..keys.len() {
        if weights[i] > 0.0 && weights[i] >= min_p {
            keys[kept] = keys[i];
            weights[kept] = weights[i];
            kept += 1;
        }
    }
    keys.truncate(kept);
    weights.truncate(kept);
}

/// Sorted top-p: keeps the shortest prefix of the rank-sorted candidates
/// whose weight reaches `target` (`top_p` times the mass before min-p).
fn keep_top_p_sorted(keys: &mut Vec<u64>, weights: &mut Vec<f32>, target: f64) {
    let mut mass = 0.0;
    let cut = weights.iter().position(|&w| {
        mass += f64::from(w);
        mass >= target
    });
    let len = cut.map_or(weights.len(), |i| i + 1);
    keys.truncate(len);
    weights.truncate(len);
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of one `u64`, so the
/// mapping from the RNG stream is fixed by this crate, not by `rand`.
fn uniform_f64(rng: &mut ChaCha8Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// The index where the cumulative weight first exceeds `u · Σw`
/// (`u ∈ [0, 1)`): the block whose running sum of block sums passes it, then
/// the candidate inside that block. If rounding leaves no candidate past it
/// (within the block, or overall), the last one with positive weight is taken.
fn draw(weights: &[f32], u: f64) -> usize {
    let threshold = u * total_weight(weights);
    let mut mass = 0.0;
    for (block_index, block) in weights.chunks(SUM_BLOCK).enumerate() {
        let block_mass = block_sum(block);
        if mass + block_mass > threshold {
            let start = block_index * SUM_BLOCK;
            let index = first_past(block, threshold, mass).unwrap_or(last_positive(block));
            return start + index;
        }
        mass += block_mass;
    }
    last_positive(weights)
}

/// The first index where `mass` plus the running sum of `weights` exceeds
/// `threshold`.
fn first_past(weights: &[f32], threshold: f64, mut mass: f64) -> Option<usize> {
    weights.iter().position(|&w| {
        mass += f64::from(w);
        mass > threshold
    })
}

/// The index of the last positive weight (0 if none).
fn last_positive(weights: &[f32]) -> usize {
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// `e^d` for `d ≤ 0` in f32, within 2e-7 relative (a few ulp) for
/// `d ≥ −87`; below that (`e^d < 1.6e-38`, and for `d = −inf`) it returns 0,
/// which drops the token. Built from `+`, `×`, compares and bit operations,
/// never fused, so it gives the same bits on every machine, vectorized or
/// not.
///
/// `e^d = 2^n · e^r` with `n = round(d·log₂e)` (rounded by adding
/// `1.5·2^23`, which leaves `n` in the low mantissa bits) and `r = d − n·ln2`
/// with a two-part `ln 2` whose high part has enough trailing zero bits for
/// `n·LN2_HI` to be exact (`|r| ≤ ln2/2`); `e^r` is its Taylor polynomial of degree 7 (truncation
/// `≤ 0.347⁸/8! · e^0.347 ≈ 7e-9`). `n ∈ [−126, 0]`, so `2^n` is a normal
/// number built from its exponent bits.
#[inline(always)]
fn exp_nonpositive(d: f32) -> f32 {
    const ROUND_SHIFTER: f32 = 12_582_912.0; // 1.5·2^23
    const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // 0.693145751953125, 9 zero low bits
    const LN2_LO: f32 = f32::from_bits(0x35bf_be8e); // ln 2 − LN2_HI
    const INV_FACTORIALS: [f32; 8] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
    ];
    let clamped = if d < -87.0 { -87.0 } else { d };
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND_SHIFTER;
    let n = shifted - ROUND_SHIFTER;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let mut exp_r = INV_FACTORIALS[7];
    for &coefficient in INV_FACTORIALS[..7].iter().rev() {
        exp_r = exp_r * r + coefficient;
    }
    // bits(shifted) = 0x4B40_0000 + n; shifting by 23 drops the constant.
    let two_pow_n = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    if d < -87.0 { 0.0 } else { exp_r * two_pow_n }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error bound of [`exp_nonpositive`] against the platform `exp`
    /// in f64, on `[−87, 0]`.
    const EXP_REL_TOL: f64 = 2e-7;

    #[test]
    fn exp_nonpositive_is_accurate() {
        let mut worst = 0.0f64;
        for i in 0..=870_000 {
            let d = -(i as f32) * 1e-4;
            let expected = f64::from(d).exp();
            let got = f64::from(exp_nonpositive(d));
            worst = worst.max(((got - expected) / expected).abs());
        }
        assert!(worst < EXP_REL_TOL, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        let smallest = exp_nonpositive(-87.0);
        assert!(smallest > 0.0 && smallest < 2e-38);
        assert_eq!(exp_nonpositive(-87.001), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn rank_keys_order_like_logits_then_ids() {
        let logits = [
            f32::NEG_INFINITY,
            -f32::MAX,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            1e-45,
            1.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for (i, &a) in logits.iter().enumerate() {
            assert_eq!(key_logit(rank_key(3, a)).to_bits(), (a + 0.0).to_bits());
            assert_eq!(key_id(rank_key(7, a)), 7);
            for &b in &logits[i..] {
                let (ka, kb) = (rank_key(5, a), rank_key(5, b));
                assert_eq!(ka.cmp(&kb), a.partial_cmp(&b).unwrap(), "{a} vs {b}");
            }
            assert!(rank_key(2, a) > rank_key(3, a), "ties go to the lower id");
        }
    }

    #[test]
    fn dense_nucleus_equals_sorted_nucleus() {
        let scores: Vec<f32> = (0..5_000u32)
            .map(|id| ((id * 7_919) % 1_000) as f32 / 100.0 - 9.99)
            .collect();
        let mut dense = Vec::new();
        set_dense_weights(&scores, &mut dense, 0.0);
        let total = total_weight(&dense);
        let mut ranked: Vec<u64> = (0..5_000)
            .map(|id| rank_key(id, scores[id as usize]))
            .collect();
        ranked.sort_unstable_by(descending);
        let mut ranked_weights = Vec::new();
        set_weights(&ranked, &mut ranked_weights, 0.0);
        for top_p in [0.001, 0.01, 0.3, 0.9, 0.999, 0.999_999] {
            let target = top_p * total;
            let mut weights = dense.clone();
            keep_top_p_dense(
                &scores,
                &mut weights,
                &mut Vec::with_capacity(5_000),
                target,
            );
            let mut kept: Vec<u32> = (0..5_000)
                .filter(|&id| weights[id as usize] > 0.0)
                .collect();
            let (mut keys, mut sorted_weights) = (ranked.clone(), ranked_weights.clone());
            keep_top_p_sorted(&mut keys, &mut sorted_weights, target);
            let mut expected: Vec<u32> = keys.iter().map(|&key| key_id(key)).collect();
            kept.sort_unstable();
            expected.sort_unstable();
            assert_eq!(kept, expected, "top_p {top_p}");
        }
    }

    #[test]
    fn draw_walks_blocks_and_falls_back_to_the_last_positive_weight() {
        let mut weights = vec![1.0f32; 1_000];
        weights[999] = 0.0;
        assert_eq!(draw(&weights, 0.0), 0);
        assert_eq!(draw(&weights, 0.5), 499);
        assert_eq!(draw(&weights, 600.5 / 999.0), 600);
        assert_eq!(draw(&weights, 1.0), 998);
    }
}
