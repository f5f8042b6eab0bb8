//! Several linears over the same one-row input in one parallel region: decode's
//! `q | k | v` and SwiGLU's `gate | up`. Their output rows are planned together
//! ([`plan_many`]), so the small `k` and `v` projections are shared out with
//! `q` instead of running alone on one worker, and the workers meet once
//! instead of once per matrix.
//!
//! Every output row is computed by the same kernel as [`linear`] would use, on
//! a run of rows starting at a multiple of the kernel's split alignment, so the
//! results are bit-identical to calling [`linear`] on each layer (and so for
//! any thread count). Groups the kernels cannot share this way — several input
//! rows, 16-bit weights (their GEMV keeps per-call scratch), quantized layers
//! of different formats with quantized activations, `[in, out]` f32 layouts,
//! biases — run as [`linear`] calls one after another.

use smallmind_kernels::dtype::QuantVisitor;
use smallmind_kernels::gemm::Gemm;
use smallmind_kernels::gemv::{GEMV_PARALLEL_MIN_BYTES as F32_MIN_BYTES, gemv as gemv_dense};
use smallmind_kernels::parallel::{plan_many, try_for_each_part_mut_many};
use smallmind_kernels::quant::{
    GEMV_PARALLEL_MIN_BYTES as QUANT_MIN_BYTES, WeightFormat, blocks_from_bytes, gemv, gemv_f32,
    quantize,
};

use super::quant::as_blocks;
use super::{ActivationPrecision, Linear, WeightData, WeightLayout, linear};
use crate::OpsError;
use crate::matrix::{MatMut, MatRef};

/// Row alignment of the f32 GEMV's parts (its `TASK_ALIGN`).
const F32_ALIGN: usize = 256;
/// Row alignment of the quantized GEMV's parts (its tile height).
const QUANT_ALIGN: usize = 4;
/// Parts per worker, as the single-matrix GEMVs plan them.
const F32_PARTS_PER_WORKER: usize = 16;
const QUANT_PARTS_PER_WORKER: usize = 8;

/// How a group's rows are computed.
#[derive(Clone, Copy)]
enum Kind {
    /// `[out, in]` f32 weights: the f32 GEMV (A·Bᵀ form).
    F32,
    /// Quantized weights of any formats, f32 activations.
    QuantF32,
    /// Quantized weights of one format, activations quantized once.
    Quant,
}

/// `ys[i] = x·Wᵢᵀ` for every layer, `x` one row or several; one region for
/// one row when the layers allow it (see the module docs). `scratch` holds at
/// least the largest [`Linear::scratch_len`] of the layers.
///
/// # Errors
/// As [`linear`], for any layer.
pub fn linear_many<const N: usize>(
    layers: [&Linear<'_>; N],
    x: MatRef<'_>,
    ys: [MatMut<'_>; N],
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    for (layer, y) in layers.iter().zip(&ys) {
        layer.check_io("linear_many", &x, y)?;
    }
    let Some(kind) = kind(&layers, x.rows) else {
        for (layer, y) in layers.into_iter().zip(ys) {
            linear(layer, x, y, scratch)?;
        }
        return Ok(());
    };
    let x = x.row(0);
    let k = x.len();
    let lens = layers.map(|l| l.out_features);
    let bytes: usize = layers.iter().map(|l| weight_bytes(l)).sum();
    let splits = match kind {
        Kind::F32 => plan_many(
            lens,
            F32_ALIGN,
            bytes,
            F32_MIN_BYTES / 2,
            F32_PARTS_PER_WORKER,
        ),
        Kind::Quant | Kind::QuantF32 => plan_many(
            lens,
            QUANT_ALIGN,
            bytes,
            QUANT_MIN_BYTES / 2,
            QUANT_PARTS_PER_WORKER,
        ),
    };
    let outs = ys.map(|y| {
        let MatMut { data, cols, .. } = y;
        &mut data[..cols]
    });
    match kind {
        Kind::F32 => try_for_each_part_mut_many(splits, outs, |i, rows, y| {
            let WeightData::F32(w) = layers[i].weight else {
                return Err(mixed_group());
            };
            let ld = layers[i].ld;
            let g = Gemm::new(1, rows.len(), k).transpose_b().ldb(ld);
            let w = w.get(rows.start * ld..).unwrap_or_default();
            Ok(gemv_dense(&g, x, w, y)?)
        }),
        Kind::QuantF32 => try_for_each_part_mut_many(splits, outs, |i, rows, y| {
            visit_rows(layers[i], rows, RowsF32 { x, y })
        }),
        Kind::Quant => {
            // One format: quantize `x` once for every layer.
            let WeightData::Quant { dtype, .. } = layers[0].weight else {
                return Err(mixed_group());
            };
            let acts = dtype
                .visit_quantized(QuantizeRow { x, scratch })
                .unwrap_or(Err(OpsError::DType {
                    op: "linear_many",
                    dtype: dtype.name(),
                }))?;
            let acts: &[f32] = acts;
            try_for_each_part_mut_many(splits, outs, |i, rows, y| {
                visit_rows(layers[i], rows, RowsQuant { acts, y })
            })
        }
    }
}

/// Bytes of `layer`'s weights, the work the split is planned by.
fn weight_bytes(layer: &Linear<'_>) -> usize {
    match layer.weight {
        WeightData::Quant { bytes, .. } => bytes.len(),
        _ => layer.out_features * layer.in_features * size_of::<f32>(),
    }
}

/// A layer of another kind than [`kind`] found: a bug in this module, reported
/// rather than panicking.
fn mixed_group() -> OpsError {
    OpsError::DType {
        op: "linear_many",
        dtype: "a layer of another kind than its group's",
    }
}

/// The shared kind of `layers` for `rows` input rows, if one region can run them.
fn kind(layers: &[&Linear<'_>], rows: usize) -> Option<Kind> {
    if rows != 1 || layers.iter().any(|l| l.bias.is_some()) {
        return None;
    }
    let first = layers.first()?;
    match first.weight {
        WeightData::F32(_) => layers
            .iter()
            .all(|l| matches!(l.weight, WeightData::F32(_)) && l.layout == WeightLayout::OutIn)
            .then_some(Kind::F32),
        WeightData::Quant { dtype, .. } => {
            let quant = |l: &&Linear<'_>| matches!(l.weight, WeightData::Quant { .. });
            if !layers.iter().all(quant) {
                return None;
            }
            let same = |l: &&Linear<'_>| {
                matches!(l.weight, WeightData::Quant { dtype: d, .. } if d == dtype)
                    && l.activations == first.activations
            };
            match first.activations {
                ActivationPrecision::F32 => layers
                    .iter()
                    .all(|l| l.activations == ActivationPrecision::F32)
                    .then_some(Kind::QuantF32),
                ActivationPrecision::Quantized => layers.iter().all(same).then_some(Kind::Quant),
            }
        }
        _ => None,
    }
}

/// Quantizes the one input row into the front of the scratch; returns that
/// front (the blocks, viewed as floats).
struct QuantizeRow<'a> {
    x: &'a [f32],
    scratch: &'a mut [f32],
}

impl<'a> QuantVisitor for QuantizeRow<'a> {
    type Output = Result<&'a [f32], OpsError>;
    fn visit<W: WeightFormat>(self) -> Self::Output {
        let blocks = self.x.len() / W::VALUES;
        let floats = (blocks * size_of::<W::Act>()).div_ceil(size_of::<f32>());
        let actual = self.scratch.len();
        let front = self.scratch.get_mut(..floats).ok_or(OpsError::Length {
            op: "linear_many",
            operand: "scratch",
            expected: floats,
            actual,
        })?;
        quantize(self.x, as_blocks::<W::Act>(front, blocks)?)?;
        Ok(front)
    }
}

/// A computation over a run of a quantized layer's output rows, in its format.
trait QuantRows {
    fn run<W: WeightFormat>(self, w: &[W], n: usize, k: usize) -> Result<(), OpsError>;
}

/// Rows `rows` of quantized `layer` through `job` (its blocks viewed in `W`).
fn visit_rows(
    layer: &Linear<'_>,
    rows: std::ops::Range<usize>,
    job: impl QuantRows,
) -> Result<(), OpsError> {
    struct Visit<'a, J> {
        bytes: &'a [u8],
        rows: std::ops::Range<usize>,
        k: usize,
        job: J,
    }
    impl<J: QuantRows> QuantVisitor for Visit<'_, J> {
        type Output = Result<(), OpsError>;
        fn visit<W: WeightFormat>(self) -> Self::Output {
            let w = blocks_from_bytes::<W>(self.bytes)?;
            let nb = self.k / W::VALUES;
            let sub = w
                .get(self.rows.start * nb..self.rows.end * nb)
                .ok_or(OpsError::Length {
                    op: "linear_many",
                    operand: "weight",
                    expected: self.rows.end * nb,
                    actual: w.len(),
                })?;
            self.job.run(sub, self.rows.len(), self.k)
        }
    }
    let WeightData::Quant { dtype, bytes } = layer.weight else {
        return Err(mixed_group());
    };
    let k = layer.in_features;
    dtype
        .visit_quantized(Visit {
            bytes,
            rows,
            k,
            job,
        })
        .unwrap_or(Err(OpsError::DType {
            op: "linear_many",
            dtype: dtype.name(),
        }))
}

/// f32 activations: the dequantizing GEMV.
struct RowsF32<'a, 'y> {
    x: &'a [f32],
    y: &'y mut [f32],
}

impl QuantRows for RowsF32<'_, '_> {
    fn run<W: WeightFormat>(self, w: &[W], n: usize, k: usize) -> Result<(), OpsError> {
        Ok(gemv_f32(w, n, k, self.x, self.y)?)
    }
}

/// Quantized activations (`acts`, blocks viewed as floats): the integer GEMV.
struct RowsQuant<'a, 'y> {
    acts: &'a [f32],
    y: &'y mut [f32],
}

impl QuantRows for RowsQuant<'_, '_> {
    fn run<W: WeightFormat>(self, w: &[W], n: usize, k: usize) -> Result<(), OpsError> {
        let bytes: &[u8] = bytemuck::cast_slice(self.acts);
        let len = k / W::VALUES * size_of::<W::Act>();
        let acts: &[W::Act] = bytes
            .get(..len)
            .and_then(|b| bytemuck::try_cast_slice(b).ok())
            .ok_or(OpsError::DType {
                op: "linear_many",
                dtype: "activation blocks in short or misaligned scratch",
            })?;
        Ok(gemv(w, n, k, acts, self.y)?)
    }
}
