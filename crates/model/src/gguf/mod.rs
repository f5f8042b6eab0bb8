//! Loading GGUF files of the registered families (the single-file format of
//! llama.cpp) into a [`Model`], and their tokenizer into a [`Tokenizer`].
//!
//! The file is parsed and validated by `smallmind-formats` (every offset,
//! count and size checked) and memory-mapped **once**: the map is shared, as
//! [`SharedBytes`], by the parsed [`GgufFile`] and by every weight tensor
//! that stays in it.
//!
//! - [`ModelConfig::from_gguf`] ([`config`](mod@config)): the `{arch}.*` keys.
//! - [`names`]: llama.cpp tensor names → Hugging Face names, so that
//!   [`Model::from_tensors`] checks and arranges GGUF weights exactly as it
//!   does safetensors checkpoints.
//! - [`tensors`]: tensor bytes → [`smallmind_tensor::Tensor`]. F32, F16,
//!   BF16 and the ggml block types Q8_0, Q4_0, Q4_1, Q4_K and Q6_K stay in the
//!   map (zero copy when aligned for their type; GGUF aligns tensor data to
//!   `general.alignment`, 32 by default) and the layers read them in place
//!   (the `quant` kernels of `smallmind-kernels` for the block types); the Q
//!   and K projections are copied once with llama.cpp's RoPE row permutation
//!   undone. Any other type (Q5_0, Q5_K, IQ*, ...) is
//!   [`ModelError::UnsupportedDType`] naming the first such tensor.
//! - [`tokenizer`](mod@tokenizer): `tokenizer.ggml.*` → [`Tokenizer`].
//!
//! ```no_run
//! use smallmind_model::gguf;
//! # fn main() -> smallmind_model::Result<()> {
//! let file = gguf::open("SmolLM2-135M-Instruct-f16.gguf")?;
//! let model = gguf::model_from_gguf(&file)?;
//! let tokenizer = gguf::load_tokenizer(file.file())?;
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod names;
pub mod tensors;
pub mod tokenizer;

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::MmapOptions;
use smallmind_formats::gguf::GgufFile;
use smallmind_tensor::MapSource;
use smallmind_tokenizer::Tokenizer;

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::weights::Model;

pub use tokenizer::{load_tokenizer, tokenizer_from_metadata};

/// The bytes of a GGUF file, shared (reference-counted) between the parsed
/// [`GgufFile`] and the tensors that borrow them, so the file is mapped
/// once and lives as long as any weight in it.
#[derive(Clone)]
pub struct SharedBytes(MapSource);

impl SharedBytes {
    /// Shares `bytes` (a memory map, a `Vec<u8>`, ...).
    pub fn new(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> SharedBytes {
        SharedBytes(Arc::new(bytes))
    }

    /// The shared source, for [`smallmind_tensor::Tensor::from_mapped`].
    pub fn source(&self) -> &MapSource {
        &self.0
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.as_ref().len())
    }
}

/// A parsed GGUF file over shared bytes: what [`model_from_gguf`] loads
/// from. It derefs to the [`GgufFile`] for metadata and tensor infos.
#[derive(Debug)]
pub struct SharedGguf {
    bytes: SharedBytes,
    file: GgufFile<SharedBytes>,
}

impl SharedGguf {
    /// Parses and validates `bytes`.
    ///
    /// # Errors
    /// [`ModelError::Gguf`] for a malformed file.
    pub fn new(bytes: SharedBytes) -> Result<SharedGguf> {
        let file = GgufFile::from_bytes(bytes.clone())?;
        Ok(SharedGguf { bytes, file })
    }

    /// The parsed file.
    pub fn file(&self) -> &GgufFile<SharedBytes> {
        &self.file
    }

    /// The shared bytes, which tensors loaded from the file keep alive.
    pub fn bytes(&self) -> &SharedBytes {
        &self.bytes
    }
}

impl std::ops::Deref for SharedGguf {
    type Target = GgufFile<SharedBytes>;

    fn deref(&self) -> &GgufFile<SharedBytes> {
        &self.file
    }
}

/// Memory-maps and parses the GGUF file at `path`.
///
/// The map is read-only and pre-faulted (`MAP_POPULATE`), as
/// [`crate::loader`] maps safetensors; the file must not be modified while a
/// model loaded from it is alive.
///
/// # Errors
/// [`ModelError::Io`] naming the path, [`ModelError::Gguf`] for a malformed file.
pub fn open(path: impl AsRef<Path>) -> Result<SharedGguf> {
    let path = path.as_ref();
    let io_err = |source| ModelError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    // SAFETY: the map is read-only and private to this process and is only
    // read through `&[u8]`. Another process truncating or rewriting the file
    // while it is mapped is outside what any mmap-based loader can defend
    // against; checkpoints must not be modified while loaded (as in
    // `loader::load_safetensors`, llama.cpp and candle).
    let map = unsafe { MmapOptions::new().populate().map(&file) }.map_err(io_err)?;
    SharedGguf::new(SharedBytes::new(map))
}

/// Parses GGUF `bytes` held in memory (e.g. written by
/// `smallmind_formats::gguf::GgufWriter`).
///
/// # Errors
/// [`ModelError::Gguf`] for malformed bytes.
pub fn from_bytes(bytes: Vec<u8>) -> Result<SharedGguf> {
    SharedGguf::new(SharedBytes::new(bytes))
}

/// Loads the GGUF model at `path` (mapped once).
///
/// # Errors
/// Those of [`open`] and [`model_from_gguf`].
pub fn load_gguf(path: impl AsRef<Path>) -> Result<Model> {
    model_from_gguf(&open(path)?)
}

/// Loads the model and the tokenizer of the GGUF file at `path`, mapping it once.
///
/// # Errors
/// Those of [`open`], [`model_from_gguf`] and [`load_tokenizer`].
pub fn load_gguf_with_tokenizer(path: impl AsRef<Path>) -> Result<(Model, Tokenizer)> {
    let file = open(path)?;
    Ok((model_from_gguf(&file)?, load_tokenizer(file.file())?))
}

/// Builds the model of a parsed GGUF file: its config
/// ([`ModelConfig::from_gguf`]), then its tensors renamed to Hugging Face
/// names ([`names`]) and converted ([`tensors`]), then
/// [`Model::from_tensors`], which checks every shape.
///
/// # Errors
/// [`ModelError::UnsupportedGgufArchitecture`], [`ModelError::Gguf`] for a
/// missing or mistyped key, [`ModelError::InvalidConfig`] naming the GGUF
/// key, [`ModelError::UnsupportedGgufTensor`] for a tensor the architecture
/// does not use, [`ModelError::UnsupportedDType`] naming the first tensor of
/// a type other than F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K, [`ModelError::MissingTensor`] and
/// [`ModelError::ShapeMismatch`] (Hugging Face names).
pub fn model_from_gguf(file: &SharedGguf) -> Result<Model> {
    let config = ModelConfig::from_gguf(file.file())?;
    let tensors = tensors::tensor_map(file, &config)?;
    Model::from_tensors(config, tensors)
}
