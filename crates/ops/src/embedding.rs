//! Token and learned position embeddings: gathers rows of `(vocab, C)` and
//! `(n_positions, C)` tables into the `(T, C)` residual stream.

use smallmind_kernels::convert::{bf16_to_f32, f16_to_f32};
use smallmind_kernels::dtype::QuantVisitor;
use smallmind_kernels::quant::{WeightFormat, blocks_from_bytes, dequantize};
use smallmind_kernels::vector::add_inplace;

use crate::OpsError;
use crate::linear::WeightData;
use crate::matrix::MatMut;

/// `out[t] = table[tokens[t]]`, plus `positions[pos0 + t]` when a position
/// table is given (GPT-2). `table` is `(vocab, C)` in f32, bf16 or f16 (a
/// 16-bit row is widened as it is copied) or ggml blocks (a row is
/// dequantized; `C` a multiple of the block size, 32 or 256), `out` is `(T, C)`.
///
/// # Errors
/// [`OpsError::Shape`] naming the token when an id is outside the table or a
/// position past the position table, and when the shapes disagree.
pub fn embed(
    table: WeightData<'_>,
    positions: Option<&[f32]>,
    tokens: &[u32],
    pos0: usize,
    mut out: MatMut<'_>,
) -> Result<(), OpsError> {
    const OP: &str = "embed";
    let c = out.cols;
    let whole_blocks = c.is_multiple_of(table.block_size());
    if c == 0 || out.rows != tokens.len() || !table.len().is_multiple_of(c) || !whole_blocks {
        return Err(OpsError::Shape {
            op: OP,
            what: format!(
                "{} tokens into ({}, {c}) from a table of {} floats",
                tokens.len(),
                out.rows,
                table.len()
            ),
        });
    }
    let vocab = table.len() / c;
    for (t, &token) in tokens.iter().enumerate() {
        let id = token as usize;
        if id >= vocab {
            return Err(OpsError::Shape {
                op: OP,
                what: format!("token id {token} is outside the vocabulary of {vocab}"),
            });
        }
        let dst = out.row_mut(t);
        copy_row(&table, id, dst)?;
        if let Some(pos_table) = positions {
            let p = pos0 + t;
            let prow = pos_table
                .get(p * c..(p + 1) * c)
                .ok_or_else(|| OpsError::Shape {
                    op: OP,
                    what: format!(
                        "position {p} is past the {} learned positions",
                        pos_table.len() / c
                    ),
                })?;
            add_inplace(dst, prow)?;
        }
    }
    Ok(())
}

/// Writes row `id` of the `(vocab, C)` table into `dst` (`C` values) in f32.
fn copy_row(table: &WeightData<'_>, id: usize, dst: &mut [f32]) -> Result<(), OpsError> {
    let c = dst.len();
    let row = id * c..(id + 1) * c;
    match *table {
        WeightData::F32(w) => dst.copy_from_slice(&w[row]),
        WeightData::Bf16(w) => bf16_to_f32(&w[row], dst)?,
        WeightData::F16(w) => f16_to_f32(&w[row], dst)?,
        WeightData::Quant { dtype, bytes } => {
            let row_bytes = c / dtype.block_size() * dtype.block_bytes();
            let bytes = &bytes[id * row_bytes..][..row_bytes];
            dtype
                .visit_quantized(DequantizeRow { bytes, dst })
                .unwrap_or(Err(OpsError::DType {
                    op: "embed",
                    dtype: dtype.name(),
                }))?;
        }
    }
    Ok(())
}

/// One quantized row's blocks, dequantized into `dst`.
struct DequantizeRow<'a> {
    bytes: &'a [u8],
    dst: &'a mut [f32],
}

impl QuantVisitor for DequantizeRow<'_> {
    type Output = Result<(), OpsError>;
    fn visit<W: WeightFormat>(self) -> Self::Output {
        Ok(dequantize::<W>(blocks_from_bytes(self.bytes)?, self.dst)?)
    }
}
