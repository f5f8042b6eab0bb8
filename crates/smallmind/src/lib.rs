//! # smallmind — fast CPU inference of small transformer language models
//!
//! The crate to start from. It loads any model the project runs in one call and streams text;
//! the layers it is built on are re-exported below for everything else.
//!
//! ```no_run
//! use smallmind::{GenerateOptions, SessionOptions};
//!
//! let model = smallmind::load("SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! let mut session = model.session(&SessionOptions::default())?;
//! let options = GenerateOptions::default().max_tokens(64).stop(["\n\n"]);
//! for piece in session.generate("Once upon a time", &options)? {
//!     print!("{}", piece?);
//! }
//! # Ok::<(), smallmind::Error>(())
//! ```
//!
//! - [`load`] takes a GGUF file, a Hugging Face directory, a `smallmind train` checkpoint or a
//!   preset name and returns a [`TextModel`]: the weights ([`Arc<Model>`](Model), shared), the
//!   [`Codec`] (BPE or char-level) and the [`GenerationDefaults`] (end-of-generation tokens,
//!   BOS, chat template).
//! - [`TextModel::session`] gives a [`TextSession`] (its own KV cache and thread pool; make one
//!   per thread over one model). [`TextSession::generate`] and [`TextSession::chat`] stream
//!   [`TextGeneration`] pieces, ending on end-of-generation tokens, `max_tokens`, a full cache
//!   or a stop string ([`GenerateOptions`]), and report a [`FinishReason`] and
//!   [`GenerationStats`]. [`TextStream`] is the decoding and stop-string half alone, for a
//!   caller that runs the token loop itself (the server).
//!
//! # Layers
//! Dependencies point down; each is its own crate, re-exported here:
//! [`train`] (training) and [`model`] (configs, loading, [`Session`], sampling, token
//! generation) on [`ops`] (layers) on [`tensor`] (storage) on [`kernels`] (SIMD), with
//! [`formats`] (GGUF) and [`tokenizer`] (BPE, char-level, chat templates) beside them.
//! `docs/architecture.md` draws the diagram.

mod error;
mod load;
mod stop;
mod text;

pub use error::{Error, Result};
pub use load::{Codec, GenerationDefaults, TextModel, load};
pub use text::{Completion, GenerateOptions, TextGeneration, TextSession, TextStream};

pub use smallmind_model::{
    ActivationPrecision, FinishReason, GenerationStats, Model, Preset, SamplerConfig, Session,
    SessionOptions,
};
pub use smallmind_tokenizer::{CharTokenizer, ChatMessage, ChatTemplate, Tokenizer};

/// The GGUF reader and writer (`smallmind-formats`).
pub use smallmind_formats as formats;
/// SIMD kernels over slices, dispatched at run time (`smallmind-kernels`).
pub use smallmind_kernels as kernels;
/// Models: configs, loaders, `Session`, sampling, token generation (`smallmind-model`).
pub use smallmind_model as model;
/// Layers over planned buffers: linear, attention, MLPs, norms (`smallmind-ops`).
pub use smallmind_ops as ops;
/// `Tensor` storage, views and the buffer pool (`smallmind-tensor`).
pub use smallmind_tensor as tensor;
/// Byte-level BPE, the char-level vocabulary, streaming decode, chat templates
/// (`smallmind-tokenizer`).
pub use smallmind_tokenizer as tokenizer;
/// Training GPT-2 style models on our kernels (`smallmind-train`).
pub use smallmind_train as train;
