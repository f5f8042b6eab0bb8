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
//! - [`gpt2`] — [`Gpt2Trainer`]: the forward pass with saved activations and
//!   the explicit backward passes, over buffers planned once;
//! - [`loss`] — cross-entropy fused with softmax;
//! - [`mod@reference`] — [`gpt2_loss_ref`], a scalar f64 forward and loss (the
//!   oracle of the finite-difference tests).

pub mod error;
pub mod params;

pub mod gpt2;
pub mod loss;
pub mod reference;

pub use error::{Result, TrainError};
pub use params::{ParamEntry, ParamLayout};

pub use gpt2::Gpt2Trainer;
pub use reference::gpt2_loss_ref;
