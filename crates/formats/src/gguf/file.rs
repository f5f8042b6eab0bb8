//! [`GgufFile`]: a parsed, validated GGUF file over memory-mapped or owned bytes.
//!
//! Layout (GGUF v2/v3, little endian):
//!
//! ```text
//! magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//! kv_count × (key string, value type u32, value)
//! tensor_count × (name string, n_dims u32, dims u64 × n_dims, type u32, offset u64)
//! padding to `general.alignment` (default 32)
//! data section: tensor bytes at their offsets (each a multiple of the alignment)
//! ```
//!
//! Parsing checks everything before returning: the file is either fully
//! valid (every tensor lies inside the file, aligned, without overlap) or an
//! error. Accessors after that cannot fail on bytes read from the file.

use std::collections::HashMap;
use std::path::Path;

use memmap2::Mmap;

use super::metadata::Metadata;
use super::reader::Reader;
use super::tensor::{MIN_TENSOR_INFO_BYTES, TensorInfo, read_tensor_info};
use super::value::MetadataValueType;
use crate::error::{FormatError, Result, Section};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Versions this reader accepts (v1 used 32-bit counts and is not supported).
pub const SUPPORTED_VERSIONS: [u32; 2] = [2, 3];
/// Metadata key of the data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Smallest encoding of one metadata entry: empty key (8), type (4), one byte.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;

/// A validated GGUF file whose bytes are held by `D` (a memory map for
/// [`GgufFile::open`], any byte container for [`GgufFile::from_bytes`]).
#[derive(Debug)]
pub struct GgufFile<D = Mmap> {
    bytes: D,
    parsed: Parsed,
}

impl GgufFile<Mmap> {
    /// Memory-maps and parses the file at `path`.
    ///
    /// The map is read-only and private; as with any map, the file must not
    /// be truncated or rewritten by another process while it is in use.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io_err = |source| FormatError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        // SAFETY: the map is read-only and only ever read through `&[u8]`.
        // Soundness requires that no one truncates or writes the file while
        // it is mapped; that is documented above as the caller's contract,
        // the same one every memory-mapped model loader has.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err)?;
        Self::from_bytes(map)
    }
}

impl<D: AsRef<[u8]>> GgufFile<D> {
    /// Parses and validates GGUF `bytes`, keeping them for tensor access.
    pub fn from_bytes(bytes: D) -> Result<Self> {
        let parsed = parse(bytes.as_ref())?;
        Ok(Self { bytes, parsed })
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.parsed.version
    }

    /// Metadata, in file order.
    pub fn metadata(&self) -> &Metadata {
        &self.parsed.metadata
    }

    /// Tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.parsed.tensors
    }

    /// The info of tensor `name`, or [`FormatError::TensorNotFound`].
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.parsed
            .by_name
            .get(name)
            .map(|&i| &self.parsed.tensors[i])
            .ok_or_else(|| FormatError::TensorNotFound {
                name: name.to_owned(),
            })
    }

    /// Alignment of the data section and of every tensor offset.
    pub fn alignment(&self) -> u64 {
        self.parsed.alignment
    }

    /// Absolute offset of the data section in the file.
    pub fn data_offset(&self) -> u64 {
        self.parsed.data_offset
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The bytes of a tensor: exactly `info.n_bytes()` bytes at
    /// `data_offset + info.offset()`. Checked again here, so an info from
    /// another file gives an error rather than wrong bytes or a panic.
    ///
    /// The slice is aligned to the file's alignment relative to the start of
    /// the bytes; for a memory map (page aligned) that is absolute.
    pub fn tensor_data(&self, info: &TensorInfo) -> Result<&[u8]> {
        let bytes = self.as_bytes();
        let (start, end) = absolute_range(self.parsed.data_offset, info, bytes.len() as u64)?;
        // `end <= bytes.len()`, so both fit in usize.
        Ok(&bytes[start as usize..end as usize])
    }

    /// The bytes of tensor `name` (see [`GgufFile::tensor_data`]).
    pub fn tensor_data_by_name(&self, name: &str) -> Result<&[u8]> {
        self.tensor_data(self.tensor(name)?)
    }
}

/// `[start, end)` of `info` in a file of `file_len` bytes, checked.
fn absolute_range(data_offset: u64, info: &TensorInfo, file_len: u64) -> Result<(u64, u64)> {
    let start = data_offset.checked_add(info.offset());
    let end = start.and_then(|s| s.checked_add(info.n_bytes()));
    match (start, end) {
        (Some(start), Some(end)) if end <= file_len => Ok((start, end)),
        _ => Err(FormatError::TensorPastEnd {
            name: info.name().to_owned(),
            start: start.unwrap_or(u64::MAX),
            end: end.unwrap_or(u64::MAX),
            file_len,
        }),
    }
}

/// Everything [`parse`] extracts from the bytes.
#[derive(Debug)]
struct Parsed {
    version: u32,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    /// Absolute offset of the data section.
    data_offset: u64,
}

/// Parses and validates a whole file.
fn parse(bytes: &[u8]) -> Result<Parsed> {
    let mut r = Reader::new(bytes);
    let version = read_magic_and_version(&mut r)?;
    let tensor_count = r.u64()?;
    let kv_count = r.u64()?;
    let metadata = read_metadata(&mut r, kv_count)?;
    let alignment = alignment_of(&metadata)?;
    let tensors = read_tensor_infos(&mut r, tensor_count)?;
    let by_name = index_names(&tensors)?;
    let data_offset = align_up(r.pos(), alignment);
    check_tensor_placement(&tensors, alignment, data_offset, bytes.len() as u64)?;
    Ok(Parsed {
        version,
        metadata,
        tensors,
        by_name,
        alignment,
        data_offset,
    })
}

fn read_magic_and_version(r: &mut Reader<'_>) -> Result<u32> {
    let magic = r.take(4)?;
    if magic != GGUF_MAGIC {
        let mut found = [0u8; 4];
        found.copy_from_slice(magic);
        return Err(FormatError::BadMagic { found });
    }
    let version = r.u32()?;
    if SUPPORTED_VERSIONS.contains(&version) {
        Ok(version)
    } else if SUPPORTED_VERSIONS.contains(&version.swap_bytes()) {
        Err(FormatError::BigEndian {
            version: version.swap_bytes(),
        })
    } else {
        Err(FormatError::UnsupportedVersion { version })
    }
}

fn read_metadata(r: &mut Reader<'_>, kv_count: u64) -> Result<Metadata> {
    let n = r.check_count("metadata count", kv_count, MIN_KV_BYTES)?;
    let mut metadata = Metadata::new();
    for index in 0..n as u64 {
        r.section = Section::MetadataKey { index };
        let key = r.string()?;
        r.section = Section::MetadataValue { key: key.clone() };
        let ty = r.value_type()?;
        let value = r.value(ty, 0)?;
        metadata.insert(key, value)?;
    }
    Ok(metadata)
}

/// `general.alignment` (any integer type), or the default; a nonzero power of two.
fn alignment_of(metadata: &Metadata) -> Result<u64> {
    let Some(value) = metadata.get(ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let bad = || FormatError::BadAlignment {
        value: format!("{value} ({})", value.type_description()),
    };
    if value.value_type() == MetadataValueType::Array {
        return Err(bad());
    }
    let alignment = value
        .as_integer()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(bad)?;
    if !alignment.is_power_of_two() {
        return Err(bad());
    }
    Ok(alignment.into())
}

fn read_tensor_infos(r: &mut Reader<'_>, tensor_count: u64) -> Result<Vec<TensorInfo>> {
    r.section = Section::Header;
    let n = r.check_count("tensor count", tensor_count, MIN_TENSOR_INFO_BYTES)?;
    let mut tensors = Vec::with_capacity(n);
    for index in 0..n as u64 {
        tensors.push(read_tensor_info(r, index)?);
    }
    Ok(tensors)
}

fn index_names(tensors: &[TensorInfo]) -> Result<HashMap<String, usize>> {
    let mut by_name = HashMap::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        if by_name.insert(t.name().to_owned(), i).is_some() {
            return Err(FormatError::DuplicateTensor {
                name: t.name().to_owned(),
            });
        }
    }
    Ok(by_name)
}

/// Rounds `pos` up to a multiple of `alignment` (a power of two ≤ 2^31), in
/// u64: `pos` is a file offset, far below `u64::MAX - 2^31`.
fn align_up(pos: u64, alignment: u64) -> u64 {
    pos.next_multiple_of(alignment)
}

/// Every tensor: offset aligned, bytes inside the file, no two overlapping.
fn check_tensor_placement(
    tensors: &[TensorInfo],
    alignment: u64,
    data_offset: u64,
    file_len: u64,
) -> Result<()> {
    for t in tensors {
        if !t.offset().is_multiple_of(alignment) {
            return Err(FormatError::MisalignedOffset {
                name: t.name().to_owned(),
                offset: t.offset(),
                alignment,
            });
        }
        absolute_range(data_offset, t, file_len)?;
    }
    check_no_overlap(tensors)
}

/// Sorted by offset, each tensor must start at or after the previous end.
/// (Ends cannot overflow: every range was checked against the file length.)
fn check_no_overlap(tensors: &[TensorInfo]) -> Result<()> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset());
    for pair in order.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        let first_end = first.end().unwrap_or(u64::MAX);
        if second.offset() < first_end {
            return Err(FormatError::OverlappingTensors {
                first: first.name().to_owned(),
                first_start: first.offset(),
                first_end,
                second: second.name().to_owned(),
                second_start: second.offset(),
            });
        }
    }
    Ok(())
}
