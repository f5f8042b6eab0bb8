//! [`GgufWriter`]: writes metadata and tensors as a GGUF v3 (or v2) file.
//!
//! Tensors are laid out in the order added, each at the next multiple of the
//! alignment (32, or `general.alignment` if that key is added), and the data
//! section starts at the first aligned offset after the tensor infos, exactly
//! as the reader expects. Shapes and byte lengths are validated when a tensor
//! is added, so a writer never produces a file the reader rejects.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

use super::file::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, SUPPORTED_VERSIONS};
use super::ggml_type::GgmlType;
use super::metadata::Metadata;
use super::reader::MAX_ARRAY_DEPTH;
use super::tensor::TensorInfo;
use super::value::{MetadataArray, MetadataValue};
use crate::error::{FormatError, Result};

/// Version written unless [`GgufWriter::set_version`] says otherwise.
pub const DEFAULT_WRITE_VERSION: u32 = 3;

/// Collects metadata and tensors, then writes a GGUF file.
#[derive(Debug)]
pub struct GgufWriter<'a> {
    version: u32,
    alignment: u64,
    metadata: Metadata,
    /// Infos (offset 0 until written) and their bytes.
    tensors: Vec<(TensorInfo, Cow<'a, [u8]>)>,
}

impl Default for GgufWriter<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> GgufWriter<'a> {
    /// An empty v3 file with the default alignment.
    pub fn new() -> Self {
        Self {
            version: DEFAULT_WRITE_VERSION,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Metadata::new(),
            tensors: Vec::new(),
        }
    }

    /// Writes version 2 or 3 (they share one layout).
    pub fn set_version(&mut self, version: u32) -> Result<()> {
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(FormatError::UnsupportedVersion { version });
        }
        self.version = version;
        Ok(())
    }

    /// Adds a metadata entry (keys must be unique, arrays nested at most
    /// [`MAX_ARRAY_DEPTH`] deep). Adding
    /// `general.alignment` (an integer, nonzero power of two) also sets the
    /// alignment the tensors are written with.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: MetadataValue) -> Result<()> {
        let key = key.into();
        if let MetadataValue::Array(array) = &value
            && array_depth(array) > MAX_ARRAY_DEPTH
        {
            return Err(FormatError::InvalidWrite {
                name: key,
                reason: format!("arrays nested deeper than {MAX_ARRAY_DEPTH} levels"),
            });
        }
        let alignment = match key.as_str() {
            ALIGNMENT_KEY => Some(checked_alignment(&key, &value)?),
            _ => None,
        };
        self.metadata.insert(key, value)?;
        if let Some(alignment) = alignment {
            self.alignment = alignment;
        }
        Ok(())
    }

    /// Adds a tensor. `dims` are ne0 first (reversed numpy order); `data`
    /// must hold exactly the bytes those dims take in `ggml_type`.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ggml_type: GgmlType,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<()> {
        let name = name.into();
        let data = data.into();
        if self.tensors.iter().any(|(t, _)| t.name() == name) {
            return Err(FormatError::DuplicateTensor { name });
        }
        let info = TensorInfo::new(name, dims, ggml_type, 0)?;
        if data.len() as u64 != info.n_bytes() {
            return Err(FormatError::InvalidWrite {
                name: info.name().to_owned(),
                reason: format!(
                    "{} bytes given, dims {dims:?} of {ggml_type} take {}",
                    data.len(),
                    info.n_bytes()
                ),
            });
        }
        self.tensors.push((info, data));
        Ok(())
    }

    /// Writes the whole file to `out`; returns the bytes written.
    pub fn write_to<W: Write>(&self, out: W) -> Result<u64> {
        let mut out = Counting { inner: out, pos: 0 };
        self.write_all(&mut out).map_err(FormatError::Write)?;
        Ok(out.pos)
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Writes the file at `path` (created or truncated).
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|source| FormatError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut out = std::io::BufWriter::new(file);
        let n = self.write_to(&mut out)?;
        out.flush().map_err(FormatError::Write)?;
        Ok(n)
    }

    fn write_all<W: Write>(&self, out: &mut Counting<W>) -> std::io::Result<()> {
        out.write_all(&GGUF_MAGIC)?;
        out.write_all(&self.version.to_le_bytes())?;
        out.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        out.write_all(&(self.metadata.len() as u64).to_le_bytes())?;
        for (key, value) in self.metadata.iter() {
            write_string(out, key)?;
            out.write_all(&value.value_type().id().to_le_bytes())?;
            write_value(out, value)?;
        }
        let offsets = self.offsets();
        for ((info, _), &offset) in self.tensors.iter().zip(&offsets) {
            write_tensor_info(out, info, offset)?;
        }
        if self.tensors.is_empty() {
            // No data section, no padding (as llama.cpp's vocab-only files).
            return Ok(());
        }
        out.pad_to(self.alignment)?;
        let data_start = out.pos;
        for ((_, data), &offset) in self.tensors.iter().zip(&offsets) {
            out.pad_to_pos(data_start + offset)?;
            out.write_all(data)?;
        }
        Ok(())
    }

    /// Offset of each tensor relative to the data section.
    fn offsets(&self) -> Vec<u64> {
        let mut next = 0u64;
        self.tensors
            .iter()
            .map(|(info, _)| {
                let offset = next.next_multiple_of(self.alignment);
                next = offset + info.n_bytes();
                offset
            })
            .collect()
    }
}

/// Nesting depth of an array: 1 for an array of scalars.
fn array_depth(array: &MetadataArray) -> usize {
    let inner = array.as_arrays().unwrap_or_default();
    1 + inner.iter().map(array_depth).max().unwrap_or(0)
}

fn checked_alignment(key: &str, value: &MetadataValue) -> Result<u64> {
    value
        .as_integer()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| v.is_power_of_two())
        .map(u64::from)
        .ok_or_else(|| FormatError::InvalidWrite {
            name: key.to_owned(),
            reason: format!("alignment {value} is not a nonzero power of two (u32)"),
        })
}

/// A writer that counts bytes, for alignment padding.
struct Counting<W> {
    inner: W,
    pos: u64,
}

impl<W: Write> Counting<W> {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, alignment: u64) -> std::io::Result<()> {
        self.pad_to_pos(self.pos.next_multiple_of(alignment))
    }

    fn pad_to_pos(&mut self, target: u64) -> std::io::Result<()> {
        const ZEROS: [u8; 64] = [0; 64];
        while self.pos < target {
            let n = (target - self.pos).min(ZEROS.len() as u64) as usize;
            self.write_all(&ZEROS[..n])?;
        }
        Ok(())
    }
}

fn write_string<W: Write>(out: &mut Counting<W>, s: &str) -> std::io::Result<()> {
    out.write_all(&(s.len() as u64).to_le_bytes())?;
    out.write_all(s.as_bytes())
}

fn write_tensor_info<W: Write>(
    out: &mut Counting<W>,
    info: &TensorInfo,
    offset: u64,
) -> std::io::Result<()> {
    write_string(out, info.name())?;
    out.write_all(&(info.dims().len() as u32).to_le_bytes())?;
    for dim in info.dims() {
        out.write_all(&dim.to_le_bytes())?;
    }
    out.write_all(&info.ggml_type().id().to_le_bytes())?;
    out.write_all(&offset.to_le_bytes())
}

/// A value without its type id.
fn write_value<W: Write>(out: &mut Counting<W>, value: &MetadataValue) -> std::io::Result<()> {
    use MetadataValue as V;
    match value {
        V::U8(v) => out.write_all(&[*v]),
        V::I8(v) => out.write_all(&v.to_le_bytes()),
        V::U16(v) => out.write_all(&v.to_le_bytes()),
        V::I16(v) => out.write_all(&v.to_le_bytes()),
        V::U32(v) => out.write_all(&v.to_le_bytes()),
        V::I32(v) => out.write_all(&v.to_le_bytes()),
        V::F32(v) => out.write_all(&v.to_le_bytes()),
        V::Bool(v) => out.write_all(&[u8::from(*v)]),
        V::String(v) => write_string(out, v),
        V::Array(v) => write_array(out, v),
        V::U64(v) => out.write_all(&v.to_le_bytes()),
        V::I64(v) => out.write_all(&v.to_le_bytes()),
        V::F64(v) => out.write_all(&v.to_le_bytes()),
    }
}

/// Element type id, count, elements.
fn write_array<W: Write>(out: &mut Counting<W>, array: &MetadataArray) -> std::io::Result<()> {
    use MetadataArray as A;
    out.write_all(&array.element_type().id().to_le_bytes())?;
    out.write_all(&(array.len() as u64).to_le_bytes())?;
    match array {
        A::U8(v) => out.write_all(v),
        A::I8(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::U16(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::I16(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::U32(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::I32(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::F32(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::Bool(v) => write_each(out, v, |x| [u8::from(*x)]),
        A::String(v) => v.iter().try_for_each(|s| write_string(out, s)),
        A::Array(v) => v.iter().try_for_each(|a| write_array(out, a)),
        A::U64(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::I64(v) => write_each(out, v, |x| x.to_le_bytes()),
        A::F64(v) => write_each(out, v, |x| x.to_le_bytes()),
    }
}

fn write_each<W: Write, T, const N: usize>(
    out: &mut Counting<W>,
    items: &[T],
    encode: impl Fn(&T) -> [u8; N],
) -> std::io::Result<()> {
    items.iter().try_for_each(|x| out.write_all(&encode(x)))
}
