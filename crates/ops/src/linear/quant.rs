//! Block-quantized `[out, in/32]` weights (ggml Q8_0, Q4_0, Q4_1) and `[out, in/256]`
//! K-quant weights (Q4_K, Q6_K) used in place.
//!
//! With [`ActivationPrecision::Quantized`] (llama.cpp's scheme) each input row is quantized
//! once into caller scratch — to Q8_0 for Q8_0 and Q4_0 weights, to Q8_1 for Q4_1, to Q8_K
//! (256-value blocks with per-16 sums) for the K-quants — and the integer block-dot kernels
//! run: the GEMV for one row (decode), the GEMM for several
//! (prefill). With [`ActivationPrecision::F32`] every row goes through the f32-activation GEMV,
//! which dequantizes each weight block in registers: exact up to f32 summation, and slower.
//!
//! Scratch, in f32 units (see [`scratch_len`]): the quantized rows, then an `(rows, out)` block
//! for output that cannot be written in place (a strided `y`, or `β = 1`).

use bytemuck::Pod;
use smallmind_kernels::dtype::QuantVisitor;
use smallmind_kernels::parallel::{plan, try_for_each_part_mut_many};
use smallmind_kernels::quant::{
    BlockFormat, WeightFormat, blocks_from_bytes, gemm, gemv, gemv_f32, quantize,
};
use smallmind_kernels::vector::add_inplace;

use super::{ActivationPrecision, Linear, WeightData};
use crate::OpsError;
use crate::matrix::{MatMut, MatRef};

/// Floats of scratch for `rows` input rows: the quantized rows (none on the f32 path) and an
/// `(rows, out)` output block.
pub(super) fn scratch_len(layer: &Linear<'_>, rows: usize) -> usize {
    struct ActBytes;
    impl QuantVisitor for ActBytes {
        type Output = usize;
        fn visit<W: WeightFormat>(self) -> usize {
            size_of::<W::Act>()
        }
    }
    let act_bytes = match (layer.activations, layer.weight) {
        (ActivationPrecision::Quantized, WeightData::Quant { dtype, .. }) => {
            dtype.visit_quantized(ActBytes).unwrap_or(0)
        }
        _ => 0,
    };
    let blocks = rows * (layer.in_features / layer.weight.block_size());
    (blocks * act_bytes).div_ceil(size_of::<f32>()) + rows * layer.out_features
}

/// `y = x·Wᵀ + β·y` for a quantized `weight` (the bias is added by the caller).
pub(super) fn apply(
    layer: &Linear<'_>,
    weight: WeightData<'_>,
    x: &MatRef<'_>,
    y: &mut MatMut<'_>,
    beta: f32,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let WeightData::Quant { dtype, bytes } = weight else {
        return Err(OpsError::DType {
            op: "linear",
            dtype: "a non-quantized weight in the quantized path",
        });
    };
    struct Apply<'a, 'x, 'y> {
        layer: &'a Linear<'a>,
        bytes: &'a [u8],
        x: &'a MatRef<'x>,
        y: &'a mut MatMut<'y>,
        beta: f32,
        scratch: &'a mut [f32],
    }
    impl QuantVisitor for Apply<'_, '_, '_> {
        type Output = Result<(), OpsError>;
        fn visit<W: WeightFormat>(self) -> Self::Output {
            let w = blocks_from_bytes::<W>(self.bytes)?;
            apply_blocks(self.layer, w, self.x, self.y, self.beta, self.scratch)
        }
    }
    dtype
        .visit_quantized(Apply {
            layer,
            bytes,
            x,
            y,
            beta,
            scratch,
        })
        .unwrap_or(Err(OpsError::DType {
            op: "linear",
            dtype: dtype.name(),
        }))
}

fn apply_blocks<W: WeightFormat>(
    layer: &Linear<'_>,
    w: &[W],
    x: &MatRef<'_>,
    y: &mut MatMut<'_>,
    beta: f32,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let (k, n, rows) = (layer.in_features, layer.out_features, x.rows);
    let act_floats = scratch.len() - rows * n;
    let (act_scratch, out_scratch) = scratch.split_at_mut(act_floats);
    // Written whole when `y` is contiguous and overwritten; else staged in scratch.
    let in_place = beta == 0.0 && (rows == 1 || y.ld == n);
    let out: &mut [f32] = if in_place {
        &mut y.data[..rows * n]
    } else {
        out_scratch
    };
    match layer.activations {
        ActivationPrecision::F32 => {
            for (r, out_row) in out.chunks_exact_mut(n).enumerate() {
                gemv_f32(w, n, k, x.row(r), out_row)?;
            }
        }
        ActivationPrecision::Quantized => {
            let acts = quantize_rows::<W::Act>(x, act_scratch)?;
            if rows == 1 {
                gemv(w, n, k, acts, out)?;
            } else {
                gemm(w, n, k, acts, rows, out)?;
            }
        }
    }
    if !in_place {
        merge_rows(out_scratch, y, beta)?;
    }
    Ok(())
}

/// Input floats from which [`quantize_rows`] splits its rows over two workers: below it
/// the region costs more than half the work.
pub(super) const QUANTIZE_ROWS_PARALLEL_MIN: usize = 1 << 15;

/// Quantizes every row of `x` into the front of `scratch` as `x.rows` runs of `x.cols /
/// VALUES` blocks of `B`, rows shared among workers when there are enough of them (a prefill
/// chunk); returns those blocks.
///
/// # Errors
/// [`OpsError::Length`] if `scratch` does not hold the rows' blocks; the kernel's error if a
/// row is not whole blocks.
pub(super) fn quantize_rows<'s, B: BlockFormat + Pod>(
    x: &MatRef<'_>,
    scratch: &'s mut [f32],
) -> Result<&'s mut [B], OpsError> {
    let per_row = (x.cols / B::VALUES).max(1);
    let out = as_blocks::<B>(scratch, x.rows * (x.cols / B::VALUES))?;
    if x.rows == 1 {
        quantize(x.row(0), out)?;
        return Ok(out);
    }
    let split = plan(
        out.len(),
        per_row,
        x.rows * x.cols,
        QUANTIZE_ROWS_PARALLEL_MIN / 2,
        1,
    );
    try_for_each_part_mut_many([split], [&mut *out], |_, blocks, part| {
        for (r, row) in part.chunks_exact_mut(per_row).enumerate() {
            quantize(x.row(blocks.start / per_row + r), row)?;
        }
        Ok::<(), OpsError>(())
    })?;
    Ok(out)
}

/// `y = staged` (β = 0) or `y += staged` (β = 1), row by row; `staged` is `(rows, y.cols)`.
fn merge_rows(staged: &[f32], y: &mut MatMut<'_>, beta: f32) -> Result<(), OpsError> {
    for (r, row) in staged.chunks_exact(y.cols).enumerate().take(y.rows) {
        if beta == 0.0 {
            y.row_mut(r).copy_from_slice(row);
        } else {
            add_inplace(y.row_mut(r), row)?;
        }
    }
    Ok(())
}

/// The first `len` activation blocks carved out of f32 scratch (blocks are at most 4-byte
/// aligned, so any f32 slice holds them).
pub(super) fn as_blocks<B: Pod>(scratch: &mut [f32], len: usize) -> Result<&mut [B], OpsError> {
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(scratch);
    let need = len * size_of::<B>();
    let actual = bytes.len();
    let bytes = bytes.get_mut(..need).ok_or(OpsError::Length {
        op: "linear",
        operand: "scratch",
        expected: need,
        actual,
    })?;
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| OpsError::DType {
        op: "linear",
        dtype: "activation blocks in misaligned scratch",
    })
}
