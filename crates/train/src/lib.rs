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
