//! [`FormatError`]: every way reading or writing a file can fail.
//!
//! Each variant carries the offending field (a [`Section`] of the file, a
//! metadata key or a tensor name) and the values that made it invalid, so a
//! message alone tells the user what is wrong with the file.

use std::fmt;
use std::path::PathBuf;

/// The part of a GGUF file being read when a low-level error (truncation,
/// a length past the end, invalid UTF-8) happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Section {
    /// The fixed header: magic, version, tensor count, metadata count.
    Header,
    /// The key of metadata entry `index` (0-based).
    MetadataKey {
        /// Position of the entry in the file.
        index: u64,
    },
    /// The value of the metadata entry with this key.
    MetadataValue {
        /// The entry's key.
        key: String,
    },
    /// Tensor info `index` (0-based); `name` once it has been read.
    TensorInfo {
        /// Position of the info in the file.
        index: u64,
        /// The tensor's name, if already read.
        name: Option<String>,
    },
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Header => write!(f, "header"),
            Section::MetadataKey { index } => write!(f, "key of metadata entry #{index}"),
            Section::MetadataValue { key } => write!(f, "value of metadata key `{key}`"),
            Section::TensorInfo { index, name: None } => write!(f, "tensor info #{index}"),
            Section::TensorInfo {
                index,
                name: Some(name),
            } => write!(f, "tensor info #{index} (`{name}`)"),
        }
    }
}

/// Errors of the `formats` crate.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be opened or mapped.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// Writing a file failed.
    #[error("cannot write GGUF: {0}")]
    Write(#[source] std::io::Error),

    /// The file ends before a field it declares.
    #[error(
        "truncated file: {section} needs {needed} bytes at offset {offset}, only {available} left"
    )]
    Truncated {
        /// What was being read.
        section: Section,
        /// Byte offset of the field.
        offset: u64,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },

    /// A count or length read from the file cannot fit in the rest of the file.
    #[error(
        "{section}: {what} {count} needs at least {min_item_bytes} bytes per item, \
         but only {available} bytes are left"
    )]
    CountTooLarge {
        /// What was being read.
        section: Section,
        /// The field: "tensor count", "string length", "array length", ...
        what: &'static str,
        /// The value read from the file.
        count: u64,
        /// The smallest encoding of one item.
        min_item_bytes: u64,
        /// Bytes left in the file.
        available: u64,
    },

    /// The file does not start with `GGUF`.
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },

    /// The version is not 2 or 3.
    #[error("unsupported GGUF version {version}")]
    UnsupportedVersion {
        /// The version read (little endian).
        version: u32,
    },

    /// The version field reads as 2 or 3 only when byte-swapped: a big-endian file.
    #[error("big-endian GGUF (version {version}) is not supported")]
    BigEndian {
        /// The byte-swapped version.
        version: u32,
    },

    /// A string is not valid UTF-8.
    #[error("{section}: string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// What was being read.
        section: Section,
        /// Byte offset of the string's bytes.
        offset: u64,
    },

    /// A metadata value type id outside the GGUF specification.
    #[error("{section}: unknown metadata value type {type_id}")]
    UnknownValueType {
        /// What was being read.
        section: Section,
        /// The id read.
        type_id: u32,
    },

    /// A bool stored as a byte other than 0 or 1.
    #[error("{section}: bool byte {byte} is neither 0 nor 1")]
    InvalidBool {
        /// What was being read.
        section: Section,
        /// The byte read.
        byte: u8,
    },

    /// Arrays nested deeper than [`crate::gguf::MAX_ARRAY_DEPTH`].
    #[error("{section}: arrays nested deeper than {max_depth} levels")]
    ArrayTooDeep {
        /// What was being read.
        section: Section,
        /// The limit.
        max_depth: usize,
    },

    /// Two metadata entries with the same key.
    #[error("duplicate metadata key `{key}`")]
    DuplicateKey {
        /// The key.
        key: String,
    },

    /// `general.alignment` is zero or not a power of two (or not an integer).
    #[error("bad `general.alignment` {value}: must be a nonzero power of two")]
    BadAlignment {
        /// The value read, as text.
        value: String,
    },

    /// A tensor with more dimensions than GGML supports, or none.
    #[error("tensor `{name}`: {n_dims} dimensions, expected 1 to {max}")]
    BadDimCount {
        /// The tensor.
        name: String,
        /// Dimensions declared.
        n_dims: u32,
        /// The limit ([`crate::gguf::MAX_DIMS`]).
        max: usize,
    },

    /// A tensor dimension of zero.
    #[error("tensor `{name}`: dimension {axis} is zero (dims {dims:?})")]
    ZeroDim {
        /// The tensor.
        name: String,
        /// The zero dimension (0 = ne0).
        axis: usize,
        /// All dims, ne0 first.
        dims: Vec<u64>,
    },

    /// The element count or byte size of a tensor overflows.
    #[error("tensor `{name}`: dims {dims:?} overflow the element or byte count")]
    DimsOverflow {
        /// The tensor.
        name: String,
        /// All dims, ne0 first.
        dims: Vec<u64>,
    },

    /// A GGML type id this reader does not know.
    #[error("tensor `{name}`: unknown ggml type id {type_id}")]
    UnknownGgmlType {
        /// The tensor.
        name: String,
        /// The id read.
        type_id: u32,
    },

    /// A row length (ne0) that is not a whole number of quantization blocks.
    #[error(
        "tensor `{name}`: ne0 = {ne0} is not a multiple of the {ggml_type} block size {block_size}"
    )]
    NotBlockMultiple {
        /// The tensor.
        name: String,
        /// The row length.
        ne0: u64,
        /// The type's name.
        ggml_type: &'static str,
        /// Elements per block.
        block_size: u64,
    },

    /// A tensor offset that is not a multiple of the file's alignment.
    #[error("tensor `{name}`: offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedOffset {
        /// The tensor.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// A tensor's bytes end past the end of the file.
    #[error(
        "tensor `{name}`: bytes [{start}, {end}) run past the end of the file ({file_len} bytes)"
    )]
    TensorPastEnd {
        /// The tensor.
        name: String,
        /// Absolute start offset (`None`-like overflow shows as `u64::MAX`).
        start: u64,
        /// Absolute end offset.
        end: u64,
        /// File length.
        file_len: u64,
    },

    /// Two tensors share bytes.
    #[error(
        "tensors `{first}` [{first_start}, {first_end}) and `{second}` (starting at {second_start}) overlap"
    )]
    OverlappingTensors {
        /// The tensor that starts first.
        first: String,
        /// Its start, relative to the data section.
        first_start: u64,
        /// Its end, relative to the data section.
        first_end: u64,
        /// The tensor that starts inside it.
        second: String,
        /// Its start, relative to the data section.
        second_start: u64,
    },

    /// Two tensors with the same name.
    #[error("duplicate tensor name `{name}`")]
    DuplicateTensor {
        /// The name.
        name: String,
    },

    /// No tensor of this name.
    #[error("no tensor named `{name}`")]
    TensorNotFound {
        /// The name asked for.
        name: String,
    },

    /// A metadata key that is not in the file.
    #[error("missing metadata key `{key}`")]
    MissingKey {
        /// The key asked for.
        key: String,
    },

    /// A metadata value of another type than asked for.
    #[error("metadata key `{key}`: expected {expected}, found {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What the caller asked for.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },

    /// An integer metadata value that does not fit the type asked for.
    #[error("metadata key `{key}`: value {value} does not fit in {target}")]
    ValueOutOfRange {
        /// The key.
        key: String,
        /// The value.
        value: i128,
        /// The type asked for.
        target: &'static str,
    },

    /// A writer given something it cannot encode.
    #[error("cannot write tensor or key `{name}`: {reason}")]
    InvalidWrite {
        /// The tensor or key.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;
