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
//! - [`error`] — [`TrainError`];
//! - [`optim`] — [`AdamW`] and [`clip_grad_norm`];
//! - [`schedule`] — [`LrSchedule`]: constant, cosine or step decay after a warmup;
//! - [`data`] — [`TextDataset`]: text files → char tokens → train/validation
//!   split → deterministic batches;
//! - [`checkpoint`] — [`Checkpoint`]: atomic save/load of parameters, optimizer
//!   and trainer state in Hugging Face GPT-2 format.
//!
//! How the pieces fit a training loop (the forward/backward pass, which
//! fills `grads`, is elided):
//!
//! ```no_run
//! use smallmind_model::{ModelConfig, Preset};
//! use smallmind_train::{
//!     AdamW, Batch, BatchSampler, Checkpoint, CheckpointView, LrSchedule, ParamLayout,
//!     TextDataset, TrainerState, clip_grad_norm,
//! };
//! # fn main() -> smallmind_train::Result<()> {
//! let data = TextDataset::load("data/tiny.txt", 0.1)?;
//! let config = ModelConfig {
//!     vocab_size: data.tokenizer().vocab_size(),
//!     ..Preset::Small.config()
//! };
//! let (batch_size, context, steps) = (8, config.max_position_embeddings, 2000);
//! data.check_context(context)?;
//! let layout = ParamLayout::gpt2(&config)?;
//! let mut params = vec![0.0f32; layout.len()]; // initialized by the trainer
//! let mut grads = vec![0.0f32; layout.len()];
//! let schedule = LrSchedule::parse("cosine", 1e-3, 100, steps)?;
//! let mut opt = AdamW::new(layout.len(), schedule.base_lr);
//! let mut state = TrainerState::new(42, schedule, batch_size, context, "data/tiny.txt");
//! let mut sampler = BatchSampler::new(state.seed);
//! let mut batch = Batch::new(batch_size, context);
//! let val = data.val_batches(batch_size, context, 20)?;
//! for step in 0..steps {
//!     data.next_train_batch(&mut sampler, &mut batch)?;
//!     // forward + backward over `batch` into `grads`...
//!     clip_grad_norm(&mut grads, 1.0);
//!     opt.step(&mut params, &grads, schedule.lr_at(step))?;
//! }
//! state.step = steps;
//! state.sampler = sampler.state();
//! let view = CheckpointView {
//!     config: &config,
//!     params: &params,
//!     optimizer: Some(&opt),
//!     tokenizer: Some(data.tokenizer()),
//!     state: Some(&state),
//! };
//! Checkpoint::save("out/ckpt", &view)?;
//! # let _ = val;
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod params;

pub use error::{Result, TrainError};
pub use params::{ParamEntry, ParamLayout};

// Optimizer, schedules, data and checkpoints.
pub mod checkpoint;
pub mod data;
pub mod optim;
pub mod schedule;

pub use checkpoint::{Checkpoint, CheckpointView, TrainerState};
pub use data::{Batch, BatchSampler, SamplerState, TextDataset};
pub use optim::{AdamW, clip_grad_norm, grad_norm};
pub use schedule::{Decay, LrSchedule};
