//! # smallmind-formats — the file-format layer
//!
//! Reads (and writes) model files, and **never trusts a length, offset or
//! shape read from them**: every count is bounded by the bytes actually left
//! before it is used to allocate, every product is checked for overflow, and
//! every tensor is checked to lie inside the file, aligned and without
//! overlap. Bad input gives a [`FormatError`] naming the offending field; no
//! input makes this crate panic (a fuzz target in `fuzz/` checks that).
//!
//! This crate knows nothing about models: it does not depend on
//! `smallmind-model` and does not decide which tensor types can be loaded;
//! it describes the bytes and leaves their meaning to the layers above.
//!
//! - [`gguf`]: GGUF v2 and v3 (little endian) following the GGUF
//!   specification of ggml (`docs/gguf.md` in the ggml repository), with the
//!   tensor type ids and block sizes of `enum ggml_type`.
//!
//! ```
//! use smallmind_formats::gguf::{GgmlType, GgufFile, GgufWriter, MetadataValue};
//!
//! let mut w = GgufWriter::new();
//! w.add_metadata("general.architecture", MetadataValue::String("llama".into()))?;
//! let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
//! w.add_tensor("v", &[3], GgmlType::F32, data.as_slice())?;
//! let bytes = w.to_bytes()?;
//!
//! let file = GgufFile::from_bytes(bytes.as_slice())?;
//! assert_eq!(file.metadata().get_str("general.architecture")?, "llama");
//! assert_eq!(file.tensor_data_by_name("v")?, data.as_slice());
//! # Ok::<(), smallmind_formats::FormatError>(())
//! ```
//!
//! The only `unsafe` code is the memory map in [`gguf::GgufFile::open`].

pub mod error;
pub mod gguf;

pub use error::{FormatError, Result, Section};
