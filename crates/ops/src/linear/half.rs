//! 16-bit (bf16, f16) `[out, in]` weights read in place: the dot-product GEMV for one row,
//! and for several rows a GEMM over blocks of [`HALF_BLOCK_ROWS`] weight rows widened into
//! caller scratch.

use smallmind_kernels::convert::{bf16_to_f32, f16_to_f32};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::gemv_half::{gemv_bf16, gemv_f16};
use smallmind_kernels::vector::add_inplace;

use super::{HALF_BLOCK_ROWS, Linear, WeightData};
use crate::OpsError;
use crate::matrix::{MatMut, MatRef, span};

/// One row against 16-bit weights read in place: `y = W·x + β·y`.
pub(super) fn half_gemv(
    layer: &Linear<'_>,
    weight: WeightData<'_>,
    x: &[f32],
    y: &mut [f32],
    beta: f32,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let (k, n) = (layer.in_features, layer.out_features);
    let (x_split, rest) = scratch.split_at_mut(k);
    let out = if beta == 0.0 { &mut *y } else { &mut rest[..n] };
    match weight {
        WeightData::Bf16(w) => gemv_bf16(x, w, n, k, x_split, out)?,
        WeightData::F16(w) => gemv_f16(x, w, n, k, x_split, out)?,
        _ => unreachable_kind()?,
    }
    if beta != 0.0 {
        add_inplace(y, &rest[..n])?;
    }
    Ok(())
}

/// Several rows against 16-bit weights: widen [`HALF_BLOCK_ROWS`] weight rows
/// at a time into `scratch`, then GEMM that block of output columns.
pub(super) fn half_gemm(
    layer: &Linear<'_>,
    weight: WeightData<'_>,
    x: &MatRef<'_>,
    y: &mut MatMut<'_>,
    beta: f32,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let (k, n) = (layer.in_features, layer.out_features);
    for r0 in (0..n).step_by(HALF_BLOCK_ROWS) {
        let rows = HALF_BLOCK_ROWS.min(n - r0);
        let block = &mut scratch[..rows * k];
        let range = r0 * k..(r0 + rows) * k;
        match weight {
            WeightData::Bf16(w) => bf16_to_f32(&w[range], block)?,
            WeightData::F16(w) => f16_to_f32(&w[range], block)?,
            _ => unreachable_kind()?,
        }
        let g = Gemm::new(x.rows, rows, k)
            .transpose_b()
            .lda(x.ld)
            .ldb(k)
            .ldc(y.ld)
            .beta(beta);
        let c = &mut y.data[r0..];
        let c_len = span(x.rows, rows, y.ld);
        gemm(&g, x.data, block, &mut c[..c_len])?;
    }
    Ok(())
}

/// Other weight types are dispatched before the 16-bit helpers; reaching them here is a bug.
fn unreachable_kind() -> Result<(), OpsError> {
    Err(OpsError::DType {
        op: "linear",
        dtype: "a non-16-bit weight in the 16-bit path",
    })
}
