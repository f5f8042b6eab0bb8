//! GGUF, the single-file model format of ggml / llama.cpp: versions 2 and 3,
//! little endian, as described by the GGUF specification in the ggml
//! repository (`docs/gguf.md`).
//!
//! - [`GgufFile`] ([`file`](mod@file)): parse and validate a file (memory-mapped with
//!   [`GgufFile::open`], or any bytes with [`GgufFile::from_bytes`]), then read
//!   its metadata, tensor infos and tensor bytes.
//! - [`Metadata`] ([`metadata`]) and [`MetadataValue`] / [`MetadataArray`]
//!   ([`value`]): the key/value section, with typed getters.
//! - [`TensorInfo`] ([`tensor`]) and [`GgmlType`] ([`ggml_type`]): what each
//!   tensor is and how many bytes its type takes per block.
//! - [`GgufWriter`] ([`writer`]): the inverse, for quantization and tests.
//!
//! Nothing read from the file is trusted: every count is checked against the
//! bytes left before anything is allocated from it, every size for overflow,
//! every tensor for alignment, bounds and overlap. As a consequence the memory
//! a parse allocates is bounded by a small multiple (under 10×) of the size of
//! the file's metadata and tensor-info sections, whatever the counts claim.
//!
//! Rules beyond the letter of the spec, each with its own error: tensors have
//! 1 to 4 dims and no zero dim; element counts fit in `i64` (ggml's `ne`
//! type); ne0 is a whole number of blocks; bools are 0 or 1; arrays nest at
//! most [`MAX_ARRAY_DEPTH`] deep; `general.alignment` may be any integer
//! type (writers differ) but must be a power of two that fits in u32.

pub mod file;
pub mod ggml_type;
pub mod metadata;
mod reader;
pub mod tensor;
pub mod value;
pub mod writer;

pub use file::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufFile, SUPPORTED_VERSIONS};
pub use ggml_type::{GgmlType, QK_K, QK_LEGACY};
pub use metadata::Metadata;
pub use reader::MAX_ARRAY_DEPTH;
pub use tensor::{MAX_DIMS, TensorInfo};
pub use value::{MetadataArray, MetadataValue, MetadataValueType};
pub use writer::{DEFAULT_WRITE_VERSION, GgufWriter};
