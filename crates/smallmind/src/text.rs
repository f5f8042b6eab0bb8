//! Text in, text out: [`TextSession`] encodes a prompt (or renders a chat), runs the token
//! layer's [`Generation`] and streams the decoded text as [`TextGeneration`] pieces, ending on
//! the model's end-of-generation tokens, the token limit, a full KV cache or a stop string.
//!
//! # Pieces
//! A piece is the text that became final since the previous one: whole characters only (a
//! character split across tokens waits for the token that completes it), control tokens left
//! out, and nothing that could still turn out to be the start of a stop string (that waits
//! until it is decided). A stop string is cut exactly, with everything after it, whichever
//! tokens it spans.
//!
//! # Allocation
//! [`TextGeneration::next_piece`] lends each piece from a buffer the session keeps, so once the
//! buffers have grown a token costs no allocation beyond what the token layer makes (nothing,
//! inside [`TextSession::install`]); `tests/text_alloc.rs` checks it. The [`Iterator`] form
//! yields owned `String`s: one allocation per non-empty piece.
//!
//! # The KV cache across calls
//! A session remembers which tokens its KV cache holds. Each call keeps the longest prefix its
//! prompt shares with them and feeds only the rest, so a chat's next turn does not recompute
//! the conversation so far. The kept positions were computed by an earlier call, possibly in a
//! different chunking, so a reply can differ from a fresh session's by float rounding; call
//! [`TextSession::reset`] for a fresh start.

use smallmind_model::{
    FinishReason, Generation, GenerationStats, Sampler, SamplerConfig, Session, SessionOptions,
    StopCriteria,
};
use smallmind_tokenizer::ChatMessage;

use crate::error::{Error, Result};
use crate::load::{PieceDecoder, TextModel};
use crate::stop::StopStrings;

/// What one generation call does: its token limit, stop strings and tokens, and sampling.
///
/// ```
/// use smallmind::GenerateOptions;
///
/// let options = GenerateOptions::default().max_tokens(64).stop(["\n\n"]).temperature(0.0);
/// assert_eq!(options.max_tokens, 64);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// The most tokens to generate (default 256).
    pub max_tokens: usize,
    /// Text that ends the generation; it and everything after it are cut (default none).
    pub stop: Vec<String>,
    /// Tokens that end the generation; `None` (the default) means the model's
    /// [`crate::GenerationDefaults::stop_tokens`].
    pub stop_tokens: Option<Vec<u32>>,
    /// Sampling settings. The default samples from the model's own distribution (temperature
    /// 1, no filters, seed 0); [`GenerateOptions::temperature`]`(0.0)` is greedy.
    pub sampling: SamplerConfig,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            stop: Vec::new(),
            stop_tokens: None,
            sampling: SamplerConfig::default(),
        }
    }
}

impl GenerateOptions {
    /// Sets the token limit.
    pub fn max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Sets the stop strings (replacing any).
    pub fn stop<S: Into<String>>(mut self, stop: impl IntoIterator<Item = S>) -> Self {
        self.stop = stop.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the stop tokens, replacing the model's end-of-generation tokens.
    pub fn stop_tokens(mut self, tokens: impl IntoIterator<Item = u32>) -> Self {
        self.stop_tokens = Some(tokens.into_iter().collect());
        self
    }

    /// Sets every sampling setting.
    pub fn sampling(mut self, sampling: SamplerConfig) -> Self {
        self.sampling = sampling;
        self
    }

    /// Sets the temperature; 0 is greedy.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.sampling.temperature = temperature;
        self
    }

    /// Keeps only the `k` most likely tokens (0: off).
    pub fn top_k(mut self, k: usize) -> Self {
        self.sampling.top_k = k;
        self
    }

    /// Nucleus sampling mass (1: off).
    pub fn top_p(mut self, p: f32) -> Self {
        self.sampling.top_p = p;
        self
    }

    /// Drops tokens below `p` times the top probability (0: off).
    pub fn min_p(mut self, p: f32) -> Self {
        self.sampling.min_p = p;
        self
    }

    /// Repetition penalty (1: off).
    pub fn repetition_penalty(mut self, penalty: f32) -> Self {
        self.sampling.repetition_penalty = penalty;
        self
    }

    /// The sampling seed; each call starts its random stream from it.
    pub fn seed(mut self, seed: u64) -> Self {
        self.sampling.seed = seed;
        self
    }
}

/// One conversation with a [`TextModel`]: a [`Session`] (KV cache, buffers, thread pool), a
/// sampler, and the text buffers of the stream. Made by [`TextModel::session`].
#[derive(Debug)]
pub struct TextSession {
    model: TextModel,
    session: Session,
    sampler: Sampler,
    /// Tokens fed or generated in order; the KV cache holds the first `session.position()`.
    fed: Vec<u32>,
    /// This call's prompt tokens.
    prompt: Vec<u32>,
    /// Decoded text not yet emitted: it may be the start of a stop string.
    undecided: String,
    /// The piece [`TextGeneration::next_piece`] lends out.
    piece: String,
}

impl TextSession {
    /// A session over `model`'s shared weights.
    ///
    /// # Errors
    /// Those of [`Session::new`] and [`Sampler::new`].
    pub fn new(model: TextModel, options: &SessionOptions) -> Result<TextSession> {
        let session = Session::new(model.model().clone(), options)?;
        let vocab_size = model.model().config().vocab_size;
        let sampler = Sampler::new(SamplerConfig::default(), vocab_size)?;
        Ok(TextSession {
            model,
            session,
            sampler,
            fed: Vec::new(),
            prompt: Vec::new(),
            undecided: String::with_capacity(256),
            piece: String::with_capacity(256),
        })
    }

    /// The model.
    pub fn model(&self) -> &TextModel {
        &self.model
    }

    /// The token-level session (threads, capacity, position).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Forgets the conversation: the next call starts from an empty KV cache.
    pub fn reset(&mut self) {
        self.session.reset();
        self.fed.clear();
    }

    /// Runs `f` with the session's worker team as the calling thread's current team, so
    /// kernels `f` calls directly split over it too (see [`Session::install`]).
    pub fn install<R>(&mut self, f: impl FnOnce(&mut TextSession) -> R) -> R {
        let team = self.session.team().clone();
        team.install(|| f(self))
    }

    /// Streams the continuation of `prompt`, encoded with the model's BOS setting.
    ///
    /// ```no_run
    /// use smallmind::{GenerateOptions, SessionOptions};
    ///
    /// let model = smallmind::load("model.gguf")?;
    /// let mut session = model.session(&SessionOptions::default())?;
    /// let options = GenerateOptions::default().max_tokens(64).stop(["\n\n"]);
    /// for piece in session.generate("Once upon a time", &options)? {
    ///     print!("{}", piece?);
    /// }
    /// # Ok::<(), smallmind::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoTokenizer`], [`Error::EmptyPrompt`], [`Error::EmptyStopString`],
    /// [`Error::PromptTooLong`], a sampling setting out of range ([`Error::Model`]), an
    /// encoding error. Errors while generating come from the stream.
    pub fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
    ) -> Result<TextGeneration<'_>> {
        let tokens = self.model.encode(prompt)?;
        self.prompt = tokens;
        self.start(options)
    }

    /// Streams the continuation of a prompt given as token ids.
    ///
    /// # Errors
    /// As [`TextSession::generate`].
    pub fn generate_from_tokens(
        &mut self,
        prompt: &[u32],
        options: &GenerateOptions,
    ) -> Result<TextGeneration<'_>> {
        self.model.require_codec()?;
        self.prompt.clear();
        self.prompt.extend_from_slice(prompt);
        self.start(options)
    }

    /// Streams the assistant's reply to a conversation, rendered with the model's chat
    /// template. Messages are `(role, content)` pairs or [`ChatMessage`]s.
    ///
    /// ```no_run
    /// # let model = smallmind::load("model.gguf")?;
    /// # let mut session = model.session(&Default::default())?;
    /// let options = smallmind::GenerateOptions::default().temperature(0.0);
    /// let reply = session.chat([("user", "What is the capital of France?")], &options)?;
    /// println!("{}", reply.complete()?.text);
    /// # Ok::<(), smallmind::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NoChatTemplate`] or an unrecognised template ([`Error::Tokenizer`]), and those
    /// of [`TextSession::generate`].
    pub fn chat<M: Into<ChatMessage>>(
        &mut self,
        messages: impl IntoIterator<Item = M>,
        options: &GenerateOptions,
    ) -> Result<TextGeneration<'_>> {
        let messages: Vec<ChatMessage> = messages.into_iter().map(Into::into).collect();
        self.prompt = self.model.chat_tokens(&messages)?;
        self.start(options)
    }

    /// Checks the request, rewinds the KV cache to the longest prefix of `self.prompt` it
    /// holds, and starts the token stream on the rest.
    fn start(&mut self, options: &GenerateOptions) -> Result<TextGeneration<'_>> {
        let stops = StopStrings::new(&options.stop)?;
        let prompt_len = self.prompt.len();
        if prompt_len == 0 {
            return Err(Error::EmptyPrompt);
        }
        let capacity = self.session.capacity();
        if prompt_len > capacity {
            return Err(Error::PromptTooLong {
                tokens: prompt_len,
                capacity,
            });
        }
        self.sampler.set_config(options.sampling.clone())?;
        self.sampler.reset();
        let keep = self.reusable_prefix();
        self.session.truncate(keep)?;
        self.fed.truncate(keep);
        self.fed.extend_from_slice(&self.prompt[keep..]);
        self.fed
            .reserve(options.max_tokens.min(capacity - prompt_len + 1));
        let stop = StopCriteria {
            stop_tokens: options
                .stop_tokens
                .clone()
                .unwrap_or_else(|| self.model.defaults().stop_tokens.clone()),
            max_new_tokens: options.max_tokens,
        };
        self.undecided.clear();
        let codec = self.model.require_codec()?;
        let tokens = Generation::new(
            &mut self.session,
            &mut self.sampler,
            stop,
            &self.prompt[keep..],
        )?;
        Ok(TextGeneration {
            tokens,
            decoder: codec.piece_decoder(),
            stops,
            generated_from: self.fed.len(),
            fed: &mut self.fed,
            undecided: &mut self.undecided,
            piece: &mut self.piece,
            finished: None,
        })
    }

    /// How many prompt tokens the KV cache already holds, keeping at least one to feed (a
    /// generation starts from the logits of its last prompt token).
    fn reusable_prefix(&mut self) -> usize {
        self.fed.truncate(self.session.position());
        let held = self
            .fed
            .iter()
            .zip(&self.prompt)
            .take_while(|(a, b)| a == b)
            .count();
        held.min(self.prompt.len() - 1)
    }
}

/// The stream of one generation call (see the module docs): [`TextGeneration::next_piece`]
/// lends each piece without allocating; as an [`Iterator`] it yields owned pieces.
#[derive(Debug)]
pub struct TextGeneration<'s> {
    tokens: Generation<'s>,
    decoder: PieceDecoder<'s>,
    stops: StopStrings,
    /// Where this call's generated tokens start in `fed`.
    generated_from: usize,
    fed: &'s mut Vec<u32>,
    undecided: &'s mut String,
    piece: &'s mut String,
    finished: Option<FinishReason>,
}

impl TextGeneration<'_> {
    /// The next piece of text, or `None` at the end; never an empty piece.
    ///
    /// # Errors
    /// A failed step of the model or sampler ([`Error::Model`]) or a sampled id the tokenizer
    /// does not know; the stream ends with [`FinishReason::Error`] then.
    pub fn next_piece(&mut self) -> Result<Option<&str>> {
        self.piece.clear();
        while self.piece.is_empty() && self.finished.is_none() {
            if let Err(e) = self.step() {
                self.finished = Some(FinishReason::Error);
                return Err(e);
            }
        }
        Ok((!self.piece.is_empty()).then_some(self.piece.as_str()))
    }

    /// Why the stream ended, once it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finished
    }

    /// The tokens generated so far (a stop token is not among them).
    pub fn generated_tokens(&self) -> &[u32] {
        &self.fed[self.generated_from..]
    }

    /// Timing so far (prefill, time to first token, decode); `generated_tokens` counts tokens,
    /// including those of a cut stop string.
    pub fn stats(&self) -> &GenerationStats {
        self.tokens.stats()
    }

    /// Runs to the end and returns the whole text with why it ended and the timing.
    ///
    /// # Errors
    /// As [`TextGeneration::next_piece`].
    pub fn complete(mut self) -> Result<Completion> {
        let mut text = String::new();
        while let Some(piece) = self.next_piece()? {
            text.push_str(piece);
        }
        Ok(Completion {
            text,
            finish_reason: self.finished.unwrap_or(FinishReason::Error),
            stats: *self.stats(),
        })
    }

    /// Feeds one token through the decoder and moves what became final into `piece`.
    fn step(&mut self) -> Result<()> {
        match self.tokens.next() {
            Some(token) => {
                let token = token?;
                self.fed.push(token);
                self.decoder.push(token, self.undecided)?;
                self.release(false);
            }
            None => {
                self.decoder.finish(self.undecided);
                self.finished = self.tokens.finish_reason();
                self.release(true);
            }
        }
        Ok(())
    }

    /// Moves the decided text from `undecided` to `piece`: up to a stop string (which ends the
    /// stream), else all but what could start one (all of it at the end).
    fn release(&mut self, at_end: bool) {
        if let Some(index) = self.stops.release(self.undecided, self.piece, at_end) {
            self.finished = Some(FinishReason::StopString(index));
        }
    }
}

impl Iterator for TextGeneration<'_> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        self.next_piece().map(|p| p.map(str::to_owned)).transpose()
    }
}

/// A finished generation: the text, why it ended, and the timing.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The generated text (a stop string and what followed it cut).
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Timing.
    pub stats: GenerationStats,
}

/// Token ids in, final text out, for a caller that runs the token loop itself (a server
/// stepping many sequences): the decoding and stop-string half of [`TextGeneration`], with
/// the same piece rules (see the module docs). Its buffers are its own and grow once.
///
/// ```
/// # fn demo(model: &smallmind::TextModel, tokens: &[u32]) -> smallmind::Result<()> {
/// let mut stream = smallmind::TextStream::new(model, &["\n\n".to_string()])?;
/// for &token in tokens {
///     print!("{}", stream.push(token)?);
///     if stream.stopped().is_some() {
///         break;
///     }
/// }
/// print!("{}", stream.finish());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TextStream<'m> {
    decoder: PieceDecoder<'m>,
    stops: StopStrings,
    undecided: String,
    piece: String,
    stopped: Option<usize>,
}

impl<'m> TextStream<'m> {
    /// A stream decoding `model`'s tokens and ending at the first of `stop`.
    ///
    /// # Errors
    /// [`Error::NoTokenizer`], [`Error::EmptyStopString`].
    pub fn new(model: &'m TextModel, stop: &[String]) -> Result<TextStream<'m>> {
        Ok(TextStream {
            decoder: model.require_codec()?.piece_decoder(),
            stops: StopStrings::new(stop)?,
            undecided: String::with_capacity(64),
            piece: String::with_capacity(64),
            stopped: None,
        })
    }

    /// Adds a generated token and returns the text that became final (possibly empty). Once a
    /// stop string has appeared ([`TextStream::stopped`]) nothing more is released.
    ///
    /// # Errors
    /// An id outside the vocabulary.
    pub fn push(&mut self, token: u32) -> Result<&str> {
        self.piece.clear();
        if self.stopped.is_none() {
            self.decoder.push(token, &mut self.undecided)?;
            self.stopped = self
                .stops
                .release(&mut self.undecided, &mut self.piece, false);
        }
        Ok(&self.piece)
    }

    /// Ends the stream (no more tokens): returns what was held back.
    pub fn finish(&mut self) -> &str {
        self.piece.clear();
        if self.stopped.is_none() {
            self.decoder.finish(&mut self.undecided);
            self.stopped = self
                .stops
                .release(&mut self.undecided, &mut self.piece, true);
        }
        &self.piece
    }

    /// The index of the stop string that ended the stream, once one has.
    pub fn stopped(&self) -> Option<usize> {
        self.stopped
    }
}
