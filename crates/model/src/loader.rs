//! Loading Hugging Face checkpoints: `config.json` plus `model.safetensors`
//! (or shards listed in `model.safetensors.index.json`), memory-mapped.
//!
//! The safetensors format (an 8-byte little-endian header length, a JSON
//! header of `name → {dtype, shape, data_offsets}`, then raw little-endian
//! data) is parsed by the `safetensors` crate, which checks the header length
//! and every offset against the file size and each tensor's byte count
//! against its shape, so a truncated or corrupt file is an error, never an
//! out-of-bounds read.
//!
//! f32, bf16 and f16 tensors stay in the map (zero copy) when their offset is
//! aligned for their type, and are copied otherwise; the layers read 16-bit
//! weights in place (decode GEMV 1.8–2.7× faster than on weights widened to
//! f32: see `docs/performance.md`). Any other dtype is an error naming the
//! tensor.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::{bf16, f16};
use memmap2::MmapOptions;
use safetensors::{Dtype, SafeTensors};
use smallmind_tensor::{DType, MapSource, Tensor, TensorError};

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::weights::{Model, TensorMap};

/// Loads the model in `dir` (`config.json` + safetensors weights).
///
/// # Errors
/// [`ModelError::Io`] naming a missing or unreadable file, config errors, and
/// the errors of [`load_safetensors`] and [`Model::from_tensors`].
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Model> {
    let dir = dir.as_ref();
    let config = ModelConfig::from_hf_file(dir.join("config.json"))?;
    let mut tensors = TensorMap::new();
    for file in weight_files(dir)? {
        load_safetensors(&file, &mut tensors)?;
    }
    Model::from_tensors(config, tensors)
}

/// `model.safetensors`, or the shards named by `model.safetensors.index.json`.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let index_path = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index_path).map_err(|source| ModelError::Io {
        path: single.clone(),
        source,
    })?;
    let index: serde_json::Value = serde_json::from_str(&text)?;
    let map = index
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| ModelError::InvalidSafetensors {
            path: index_path.clone(),
            reason: "no `weight_map` object".into(),
        })?;
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for shard in map.values() {
        let name = shard
            .as_str()
            .filter(|s| !s.contains(['/', '\\']))
            .ok_or_else(|| ModelError::InvalidSafetensors {
                path: index_path.clone(),
                reason: format!("bad shard name {shard}"),
            })?;
        if seen.insert(name.to_owned()) {
            files.push(dir.join(name));
        }
    }
    Ok(files)
}

/// Maps one safetensors file and adds its tensors (f32, bf16, f16, in the
/// map when aligned) to `tensors`.
///
/// # Errors
/// [`ModelError::Io`], [`ModelError::InvalidSafetensors`] (truncated or
/// corrupt), [`ModelError::UnsupportedDType`] naming the tensor.
pub fn load_safetensors(path: &Path, tensors: &mut TensorMap) -> Result<()> {
    let file = File::open(path).map_err(|source| ModelError::Io {
        path: path.to_owned(),
        source,
    })?;
    // SAFETY: the map is read-only and private to this process. Another
    // process truncating or rewriting the file while it is mapped is outside
    // what any mmap-based loader can defend against (it would fault, not read
    // out of bounds in Rust's view); we document that checkpoints must not be
    // modified while loaded, as llama.cpp and candle do.
    // `populate` pre-faults the pages (MAP_POPULATE on Linux), so the first
    // forward pass does not pay a page fault per 4 KiB of weights.
    let map =
        unsafe { MmapOptions::new().populate().map(&file) }.map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
    let map = Arc::new(map);
    let invalid = |reason: String| ModelError::InvalidSafetensors {
        path: path.to_owned(),
        reason,
    };
    let st = SafeTensors::deserialize(&map[..]).map_err(|e| invalid(e.to_string()))?;
    let base = map.as_ptr() as usize;
    for (name, view) in st.iter() {
        let start = view.data().as_ptr() as usize - base;
        let range = start..start + view.data().len();
        let source: MapSource = map.clone();
        let tensor = to_tensor(name, view.dtype(), view.shape(), source, range)?;
        tensors.insert(name.to_owned(), tensor);
    }
    Ok(())
}

fn to_tensor(
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    source: MapSource,
    range: std::ops::Range<usize>,
) -> Result<Tensor> {
    let bytes = &(*source).as_ref()[range.clone()];
    match dtype {
        Dtype::F32 => mapped_or_copied::<f32>(shape, source.clone(), range, bytes, DType::F32),
        Dtype::BF16 => mapped_or_copied::<bf16>(shape, source.clone(), range, bytes, DType::BF16),
        Dtype::F16 => mapped_or_copied::<f16>(shape, source.clone(), range, bytes, DType::F16),
        other => Err(ModelError::UnsupportedDType {
            name: name.to_owned(),
            dtype: format!("{other:?}"),
            supported: "F32, F16, BF16".to_owned(),
        }),
    }
}

/// The tensor over the map when its offset is aligned for `T` (zero copy),
/// else an owned copy read element by element.
fn mapped_or_copied<T: smallmind_tensor::Element + bytemuck::Pod>(
    shape: &[usize],
    source: MapSource,
    range: std::ops::Range<usize>,
    bytes: &[u8],
    dtype: DType,
) -> Result<Tensor> {
    match Tensor::from_mapped(source, range, shape, dtype) {
        Err(TensorError::Misaligned { .. }) => {
            let values: Vec<T> = bytes
                .chunks_exact(size_of::<T>())
                .map(bytemuck::pod_read_unaligned)
                .collect();
            Ok(Tensor::from_slice(shape, &values)?)
        }
        other => Ok(other?),
    }
}
