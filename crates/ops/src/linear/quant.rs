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
use smallmind_kernels::KernelError;
use smallmind_kernels::quant::{
    BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, QK, QK_K, gemm_q4_0,
    gemm_q4_1, gemm_q4_k, gemm_q6_k, gemm_q8_0, gemv_q4_0, gemv_q4_0_f32, gemv_q4_1, gemv_q4_1_f32,
    gemv_q4_k, gemv_q4_k_f32, gemv_q6_k, gemv_q6_k_f32, gemv_q8_0, gemv_q8_0_f32, quantize_q8_0,
    quantize_q8_1, quantize_q8_k,
};
use smallmind_kernels::vector::add_inplace;

use super::{ActivationPrecision, Linear, WeightData};
use crate::OpsError;
use crate::matrix::{MatMut, MatRef};

/// The kernels of one weight format.
trait QuantKernels: Pod + Sync {
    /// The activation block type.
    type Act: Pod;
    /// Values per weight (and activation) block.
    const BLOCK: usize;
    fn quantize(x: &[f32], out: &mut [Self::Act]) -> Result<(), KernelError>;
    fn gemv(
        w: &[Self],
        n: usize,
        k: usize,
        x: &[Self::Act],
        y: &mut [f32],
    ) -> Result<(), KernelError>;
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        w: &[Self],
        n: usize,
        k: usize,
        x: &[Self::Act],
        m: usize,
        y: &mut [f32],
    ) -> Result<(), KernelError>;
    fn gemv_f32(
        w: &[Self],
        n: usize,
        k: usize,
        x: &[f32],
        y: &mut [f32],
    ) -> Result<(), KernelError>;
}

macro_rules! quant_kernels {
    ($block:ty, $act:ty, $size:expr, $quantize:ident, $gemv:ident, $gemm:ident, $gemv_f32:ident) => {
        impl QuantKernels for $block {
            type Act = $act;
            const BLOCK: usize = $size;
            fn quantize(x: &[f32], out: &mut [Self::Act]) -> Result<(), KernelError> {
                $quantize(x, out)
            }
            fn gemv(
                w: &[Self],
                n: usize,
                k: usize,
                x: &[Self::Act],
                y: &mut [f32],
            ) -> Result<(), KernelError> {
                $gemv(w, n, k, x, y)
            }
            fn gemm(
                w: &[Self],
                n: usize,
                k: usize,
                x: &[Self::Act],
                m: usize,
                y: &mut [f32],
            ) -> Result<(), KernelError> {
                $gemm(w, n, k, x, m, y)
            }
            fn gemv_f32(
                w: &[Self],
                n: usize,
                k: usize,
                x: &[f32],
                y: &mut [f32],
            ) -> Result<(), KernelError> {
                $gemv_f32(w, n, k, x, y)
            }
        }
    };
}

quant_kernels!(
    BlockQ8_0,
    BlockQ8_0,
    QK,
    quantize_q8_0,
    gemv_q8_0,
    gemm_q8_0,
    gemv_q8_0_f32
);
quant_kernels!(
    BlockQ4_0,
    BlockQ8_0,
    QK,
    quantize_q8_0,
    gemv_q4_0,
    gemm_q4_0,
    gemv_q4_0_f32
);
quant_kernels!(
    BlockQ4_1,
    BlockQ8_1,
    QK,
    quantize_q8_1,
    gemv_q4_1,
    gemm_q4_1,
    gemv_q4_1_f32
);

quant_kernels!(
    BlockQ4K,
    BlockQ8K,
    QK_K,
    quantize_q8_k,
    gemv_q4_k,
    gemm_q4_k,
    gemv_q4_k_f32
);
quant_kernels!(
    BlockQ6K,
    BlockQ8K,
    QK_K,
    quantize_q8_k,
    gemv_q6_k,
    gemm_q6_k,
    gemv_q6_k_f32
);

/// Floats of scratch for `rows` input rows: the quantized rows (none on the f32 path) and an
/// `(rows, out)` output block.
pub(super) fn scratch_len(layer: &Linear<'_>, rows: usize) -> usize {
    let act_bytes = match (layer.activations, layer.weight) {
        (ActivationPrecision::F32, _) => 0,
        (_, WeightData::Q4_1(_)) => size_of::<BlockQ8_1>(),
        (_, WeightData::Q4_K(_) | WeightData::Q6_K(_)) => size_of::<BlockQ8K>(),
        _ => size_of::<BlockQ8_0>(),
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
    match weight {
        WeightData::Q8_0(w) => apply_blocks(layer, w, x, y, beta, scratch),
        WeightData::Q4_0(w) => apply_blocks(layer, w, x, y, beta, scratch),
        WeightData::Q4_1(w) => apply_blocks(layer, w, x, y, beta, scratch),
        WeightData::Q4_K(w) => apply_blocks(layer, w, x, y, beta, scratch),
        WeightData::Q6_K(w) => apply_blocks(layer, w, x, y, beta, scratch),
        _ => Err(OpsError::DType {
            op: "linear",
            dtype: "a non-quantized weight in the quantized path",
        }),
    }
}

fn apply_blocks<W: QuantKernels>(
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
                W::gemv_f32(w, n, k, x.row(r), out_row)?;
            }
        }
        ActivationPrecision::Quantized => {
            let acts = as_blocks::<W::Act>(act_scratch, rows * (k / W::BLOCK))?;
            for (r, act_row) in acts.chunks_exact_mut(k / W::BLOCK).enumerate() {
                W::quantize(x.row(r), act_row)?;
            }
            if rows == 1 {
                W::gemv(w, n, k, acts, out)?;
            } else {
                W::gemm(w, n, k, acts, rows, out)?;
            }
        }
    }
    if !in_place {
        merge_rows(out_scratch, y, beta)?;
    }
    Ok(())
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
fn as_blocks<B: Pod>(scratch: &mut [f32], len: usize) -> Result<&mut [B], OpsError> {
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
