//! # smallmind-train — training GPT-2 family models
//!
//! Sits on `smallmind-model` (configs, presets, checkpoints it can load) and
//! `smallmind-ops`/`smallmind-kernels` (the forward layers and the GEMMs the
//! backward passes reuse). The layout follows llm.c's `train_gpt2.c`: every
//! parameter lives in one flat `f32` buffer, described by a [`ParamLayout`]
//! in Hugging Face `GPT2LMHeadModel` names and `[in, out]` Conv1D layout, so
//! gradients, AdamW moments and checkpoints are all "one flat buffer plus the
//! same layout".
//!
//! - [`params`] — [`ParamLayout`]: names, shapes and offsets of the parameters;
//! - [`gpt2`] — [`Gpt2Trainer`]: the forward pass with saved activations and
//!   the explicit backward passes, over buffers planned once;
//! - [`loss`] — cross-entropy fused with softmax;
//! - [`mod@reference`] — [`gpt2_loss_ref`], a scalar f64 forward and loss (the
//!   oracle of the finite-difference tests);
//! - [`optim`] — [`AdamW`] and [`clip_grad_norm`];
//! - [`schedule`] — [`LrSchedule`]: constant, cosine or step decay after a warmup;
//! - [`data`] — [`TextDataset`]: text files → char tokens → train/validation
//!   split → deterministic batches;
//! - [`checkpoint`] — [`Checkpoint`]: atomic save/load of parameters, optimizer
//!   and trainer state in Hugging Face GPT-2 format;
//! - [`trainer`] — [`Trainer`]: the loop that ties them together (batches,
//!   forward/backward with accumulation, clipping, AdamW, validation, resume);
//! - [`sample`] — [`sample_text`]: text from a trained char-level model;
//! - [`error`] — [`TrainError`].
//!
//! A whole run, as `smallmind train` drives it:
//!
//! ```no_run
//! # fn main() -> smallmind_train::Result<()> {
//! use smallmind_model::{ModelConfig, Preset};
//! use smallmind_train::{LrSchedule, TextDataset, TrainSettings, Trainer, init_params};
//!
//! let data = TextDataset::load("input.txt", 0.1)?;
//! let config = ModelConfig {
//!     vocab_size: data.tokenizer().vocab_size(),
//!     ..Preset::Small.config()
//! };
//! let settings = TrainSettings {
//!     batch_size: 16,
//!     context: 64,
//!     grad_accum: 1,
//!     grad_clip: Some(1.0),
//!     schedule: LrSchedule::cosine(1e-3, 1e-4, 2000).with_warmup(100),
//!     weight_decay: 0.01,
//!     seed: 42,
//!     val_fraction: 0.1,
//!     val_batches: 16,
//! };
//! let mut trainer = Trainer::new(&config, init_params(&config, 42)?, &data, settings)?;
//! for _ in 0..2000 {
//!     trainer.step(&data)?;
//! }
//! println!("validation loss {:?}", trainer.validate()?);
//! trainer.save("checkpoints/run", &data)?;
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod gpt2;
pub mod loss;
pub mod optim;
pub mod params;
pub mod reference;
pub mod sample;
pub mod schedule;
pub mod trainer;

pub use checkpoint::{Checkpoint, CheckpointView, TrainerState};
pub use data::{Batch, BatchSampler, SamplerState, TextDataset};
pub use error::{Result, TrainError};
pub use gpt2::Gpt2Trainer;
pub use optim::{AdamW, clip_grad_norm, grad_norm};
pub use params::{ParamEntry, ParamLayout};
pub use reference::gpt2_loss_ref;
pub use sample::sample_text;
pub use schedule::{Decay, LrSchedule};
pub use trainer::{StepStats, TrainSettings, Trainer, init_params};
