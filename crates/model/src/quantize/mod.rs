//! Quantizing a GGUF model as `llama-quantize` does: one type per tensor
//! ([`plan`]), then the weights rewritten in those types and the metadata
//! copied ([`quantize_gguf`]).
//!
//! A [`Target`] is a llama.cpp mixture by name (`Q4_K_M`, `Q5_K_M`, `Q2_K`,
//! `IQ4_XS`, ... — [`mixture::MIXTURES`]), whose per-tensor rules are
//! llama.cpp's, or a single registered type (`Q4_K`, `IQ2_XS`, ...) for every
//! weight, as `llama-quantize --pure` writes (any mixture name can be made pure
//! too). Either way rows that are not whole blocks of a type fall back to a
//! smaller block, as in llama.cpp. `general.file_type` becomes the mixture's
//! `LLAMA_FTYPE_MOSTLY_*` id and `general.quantization_version` 2.
//!
//! The quantizers are the registry's ([`smallmind_kernels::quant`]); each
//! format's docs say how close they are to ggml's. Inputs are F32, F16 or BF16
//! weights (re-quantizing is refused).

pub mod mixture;
pub mod plan;

use std::path::Path;

use half::{bf16, f16};
use rayon::prelude::*;
use smallmind_formats::FormatError;
use smallmind_formats::gguf::{GgmlType, GgufFile, GgufWriter, MetadataValue};
use smallmind_kernels::quant::{self, BlockFormat, WeightFormat};
use smallmind_kernels::{DType, KernelError, dtype::QuantVisitor};

pub use mixture::{MIXTURES, Mixture};
pub use plan::{PlannedTensor, fallback, plan};

/// `general.quantization_version` of the block layouts written (ggml's `GGML_QNT_VERSION`).
const QUANTIZATION_VERSION: u32 = 2;

/// What went wrong while quantizing.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The `--type` name is neither a mixture nor a registered type.
    #[error("unknown quantization type `{name}`; valid: {valid}")]
    UnknownTarget {
        /// The name given.
        name: String,
        /// Every valid name, comma-separated.
        valid: String,
    },
    /// The input file is not a valid GGUF, lacks a metadata key, or cannot be written.
    #[error("GGUF: {0}")]
    Gguf(#[from] FormatError),
    /// A quantizer rejected its input (a bug: the plan checks block sizes).
    #[error("quantizer: {0}")]
    Kernel(#[from] KernelError),
    /// A tensor must change type but is already quantized.
    #[error("tensor `{name}` is {dtype}: cannot requantize; start from an F32, F16 or BF16 file")]
    CannotRequantize {
        /// The tensor.
        name: String,
        /// Its type.
        dtype: String,
    },
    /// The model's mixture rules are not implemented.
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),
    /// llama.cpp has no smaller type for rows that are not whole blocks of this one.
    #[error("no fallback type for {0} rows that are not whole blocks")]
    NoFallback(DType),
    /// The GGUF reader's type table lacks a registry type (the two tables disagree).
    #[error("type {0} has no GGUF type id in smallmind-formats")]
    NotInGguf(DType),
}

/// What to quantize to: a mixture's rules, or one type for every weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    base: DType,
    file_type: u32,
    mixture: Option<&'static Mixture>,
}

impl Target {
    /// The target called `name` (ASCII case ignored): a mixture name, or a
    /// registered type's name for that type everywhere. `pure` makes a
    /// mixture name mean its base type everywhere too (`llama-quantize
    /// --pure`).
    ///
    /// `IQ2_XS` is the type everywhere, not llama.cpp's mixture of that name
    /// (which needs an importance matrix).
    ///
    /// # Errors
    /// [`QuantizeError::UnknownTarget`], listing the valid names.
    pub fn parse(name: &str, pure: bool) -> Result<Target, QuantizeError> {
        if let Some(m) = mixture::mixture(name) {
            return Ok(Target {
                base: m.base,
                file_type: m.file_type,
                mixture: (!pure).then_some(m),
            });
        }
        let dtype = DType::ALL
            .iter()
            .copied()
            .find(|d| d.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| QuantizeError::UnknownTarget {
                name: name.to_string(),
                valid: Target::names().join(", "),
            })?;
        Ok(Target {
            base: dtype,
            file_type: file_type_of(dtype),
            mixture: None,
        })
    }

    /// Every name [`Target::parse`] takes: the mixtures, then the registered
    /// types that are not also mixture names.
    pub fn names() -> Vec<String> {
        let mixtures = MIXTURES.iter().map(|m| m.name.to_string());
        let singles = DType::ALL
            .iter()
            .filter(|d| mixture::mixture(d.name()).is_none())
            .map(|d| d.name().to_ascii_uppercase());
        mixtures.chain(singles).collect()
    }

    /// The type of every weight that no rule names.
    pub fn base(&self) -> DType {
        self.base
    }

    /// The mixture whose rules apply (`None` for a single type).
    pub fn mixture(&self) -> Option<&'static Mixture> {
        self.mixture
    }

    /// `general.file_type` of the output (`LLAMA_FTYPE_MOSTLY_*`).
    pub fn file_type(&self) -> u32 {
        self.file_type
    }
}

/// `general.file_type` for a file of `dtype` everywhere: its `_M` mixture's
/// (Q4_K → Q4_K_M's 15), else the first mixture built on it, else
/// `LLAMA_FTYPE_MOSTLY_IQ2_XS` (20, the one registered type without a mixture).
fn file_type_of(dtype: DType) -> u32 {
    const MOSTLY_IQ2_XS: u32 = 20;
    let medium = format!("{}_M", dtype.name());
    mixture::mixture(&medium)
        .or_else(|| MIXTURES.iter().find(|m| m.base == dtype))
        .map_or(MOSTLY_IQ2_XS, |m| m.file_type)
}

/// What [`quantize_gguf`] did.
#[derive(Clone, Debug)]
pub struct QuantizeSummary {
    /// The plan, in file order.
    pub tensors: Vec<PlannedTensor>,
    /// Tensor bytes in the input.
    pub bytes_in: u64,
    /// Tensor bytes in the output.
    pub bytes_out: u64,
}

/// Quantizes the GGUF file `input` to `target`, written to `output`.
///
/// # Errors
/// As [`plan`]; [`QuantizeError::CannotRequantize`] when a tensor that must
/// change type is not F32, F16 or BF16; [`QuantizeError::Gguf`] when the input
/// cannot be read or the output written.
pub fn quantize_gguf(
    input: &Path,
    output: &Path,
    target: &Target,
) -> Result<QuantizeSummary, QuantizeError> {
    let file = GgufFile::open(input)?;
    let tensors = plan(file.metadata(), file.tensors(), target)?;
    let mut writer = GgufWriter::new();
    copy_metadata(&file, target, &mut writer)?;
    let (mut bytes_in, mut bytes_out) = (0, 0);
    for (info, planned) in file.tensors().iter().zip(&tensors) {
        let data = file.tensor_data(info)?;
        let (ggml_type, bytes) = match planned.to {
            None => (info.ggml_type(), data.to_vec()),
            Some(to) => (ggml_type_of(to)?, convert(planned, data, to)?),
        };
        bytes_in += data.len() as u64;
        bytes_out += bytes.len() as u64;
        writer.add_tensor(info.name(), info.dims(), ggml_type, bytes)?;
    }
    writer.write_file(output)?;
    Ok(QuantizeSummary {
        tensors,
        bytes_in,
        bytes_out,
    })
}

/// Every metadata entry of `file`, with `general.file_type` and
/// `general.quantization_version` set for `target`.
fn copy_metadata(
    file: &GgufFile,
    target: &Target,
    writer: &mut GgufWriter<'_>,
) -> Result<(), QuantizeError> {
    let ours = [
        ("general.file_type", target.file_type()),
        ("general.quantization_version", QUANTIZATION_VERSION),
    ];
    for (key, value) in file.metadata().iter() {
        let value = match ours.iter().find(|(k, _)| *k == key) {
            Some(&(_, v)) => MetadataValue::U32(v),
            None => value.clone(),
        };
        writer.add_metadata(key, value)?;
    }
    for (key, value) in ours {
        if !file.metadata().contains_key(key) {
            writer.add_metadata(key, MetadataValue::U32(value))?;
        }
    }
    Ok(())
}

/// The file format's id for a registry type.
fn ggml_type_of(dtype: DType) -> Result<GgmlType, QuantizeError> {
    GgmlType::from_id(dtype.ggml_id()).ok_or(QuantizeError::NotInGguf(dtype))
}

/// One tensor's bytes in its new type.
fn convert(planned: &PlannedTensor, data: &[u8], to: DType) -> Result<Vec<u8>, QuantizeError> {
    let values = to_f32(planned, data)?;
    match to.visit_quantized(Encode(&values)) {
        Some(bytes) => bytes,
        None if to == DType::F16 => encode::<f16>(&values),
        None if to == DType::BF16 => encode::<bf16>(&values),
        None => encode::<f32>(&values),
    }
}

/// A float tensor's values in f32.
fn to_f32(planned: &PlannedTensor, data: &[u8]) -> Result<Vec<f32>, QuantizeError> {
    let read = |width: usize, f: fn(&[u8]) -> f32| data.chunks_exact(width).map(f).collect();
    Ok(match planned.from {
        GgmlType::F32 => read(4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        GgmlType::F16 => read(2, |b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
        GgmlType::BF16 => read(2, |b| bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        other => {
            return Err(QuantizeError::CannotRequantize {
                name: planned.name.clone(),
                dtype: other.name().to_string(),
            });
        }
    })
}

/// Runs [`encode`] with a quantized format's block type.
struct Encode<'a>(&'a [f32]);

impl QuantVisitor for Encode<'_> {
    type Output = Result<Vec<u8>, QuantizeError>;

    fn visit<W: WeightFormat>(self) -> Self::Output {
        encode::<W>(self.0)
    }
}

/// Blocks of `B` per parallel task (about 64 Ki values).
const VALUES_PER_TASK: usize = 1 << 16;

/// `values` (whole blocks) as the bytes of `B` blocks, quantized in parallel
/// chunks (each block depends on its own values only, so the bytes do not
/// depend on the thread count).
fn encode<B: BlockFormat>(values: &[f32]) -> Result<Vec<u8>, QuantizeError> {
    let mut out = vec![B::default(); values.len() / B::VALUES];
    let blocks_per_task = (VALUES_PER_TASK / B::VALUES).max(1);
    out.par_chunks_mut(blocks_per_task)
        .zip(values.par_chunks(blocks_per_task * B::VALUES))
        .try_for_each(|(blocks, values)| quant::quantize(values, blocks))?;
    Ok(bytemuck::cast_slice(&out).to_vec())
}
