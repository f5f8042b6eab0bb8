//! Training text: loading, char tokens, a held-out split, deterministic batches.
//!
//! - **Loading** ([`TextDataset::load`]): a `.txt` file, or a directory whose
//!   `.txt` files (not recursive) are read in byte order of their names and
//!   concatenated as they are. Every file must be UTF-8.
//! - **Tokens**: a [`CharTokenizer`] built from the whole text (or given, when
//!   resuming with a checkpoint's vocabulary), one `u32` id per character.
//! - **Split**: the last `val_fraction` of the token stream (rounded to a
//!   whole token, default [`DEFAULT_VAL_FRACTION`]) is held out for
//!   validation; training never samples from it. This is a real split of the
//!   text, not a resample of the training tokens.
//! - **Training batches** ([`BatchSampler`]): each row is a window of `T + 1`
//!   tokens starting at a uniform random offset of the training split
//!   (`ChaCha8Rng` seeded by the user); inputs are its first `T` tokens,
//!   targets its last `T`. Batches are written into caller buffers
//!   (`B·T` ids each, row-major `(B, T)`); drawing one allocates nothing. The
//!   sampler's position ([`SamplerState`]) is saved in checkpoints so a
//!   resumed run draws the very batches the uninterrupted run would have.
//! - **Validation batches** ([`TextDataset::val_batches`]): a fixed list, the
//!   split cut into consecutive windows of `T + 1` tokens with stride `T`
//!   (so every validation token is a target exactly once), `B` per batch; the
//!   last batch wraps to the first windows when `B` does not divide their count.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use smallmind_tokenizer::CharTokenizer;

use crate::error::{Result, TrainError, check_len};

/// The fraction of the token stream held out for validation by default.
pub const DEFAULT_VAL_FRACTION: f32 = 0.1;

/// The extension of the files read from a data directory.
pub const TEXT_EXTENSION: &str = "txt";

/// A tokenized text corpus split into training and validation tokens.
#[derive(Clone, Debug)]
pub struct TextDataset {
    source: PathBuf,
    tokenizer: CharTokenizer,
    train: Vec<u32>,
    val: Vec<u32>,
}

impl TextDataset {
    /// Loads `path` (a `.txt` file or a directory of them), builds the char
    /// vocabulary from the whole text and splits off the last
    /// `val_fraction` of the tokens.
    ///
    /// # Errors
    /// [`TrainError::Io`] for unreadable paths, [`TrainError::Data`] for an
    /// empty file or text, a directory without `.txt` files, a non-UTF-8
    /// file; [`TrainError::InvalidSetting`] for a fraction outside `[0, 1)`.
    pub fn load(path: impl AsRef<Path>, val_fraction: f32) -> Result<Self> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let tokenizer = CharTokenizer::from_text(&text)?;
        Self::from_text(&text, path, tokenizer, val_fraction)
    }

    /// Loads `path` like [`TextDataset::load`] but encodes it with a given
    /// vocabulary (e.g. the one of the checkpoint being resumed).
    ///
    /// # Errors
    /// Those of [`TextDataset::load`], and [`TrainError::Tokenizer`] for a
    /// character the vocabulary lacks.
    pub fn load_with_tokenizer(
        path: impl AsRef<Path>,
        tokenizer: CharTokenizer,
        val_fraction: f32,
    ) -> Result<Self> {
        let path = path.as_ref();
        let text = read_text(path)?;
        Self::from_text(&text, path, tokenizer, val_fraction)
    }

    /// Tokenizes `text` (named `source` in errors) and splits it.
    ///
    /// # Errors
    /// [`TrainError::Data`] for an empty text, [`TrainError::Tokenizer`] for
    /// a character outside the vocabulary, [`TrainError::InvalidSetting`]
    /// for a fraction outside `[0, 1)`.
    pub fn from_text(
        text: &str,
        source: &Path,
        tokenizer: CharTokenizer,
        val_fraction: f32,
    ) -> Result<Self> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(TrainError::InvalidSetting {
                name: "val-fraction".into(),
                reason: format!("must lie in [0, 1), got {val_fraction}"),
            });
        }
        if text.is_empty() {
            return Err(data_error(source, "the text is empty".into()));
        }
        let mut tokens = tokenizer.encode(text)?;
        let val_len = split_len(tokens.len(), val_fraction);
        let val = tokens.split_off(tokens.len() - val_len);
        Ok(TextDataset {
            source: source.to_owned(),
            tokenizer,
            train: tokens,
            val,
        })
    }

    /// The file or directory the text came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The char vocabulary.
    pub fn tokenizer(&self) -> &CharTokenizer {
        &self.tokenizer
    }

    /// The training tokens (the first part of the stream).
    pub fn train_tokens(&self) -> &[u32] {
        &self.train
    }

    /// The validation tokens (the last part of the stream).
    pub fn val_tokens(&self) -> &[u32] {
        &self.val
    }

    /// Checks that both splits hold at least one window of `context + 1`
    /// tokens (the validation split only if it is not empty by choice).
    ///
    /// # Errors
    /// [`TrainError::Data`] naming the source, the split and both sizes.
    pub fn check_context(&self, context: usize) -> Result<()> {
        check_split(&self.source, "training", self.train.len(), context)?;
        if !self.val.is_empty() {
            check_split(&self.source, "validation", self.val.len(), context)?;
        }
        Ok(())
    }

    /// Draws the next training batch into `batch`; see [`BatchSampler::fill`].
    ///
    /// # Errors
    /// As [`BatchSampler::fill`].
    pub fn next_train_batch(&self, sampler: &mut BatchSampler, batch: &mut Batch) -> Result<()> {
        sampler
            .fill(
                &self.train,
                batch.batch_size,
                batch.context,
                &mut batch.inputs,
                &mut batch.targets,
            )
            .map_err(|e| self.name_source(e))
    }

    /// The fixed validation batches (see the module docs): at most
    /// `max_batches` of `batch_size` rows of `context` tokens. Empty when
    /// the validation split is empty (`val_fraction` 0).
    ///
    /// # Errors
    /// [`TrainError::Data`] if the split is shorter than `context + 1`
    /// tokens, [`TrainError::InvalidSetting`] for a zero batch or context.
    pub fn val_batches(
        &self,
        batch_size: usize,
        context: usize,
        max_batches: usize,
    ) -> Result<Vec<Batch>> {
        check_shape(batch_size, context)?;
        if self.val.is_empty() {
            return Ok(Vec::new());
        }
        check_split(&self.source, "validation", self.val.len(), context)?;
        let windows = (self.val.len() - 1) / context;
        let count = windows.div_ceil(batch_size).min(max_batches);
        let batches = (0..count)
            .map(|j| {
                let mut batch = Batch::new(batch_size, context);
                for row in 0..batch_size {
                    let start = ((j * batch_size + row) % windows) * context;
                    batch.set_row(row, &self.val[start..=start + context]);
                }
                batch
            })
            .collect();
        Ok(batches)
    }

    fn name_source(&self, error: TrainError) -> TrainError {
        match error {
            TrainError::Data { reason, .. } => data_error(&self.source, reason),
            other => other,
        }
    }
}

/// One batch: `B` rows of `T` input ids and the `T` target ids that follow
/// each input, row-major `(B, T)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Rows `B`.
    pub batch_size: usize,
    /// Tokens per row `T`.
    pub context: usize,
    /// Input ids `(B, T)`.
    pub inputs: Vec<u32>,
    /// Target ids `(B, T)`: `targets[b][t] = inputs[b][t + 1]` within the window.
    pub targets: Vec<u32>,
}

impl Batch {
    /// A zeroed batch of `batch_size × context`.
    pub fn new(batch_size: usize, context: usize) -> Self {
        let len = batch_size.saturating_mul(context);
        Batch {
            batch_size,
            context,
            inputs: vec![0; len],
            targets: vec![0; len],
        }
    }

    /// Writes one row from a window of `T + 1` tokens.
    fn set_row(&mut self, row: usize, window: &[u32]) {
        let t = self.context;
        self.inputs[row * t..(row + 1) * t].copy_from_slice(&window[..t]);
        self.targets[row * t..(row + 1) * t].copy_from_slice(&window[1..]);
    }
}

/// Draws training windows from a seeded `ChaCha8Rng`.
#[derive(Clone, Debug)]
pub struct BatchSampler {
    seed: u64,
    rng: ChaCha8Rng,
}

/// Where a [`BatchSampler`] is in its stream: enough to resume it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    /// The seed the stream started from.
    pub seed: u64,
    /// The ChaCha word position, as a decimal string (a `u128`, which JSON
    /// numbers cannot hold exactly).
    pub word_pos: String,
}

impl BatchSampler {
    /// A sampler at the start of the stream of `seed`.
    pub fn new(seed: u64) -> Self {
        BatchSampler {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The current position, for a checkpoint.
    pub fn state(&self) -> SamplerState {
        SamplerState {
            seed: self.seed,
            word_pos: self.rng.get_word_pos().to_string(),
        }
    }

    /// A sampler at a saved position.
    ///
    /// # Errors
    /// [`TrainError::InvalidSetting`] (`sampler`) if `word_pos` is not a `u128`.
    pub fn from_state(state: &SamplerState) -> Result<Self> {
        let pos: u128 = state
            .word_pos
            .parse()
            .map_err(|_| TrainError::InvalidSetting {
                name: "sampler".into(),
                reason: format!("word position `{}` is not a u128", state.word_pos),
            })?;
        let mut sampler = Self::new(state.seed);
        sampler.rng.set_word_pos(pos);
        Ok(sampler)
    }

    /// Fills `inputs` and `targets` (`batch_size × context` each, row-major)
    /// with `batch_size` random windows of `tokens`. Allocates nothing.
    ///
    /// # Errors
    /// [`TrainError::ShapeMismatch`] for buffers of the wrong length,
    /// [`TrainError::InvalidSetting`] for a zero batch or context,
    /// [`TrainError::Data`] if `tokens` is shorter than `context + 1`.
    pub fn fill(
        &mut self,
        tokens: &[u32],
        batch_size: usize,
        context: usize,
        inputs: &mut [u32],
        targets: &mut [u32],
    ) -> Result<()> {
        let len = check_shape(batch_size, context)?;
        check_len("batch inputs", len, inputs.len())?;
        check_len("batch targets", len, targets.len())?;
        check_split(Path::new("(tokens)"), "training", tokens.len(), context)?;
        let starts = (tokens.len() - context) as u64;
        let rows = inputs
            .chunks_exact_mut(context)
            .zip(targets.chunks_exact_mut(context));
        for (input, target) in rows {
            let start = usize::try_from(self.rng.random_range(0..starts)).unwrap_or(0);
            input.copy_from_slice(&tokens[start..start + context]);
            target.copy_from_slice(&tokens[start + 1..=start + context]);
        }
        Ok(())
    }
}

/// The number of validation tokens for a stream of `len` tokens.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]
fn split_len(len: usize, val_fraction: f32) -> usize {
    let val = (len as f64 * f64::from(val_fraction)).round() as usize;
    val.min(len)
}

/// Reads a `.txt` file, or the sorted `.txt` files of a directory, as one string.
fn read_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    let files = if meta.is_dir() {
        text_files(path)?
    } else {
        vec![path.to_owned()]
    };
    let mut text = String::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| io_error(file, source))?;
        if bytes.is_empty() {
            return Err(data_error(file, "the file is empty".into()));
        }
        let part = std::str::from_utf8(&bytes).map_err(|e| {
            data_error(
                file,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
        })?;
        text.push_str(part);
    }
    Ok(text)
}

/// The `.txt` files directly in `dir`, sorted by name.
fn text_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| io_error(dir, source))?.path();
        let is_text = path.extension().is_some_and(|ext| ext == TEXT_EXTENSION);
        if is_text && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(data_error(
            dir,
            format!("the directory holds no .{TEXT_EXTENSION} files"),
        ));
    }
    files.sort();
    Ok(files)
}

fn check_split(source: &Path, split: &str, len: usize, context: usize) -> Result<()> {
    if len > context {
        return Ok(());
    }
    Err(data_error(
        source,
        format!(
            "the {split} split has {len} tokens, fewer than the {} a window of context {context} \
             needs (use a longer text, a shorter context or another validation fraction)",
            context + 1
        ),
    ))
}

/// Checks a batch shape; returns its token count `batch_size · context`.
fn check_shape(batch_size: usize, context: usize) -> Result<usize> {
    match batch_size.checked_mul(context) {
        Some(len) if len > 0 => Ok(len),
        _ => Err(TrainError::InvalidSetting {
            name: "batch".into(),
            reason: format!(
                "batch size {batch_size} × context {context} must be ≥ 1 and fit usize"
            ),
        }),
    }
}

fn data_error(path: &Path, reason: String) -> TrainError {
    TrainError::Data {
        path: path.to_owned(),
        reason,
    }
}

fn io_error(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_owned(),
        source,
    }
}
