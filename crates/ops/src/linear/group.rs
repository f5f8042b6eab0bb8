//! Several linears over the same one-row input in one parallel region: decode's
//! `q | k | v` and SwiGLU's `gate | up`. Their output rows are planned together
//! ([`plan_many`]), so the small `k` and `v` projections are shared out with
//! `q` instead of running alone on one worker, and the workers meet once
//! instead of once per matrix.
//!
//! Every output row is computed by the same kernel as [`linear`] would use, on
//! a run of rows starting at a multiple of the kernel's split alignment, so the
//! results are bit-identical to calling [`linear`] on each layer (and so for
//! any thread count). Several input rows (a prefill chunk) through quantized
//! layers of one format share the quantized input: it is made once, then each
//! layer runs its GEMM. Groups the kernels cannot share — 16-bit weights (their
//! GEMV keeps per-call scratch), quantized layers of different formats with
//! quantized activations, `[in, out]` f32 layouts, biases, strided outputs —
//! run as [`linear`] calls one after another.

use smallmind_kernels::dtype::QuantVisitor;
use smallmind_kernels::gemm::Gemm;
use smallmind_kernels::gemv::{
    GEMV_PARALLEL_MIN_BYTES as F32_MIN_BYTES, GEMV_PART_ALIGN as F32_ALIGN, gemv as gemv_dense,
};
use smallmind_kernels::parallel::{plan_many, try_for_each_part_mut_many};
use smallmind_kernels::quant::{
    GEMV_PARALLEL_MIN_BYTES as QUANT_MIN_BYTES, WeightFormat, blocks_from_bytes, gemm, gemv_f32,
};

use super::quant::quantize_rows;
use super::{ActivationPrecision, Linear, WeightData, WeightLayout, linear};
use crate::OpsError;
use crate::matrix::{MatMut, MatRef};

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
    if x.rows > 1 {
        return gemm_many(layers, x, ys, scratch);
    }
    let row = x.row(0);
    let k = row.len();
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
            Ok(gemv_dense(&g, row, w, y)?)
        }),
        Kind::QuantF32 => try_for_each_part_mut_many(splits, outs, |i, rows, y| {
            visit_rows(layers[i], rows, RowsF32 { x: row, y })
        }),
        Kind::Quant => {
            // One format: quantize `x` once for every layer.
            let (acts, _) = quantize_rows_once(layers[0], &x, scratch)?;
            let acts: &[f32] = acts;
            try_for_each_part_mut_many(splits, outs, |i, rows, y| {
                visit_rows(layers[i], rows, GemmRows { acts, m: 1, y })
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

/// Several input rows through quantized layers of one format ([`Kind::Quant`]):
/// `x` quantized once into the front of the scratch, then each layer's GEMM
/// into its `y`.
fn gemm_many<const N: usize>(
    layers: [&Linear<'_>; N],
    x: MatRef<'_>,
    ys: [MatMut<'_>; N],
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let (acts, staging) = quantize_rows_once(layers[0], &x, scratch)?;
    for (layer, y) in layers.into_iter().zip(ys) {
        gemm_layer(layer, acts, y, staging)?;
    }
    Ok(())
}

/// `layers`' outputs side by side in the columns of `y (rows, Σ out)`, in
/// order: decode's and prefill's `q | k | v` rows. One row runs as
/// [`linear_many`] over the row's runs; several rows through quantized layers
/// of one format quantize `x` once; anything else runs as one [`linear`] per
/// layer into its columns. Bit-identical to one [`linear`] per layer.
///
/// # Errors
/// [`OpsError::Shape`] if `y`'s columns are not the layers' outputs in all;
/// else as [`linear`], for any layer.
pub fn linear_columns<const N: usize>(
    layers: [&Linear<'_>; N],
    x: MatRef<'_>,
    y: MatMut<'_>,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let total: usize = layers.iter().map(|l| l.out_features).sum();
    if y.cols != total {
        return Err(OpsError::Shape {
            op: "linear_columns",
            what: format!("y has {} columns for outputs of {total} in all", y.cols),
        });
    }
    let MatMut { data, rows, ld, .. } = y;
    if rows == 1 {
        let mut rest = &mut data[..total];
        let ys = layers.map(|layer| {
            let (run, tail) = std::mem::take(&mut rest).split_at_mut(layer.out_features);
            rest = tail;
            MatMut {
                data: run,
                rows: 1,
                cols: layer.out_features,
                ld: layer.out_features,
            }
        });
        return linear_many(layers, x, ys, scratch);
    }
    let mut start = 0;
    for layer in layers {
        let y = MatMut::strided(&mut data[start..], rows, layer.out_features, ld)?;
        layer.check_io("linear_columns", &x, &y)?;
        start += layer.out_features;
    }
    let shared = match kind(&layers, 1) {
        Some(Kind::Quant) => Some(quantize_rows_once(layers[0], &x, scratch)?),
        _ => None,
    };
    let mut start = 0;
    match shared {
        Some((acts, staging)) => {
            for layer in layers {
                let y = MatMut::strided(&mut data[start..], rows, layer.out_features, ld)?;
                gemm_layer(layer, acts, y, staging)?;
                start += layer.out_features;
            }
        }
        None => {
            for layer in layers {
                let y = MatMut::strided(&mut data[start..], rows, layer.out_features, ld)?;
                linear(layer, x, y, scratch)?;
                start += layer.out_features;
            }
        }
    }
    Ok(())
}

/// Quantizes `x` for `layer`'s format into the front of `scratch`: that
/// front (blocks viewed as floats) and the rest of the scratch.
fn quantize_rows_once<'s>(
    layer: &Linear<'_>,
    x: &MatRef<'_>,
    scratch: &'s mut [f32],
) -> Result<(&'s [f32], &'s mut [f32]), OpsError> {
    let WeightData::Quant { dtype, .. } = layer.weight else {
        return Err(mixed_group());
    };
    let (acts, rest) = dtype
        .visit_quantized(QuantizeRows { x, scratch })
        .unwrap_or(Err(OpsError::DType {
            op: "linear_many",
            dtype: dtype.name(),
        }))?;
    Ok((acts, rest))
}

/// `y = x·Wᵀ` for quantized `layer` from the quantized rows `acts`: the GEMM
/// straight into a contiguous `y`, else into `staging` and copied row by row.
fn gemm_layer(
    layer: &Linear<'_>,
    acts: &[f32],
    mut y: MatMut<'_>,
    staging: &mut [f32],
) -> Result<(), OpsError> {
    let (m, n) = (y.rows, y.cols);
    if y.ld == n || m <= 1 {
        let job = GemmRows {
            acts,
            m,
            y: &mut y.data[..m * n],
        };
        return visit_rows(layer, 0..layer.out_features, job);
    }
    let actual = staging.len();
    let staged = staging.get_mut(..m * n).ok_or(OpsError::Length {
        op: "linear_columns",
        operand: "scratch",
        expected: m * n,
        actual,
    })?;
    visit_rows(
        layer,
        0..layer.out_features,
        GemmRows {
            acts,
            m,
            y: &mut *staged,
        },
    )?;
    for (r, row) in staged.chunks_exact(n).enumerate() {
        y.row_mut(r).copy_from_slice(row);
    }
    Ok(())
}

/// The shared kind of `layers` for `rows` input rows, if they can share work:
/// one region for one row, one quantized input for several.
fn kind(layers: &[&Linear<'_>], rows: usize) -> Option<Kind> {
    if layers.iter().any(|l| l.bias.is_some()) {
        return None;
    }
    if rows != 1 {
        return match kind(layers, 1)? {
            Kind::Quant => Some(Kind::Quant),
            _ => None,
        };
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

/// Quantizes every input row into the front of the scratch (in parallel for a
/// chunk of rows); returns that front (the blocks, viewed as floats) and the
/// rest.
struct QuantizeRows<'s, 'x, 'm> {
    x: &'x MatRef<'m>,
    scratch: &'s mut [f32],
}

impl<'s> QuantVisitor for QuantizeRows<'s, '_, '_> {
    type Output = Result<(&'s [f32], &'s mut [f32]), OpsError>;
    fn visit<W: WeightFormat>(self) -> Self::Output {
        let blocks = self.x.rows * (self.x.cols / W::VALUES);
        let floats = (blocks * size_of::<W::Act>()).div_ceil(size_of::<f32>());
        let actual = self.scratch.len();
        if floats > actual {
            return Err(OpsError::Length {
                op: "linear_many",
                operand: "scratch",
                expected: floats,
                actual,
            });
        }
        let (front, rest) = self.scratch.split_at_mut(floats);
        quantize_rows::<W::Act>(self.x, front)?;
        Ok((front, rest))
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

/// Quantized activation rows (`acts`, `m` rows of blocks viewed as floats):
/// the integer GEMM into `y (m, n)` (for one row, the GEMV it runs).
struct GemmRows<'a, 'y> {
    acts: &'a [f32],
    m: usize,
    y: &'y mut [f32],
}

impl QuantRows for GemmRows<'_, '_> {
    fn run<W: WeightFormat>(self, w: &[W], n: usize, k: usize) -> Result<(), OpsError> {
        let bytes: &[u8] = bytemuck::cast_slice(self.acts);
        let len = self.m * (k / W::VALUES) * size_of::<W::Act>();
        let acts: &[W::Act] = bytes
            .get(..len)
            .and_then(|b| bytemuck::try_cast_slice(b).ok())
            .ok_or(OpsError::DType {
                op: "linear_many",
                dtype: "activation blocks in short or misaligned scratch",
            })?;
        Ok(gemm(w, n, k, acts, self.m, self.y)?)
    }
}
