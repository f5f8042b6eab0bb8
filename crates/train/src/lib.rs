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
//!
//! One training step with gradient accumulation over `k` micro-batches:
//!
//! ```no_run
//! # fn main() -> smallmind_train::Result<()> {
//! use smallmind_model::Preset;
//! use smallmind_train::Gpt2Trainer;
//!
//! let config = Preset::Small.config();
//! let (batch, context, k) = (8, 64, 2);
//! let mut trainer = Gpt2Trainer::new(&config, batch, context)?;
//! let params = vec![0.01f32; trainer.layout().len()];
//! let mut grads = vec![0.0f32; params.len()];
//! let micro_batches = vec![(vec![1u32; batch * context], vec![2u32; batch * context]); k];
//! grads.fill(0.0);
//! for (inputs, targets) in &micro_batches {
//!     let loss = trainer.forward(&params, inputs, targets)?;
//!     trainer.backward(&params, &mut grads, 1.0 / k as f32)?;
//!     println!("loss {loss}");
//! }
//! // ... clip `grads`, then the optimizer updates `params`.
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod params;

pub mod gpt2;
pub mod loss;
pub mod reference;

pub use error::{Result, TrainError};
pub use params::{ParamEntry, ParamLayout};

pub use gpt2::Gpt2Trainer;
pub use reference::gpt2_loss_ref;
