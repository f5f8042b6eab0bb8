//! `smallmind quantize`: rewrites a GGUF file with its 2-D weights in Q8_0, Q4_0 or Q4_1.
//!
//! The rules follow `llama-quantize --pure`: 1-D tensors (norms) stay as they are; every 2-D
//! tensor becomes the target type, except one whose rows are not whole blocks of 32, which
//! falls back to F16 (as llama.cpp does). Metadata is copied, with `general.file_type` set to
//! the target's id. The quantizers are bit-exact with ggml's reference ones.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use half::f16;
use smallmind_formats::gguf::{GgmlType, GgufFile, GgufWriter, MetadataValue, TensorInfo};
use smallmind_kernels::quant::{self, BlockFormat, BlockQ4_0, BlockQ4_1, BlockQ8_0, QK};

type BoxError = Box<dyn std::error::Error>;

/// Flags of `smallmind quantize`.
#[derive(Args, Debug)]
pub(crate) struct QuantizeArgs {
    /// The input GGUF (F32, F16 or BF16 weights).
    input: PathBuf,
    /// The output GGUF.
    output: PathBuf,
    /// The target type.
    #[arg(long = "type", value_enum)]
    ty: Target,
}

/// `--type` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Target {
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
    #[value(name = "q4_1")]
    Q4_1,
}

impl Target {
    fn ggml_type(self) -> GgmlType {
        match self {
            Target::Q8_0 => GgmlType::Q8_0,
            Target::Q4_0 => GgmlType::Q4_0,
            Target::Q4_1 => GgmlType::Q4_1,
        }
    }

    /// `general.file_type` (llama.cpp's `LLAMA_FTYPE_MOSTLY_*`).
    fn file_type(self) -> u32 {
        match self {
            Target::Q8_0 => 7,
            Target::Q4_0 => 2,
            Target::Q4_1 => 3,
        }
    }

    /// Quantizes `values` (whole blocks) to the target's bytes.
    fn quantize(self, values: &[f32]) -> Result<Vec<u8>, BoxError> {
        match self {
            Target::Q8_0 => quantized_bytes::<BlockQ8_0>(values),
            Target::Q4_0 => quantized_bytes::<BlockQ4_0>(values),
            Target::Q4_1 => quantized_bytes::<BlockQ4_1>(values),
        }
    }
}

/// `values` (whole blocks) as the bytes of `B` blocks.
fn quantized_bytes<B: BlockFormat>(values: &[f32]) -> Result<Vec<u8>, BoxError> {
    let mut out = vec![B::default(); values.len() / B::VALUES];
    quant::quantize(values, &mut out)?;
    Ok(bytemuck::cast_slice(&out).to_vec())
}

/// Runs `smallmind quantize`.
pub(crate) fn quantize(args: &QuantizeArgs) -> Result<(), BoxError> {
    let input = GgufFile::open(&args.input)?;
    let mut writer = GgufWriter::new();
    for (key, value) in input.metadata().iter() {
        let value = if key == "general.file_type" {
            MetadataValue::U32(args.ty.file_type())
        } else {
            value.clone()
        };
        writer.add_metadata(key, value)?;
    }
    if input.metadata().get("general.file_type").is_none() {
        writer.add_metadata("general.file_type", MetadataValue::U32(args.ty.file_type()))?;
    }
    let (mut before, mut after) = (0u64, 0u64);
    for info in input.tensors() {
        let (ty, bytes) = convert(&input, info, args.ty)?;
        before += info.n_bytes();
        after += bytes.len() as u64;
        writer.add_tensor(info.name(), info.dims(), ty, bytes)?;
    }
    writer.write_file(&args.output)?;
    eprintln!(
        "{} tensors: {:.1} MB → {:.1} MB, written to {}",
        input.tensors().len(),
        before as f64 / 1e6,
        after as f64 / 1e6,
        args.output.display()
    );
    Ok(())
}

/// One tensor's new type and bytes.
fn convert(
    input: &GgufFile,
    info: &TensorInfo,
    target: Target,
) -> Result<(GgmlType, Vec<u8>), BoxError> {
    let data = input.tensor_data(info)?;
    if info.dims().len() < 2 {
        return Ok((info.ggml_type(), data.to_vec()));
    }
    let values = to_f32(info, data)?;
    if !(info.dims()[0] as usize).is_multiple_of(QK) {
        let halves: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
        return Ok((GgmlType::F16, bytemuck::cast_slice(&halves).to_vec()));
    }
    Ok((target.ggml_type(), target.quantize(&values)?))
}

/// A float tensor's values in f32.
fn to_f32(info: &TensorInfo, data: &[u8]) -> Result<Vec<f32>, BoxError> {
    let read = |width: usize, f: fn(&[u8]) -> f32| data.chunks_exact(width).map(f).collect();
    Ok(match info.ggml_type() {
        GgmlType::F32 => read(4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        GgmlType::F16 => read(2, |b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
        GgmlType::BF16 => read(2, |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        other => {
            return Err(format!(
                "{}: cannot requantize a {} tensor; start from an F32, F16 or BF16 file",
                info.name(),
                other.name()
            )
            .into());
        }
    })
}
