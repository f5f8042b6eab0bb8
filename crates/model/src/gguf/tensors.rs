//! GGUF tensor bytes → [`Tensor`]s by Hugging Face name.
//!
//! - Shape: GGUF dims are ne0 (the contiguous row length) first, so the
//!   row-major shape is the dims reversed: a `[in, out]` GGUF weight is the
//!   `[out, in]` matrix of `nn.Linear`.
//! - Types: F32, F16, BF16 and the ggml block types Q8_0, Q4_0, Q4_1 (32
//!   weights a block) and Q4_K, Q6_K (256-weight superblocks) are used in
//!   place, over the shared map (zero copy when the data is aligned for the
//!   type, which GGUF's 32-byte default alignment guarantees; copied
//!   otherwise); the layers read the blocks with the `quant` kernels of
//!   `smallmind-kernels`. Any other type is [`ModelError::UnsupportedDType`]
//!   naming the tensor and its GGML type.
//! - RoPE permutation: llama.cpp's converter (`convert_hf_to_gguf.py`,
//!   `LlamaModel.permute`) reorders the rows of `attn_q` and `attn_k` within
//!   each head so that its RoPE, which rotates adjacent pairs `(2i, 2i+1)`,
//!   equals Hugging Face's rotate-half RoPE, which rotates `(i, i + D/2)`:
//!   GGUF row `h·D + 2i + j` holds HF row `h·D + j·D/2 + i` (`j ∈ {0, 1}`,
//!   `i < D/2`). We run rotate-half RoPE, so those two tensors are copied
//!   once into owned memory with the rows put back
//!   ([`gguf_row_for_hf_row`]). Rows are moved whole, as bytes, so the same
//!   code serves every type, quantized rows included.

use smallmind_formats::gguf::{GgmlType, TensorInfo};
use smallmind_tensor::{AlignedBuf, DType, Layout, MapSource, Shape, Storage, Tensor, TensorError};

use super::SharedGguf;
use super::names::{GgufTensor, QkProjection, classify};
use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use crate::family::family;
use crate::weights::TensorMap;

/// Every tensor of `file` as a [`TensorMap`] by Hugging Face name, in file
/// order (so an error names the first offending tensor).
///
/// # Errors
/// [`ModelError::UnsupportedGgufTensor`] for a tensor the architecture does
/// not use (see [`super::names`]), [`ModelError::UnsupportedDType`] for a
/// type other than F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K.
pub fn tensor_map(file: &SharedGguf, config: &ModelConfig) -> Result<TensorMap> {
    let source = file.bytes().source().clone();
    let mut map = TensorMap::with_capacity(file.tensors().len());
    let Some(names) = family(config.architecture).gguf else {
        return Err(ModelError::UnsupportedGgufArchitecture(format!(
            "{:?}",
            config.architecture
        )));
    };
    for info in file.tensors() {
        let (hf_name, rope_permuted) = match classify(info.name(), config.num_layers, &names) {
            GgufTensor::Weight {
                hf_name,
                rope_permuted,
            } => (hf_name, rope_permuted),
            GgufTensor::Ignored => continue,
            GgufTensor::Unsupported(reason) => {
                return Err(ModelError::UnsupportedGgufTensor {
                    name: info.name().to_owned(),
                    reason,
                });
            }
        };
        let heads = rope_permuted.map(|p| match p {
            QkProjection::Query => config.num_heads,
            QkProjection::Key => config.num_kv_heads,
        });
        let mut tensor = load_tensor(file, &source, info, heads.map(|h| (h, config.head_dim)))?;
        if names.gains_plus_one && hf_name.ends_with("norm.weight") {
            // The converter stored Gemma's `1 + w`; the model adds the 1 itself.
            let w: Vec<f32> = tensor.to_f32_vec()?.iter().map(|g| g - 1.0).collect();
            tensor = Tensor::from_f32(tensor.dims(), &w)?;
        }
        map.insert(hf_name, tensor);
    }
    Ok(map)
}

/// The tensor type as a [`DType`] (the registry's ggml ids), or `None` if it cannot be loaded.
fn dtype_of(ty: GgmlType) -> Option<DType> {
    DType::from_ggml_id(ty.id())
}

/// The ggml names of every type the registry loads, e.g. `"F32, F16, …, Q6_K"`.
fn supported_names() -> String {
    let names: Vec<String> = DType::ALL.iter().map(|d| d.name().to_uppercase()).collect();
    names.join(", ")
}

/// One tensor; `qk_heads = Some((heads, head_dim))` undoes the RoPE row
/// permutation of a Q or K projection.
fn load_tensor(
    file: &SharedGguf,
    source: &MapSource,
    info: &TensorInfo,
    qk_heads: Option<(usize, usize)>,
) -> Result<Tensor> {
    let dtype = dtype_of(info.ggml_type()).ok_or_else(|| ModelError::UnsupportedDType {
        name: info.name().to_owned(),
        dtype: info.ggml_type().name().to_owned(),
        supported: supported_names(),
    })?;
    let dims = row_major_dims(info)?;
    let bytes = file.tensor_data(info)?;
    if let Some((heads, head_dim)) = qk_heads
        && is_qk_shape(&dims, heads, head_dim)
    {
        return unpermuted(bytes, &dims, head_dim, dtype);
    }
    // A shape that is not `(heads·D, C)` is left as is: `Model::from_tensors`
    // reports it as a shape mismatch.
    let start = bytes.as_ptr() as usize - file.as_bytes().as_ptr() as usize;
    mapped_or_copied(source, start..start + bytes.len(), bytes, &dims, dtype)
}

/// The GGUF dims reversed (row-major order), as `usize`.
fn row_major_dims(info: &TensorInfo) -> Result<Vec<usize>> {
    info.dims()
        .iter()
        .rev()
        .map(|&d| {
            usize::try_from(d).map_err(|_| ModelError::UnsupportedGgufTensor {
                name: info.name().to_owned(),
                reason: format!("dims {:?} do not fit this machine's usize", info.dims()),
            })
        })
        .collect()
}

/// Whether `dims` is `(heads·head_dim, C)` with an even `head_dim`: the
/// shape the permutation applies to.
fn is_qk_shape(dims: &[usize], heads: usize, head_dim: usize) -> bool {
    dims.len() == 2 && head_dim.is_multiple_of(2) && heads.checked_mul(head_dim) == Some(dims[0])
}

/// For row `hf_row` of a Hugging Face Q or K projection with heads of
/// `head_dim` rows, the row of the GGUF tensor that holds it: within each
/// head, HF row `j·D/2 + i` was stored at GGUF row `2i + j`
/// (`head_dim` must be even).
pub fn gguf_row_for_hf_row(hf_row: usize, head_dim: usize) -> usize {
    let half = head_dim / 2;
    let (head, within) = (hf_row / head_dim, hf_row % head_dim);
    let (j, i) = (within / half, within % half);
    head * head_dim + 2 * i + j
}

/// An owned `(rows, C)` copy of `bytes` with the rows in Hugging Face order.
fn unpermuted(bytes: &[u8], dims: &[usize], head_dim: usize, dtype: DType) -> Result<Tensor> {
    let rows = dims[0];
    // `rows ≥ 1` (GGUF dims are nonzero) and divides the byte count.
    let row_bytes = bytes.len() / rows;
    let mut buf = AlignedBuf::zeroed(bytes.len())?;
    for (hf_row, out) in buf.as_bytes_mut().chunks_exact_mut(row_bytes).enumerate() {
        let src = gguf_row_for_hf_row(hf_row, head_dim) * row_bytes;
        out.copy_from_slice(&bytes[src..src + row_bytes]);
    }
    let layout = Layout::contiguous(Shape::new(dims)?);
    Ok(Tensor::from_storage(Storage::owned(buf), layout, dtype)?)
}

/// The tensor over the shared bytes when aligned for `dtype` (zero copy),
/// else an owned copy.
fn mapped_or_copied(
    source: &MapSource,
    range: std::ops::Range<usize>,
    bytes: &[u8],
    dims: &[usize],
    dtype: DType,
) -> Result<Tensor> {
    match Tensor::from_mapped(source.clone(), range, dims, dtype) {
        Err(TensorError::Misaligned { .. }) => {
            let layout = Layout::contiguous(Shape::new(dims)?);
            let buf = AlignedBuf::from_bytes(bytes)?;
            Ok(Tensor::from_storage(Storage::owned(buf), layout, dtype)?)
        }
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's forward permutation, written as the converter states it:
    /// `w.reshape(n_head, 2, D/2, C).swapaxes(1, 2).reshape(rows, C)`, i.e.
    /// output row `(h, i, j)` (row-major over `(n_head, D/2, 2)`) is input
    /// row `(h, j, i)` (row-major over `(n_head, 2, D/2)`).
    fn llama_cpp_permute(rows: &[u32], n_head: usize) -> Vec<u32> {
        let d = rows.len() / n_head;
        let half = d / 2;
        let mut out = Vec::with_capacity(rows.len());
        for h in 0..n_head {
            for i in 0..half {
                for j in 0..2 {
                    out.push(rows[h * d + j * half + i]);
                }
            }
        }
        out
    }

    #[test]
    fn row_mapping_inverts_the_converter_permutation() {
        for (n_head, head_dim) in [(1, 2), (4, 16), (2, 16), (9, 64), (3, 6)] {
            let hf: Vec<u32> = (0..(n_head * head_dim) as u32).collect();
            let gguf = llama_cpp_permute(&hf, n_head);
            for (r, &want) in hf.iter().enumerate() {
                assert_eq!(gguf[gguf_row_for_hf_row(r, head_dim)], want);
            }
        }
    }

    #[test]
    fn row_mapping_by_hand() {
        // One head of 4 rows: GGUF stores HF rows 0, 2, 1, 3.
        let map: Vec<usize> = (0..8).map(|r| gguf_row_for_hf_row(r, 4)).collect();
        assert_eq!(map, [0, 2, 1, 3, 4, 6, 5, 7]);
    }

    #[test]
    fn unpermuted_moves_whole_rows() {
        // (4, 2) f32: rows [r, r+0.5] for GGUF rows 0..4, one head of 4.
        let values: Vec<f32> = (0..4).flat_map(|r| [r as f32, r as f32 + 0.5]).collect();
        let t = unpermuted(bytemuck::cast_slice(&values), &[4, 2], 4, DType::F32).unwrap();
        let got = t.to_f32_vec().unwrap();
        assert_eq!(got, [0.0, 0.5, 2.0, 2.5, 1.0, 1.5, 3.0, 3.5]);
    }
}
