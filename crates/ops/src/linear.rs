//! Linear layers: `y = x·Wᵀ + b` over `(T, in)` rows.
//!
//! Weights come in the two layouts of Hugging Face checkpoints:
//! - [`WeightLayout::OutIn`]: `nn.Linear`, stored `(out, in)`, so the product
//!   is `x·Wᵀ` (GEMM with a transposed `B`, the dot-product GEMV for one row);
//! - [`WeightLayout::InOut`]: GPT-2's `Conv1D`, stored `(in, out)`, so the
//!   product is `x·W`.
//!
//! Weights are used in place from wherever they live (a memory map for
//! checkpoints), in f32, bf16 or f16 ([`WeightData`]). One row (decode) goes
//! through the GEMV kernels — for 16-bit weights the in-place `gemv_half`
//! kernels, which move half the bytes (measured 1.8–2.7× faster than an f32
//! GEMV on weights widened at load). Several rows (prefill) go through GEMM;
//! 16-bit weights are widened there [`HALF_BLOCK_ROWS`] output rows at a time
//! into caller scratch, a cost small next to the GEMM's `2·T` flops per weight.
//!
//! [`linear_accumulate`] adds the product into `y` instead of overwriting it:
//! with `y` the residual stream, the residual add is fused into the GEMM's
//! `β = 1` epilogue and never makes a separate pass.

use half::{bf16, f16};
use smallmind_kernels::convert::{bf16_to_f32, f16_to_f32};
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::gemv_half::{gemv_bf16, gemv_f16};
use smallmind_kernels::vector::add_inplace;

use crate::OpsError;
use crate::matrix::{MatMut, MatRef, span};

/// How a weight matrix is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `(out, in)`, PyTorch `nn.Linear`.
    OutIn,
    /// `(in, out)`, GPT-2 `Conv1D`.
    InOut,
}

/// Output rows of a 16-bit weight widened per GEMM call in prefill.
pub const HALF_BLOCK_ROWS: usize = 256;

/// A weight's elements in their stored precision.
#[derive(Clone, Copy, Debug)]
pub enum WeightData<'w> {
    /// f32, any layout and row stride.
    F32(&'w [f32]),
    /// bfloat16, `[out, in]` contiguous.
    Bf16(&'w [bf16]),
    /// IEEE half, `[out, in]` contiguous.
    F16(&'w [f16]),
}

impl WeightData<'_> {
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            WeightData::F32(w) => w.len(),
            WeightData::Bf16(w) => w.len(),
            WeightData::F16(w) => w.len(),
        }
    }
}

/// A borrowed linear layer: a weight (possibly a column block of a wider f32
/// matrix, via `ld`) and an optional bias.
#[derive(Clone, Copy, Debug)]
pub struct Linear<'w> {
    /// The weight elements, in `layout`, with row stride `ld`.
    pub weight: WeightData<'w>,
    /// Storage layout of `weight`.
    pub layout: WeightLayout,
    /// Row stride of `weight` as stored.
    pub ld: usize,
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// `(out,)` bias, if any.
    pub bias: Option<&'w [f32]>,
}

impl<'w> Linear<'w> {
    /// A contiguous f32 weight in `layout` for `in_features → out_features`, checked.
    pub fn new(
        weight: &'w [f32],
        layout: WeightLayout,
        in_features: usize,
        out_features: usize,
        bias: Option<&'w [f32]>,
    ) -> Result<Self, OpsError> {
        let ld = match layout {
            WeightLayout::OutIn => in_features,
            WeightLayout::InOut => out_features,
        };
        Self::strided(weight, layout, ld, in_features, out_features, bias)
    }

    /// A 16-bit `[out, in]` weight (contiguous rows), checked.
    pub fn half(
        weight: WeightData<'w>,
        in_features: usize,
        out_features: usize,
        bias: Option<&'w [f32]>,
    ) -> Result<Self, OpsError> {
        let expected = in_features.saturating_mul(out_features);
        if weight.len() != expected {
            return Err(OpsError::Length {
                op: "Linear::half",
                operand: "weight",
                expected,
                actual: weight.len(),
            });
        }
        let mut layer = Self::strided(&[], WeightLayout::OutIn, in_features, 0, 0, None)?;
        layer.weight = weight;
        layer.in_features = in_features;
        layer.out_features = out_features;
        layer.check_bias(bias)?;
        layer.bias = bias;
        Ok(layer)
    }

    /// Floats of scratch the layer needs for `rows` input rows (0 for f32
    /// weights): `x` split and one output row for decode, a widened block
    /// of [`HALF_BLOCK_ROWS`] weight rows for prefill.
    pub fn scratch_len(&self, rows: usize) -> usize {
        match self.weight {
            WeightData::F32(_) => 0,
            _ if rows <= 1 => self.in_features + self.out_features,
            _ => HALF_BLOCK_ROWS.min(self.out_features) * self.in_features,
        }
    }

    /// As [`Linear::new`] with an explicit row stride (a column block of a
    /// wider stored matrix).
    pub fn strided(
        weight: &'w [f32],
        layout: WeightLayout,
        ld: usize,
        in_features: usize,
        out_features: usize,
        bias: Option<&'w [f32]>,
    ) -> Result<Self, OpsError> {
        let (rows, cols) = match layout {
            WeightLayout::OutIn => (out_features, in_features),
            WeightLayout::InOut => (in_features, out_features),
        };
        MatRef::strided(weight, rows, cols, ld)?;
        let layer = Linear {
            weight: WeightData::F32(weight),
            layout,
            ld,
            in_features,
            out_features,
            bias: None,
        };
        layer.check_bias(bias)?;
        Ok(Linear { bias, ..layer })
    }

    fn check_bias(&self, bias: Option<&[f32]>) -> Result<(), OpsError> {
        match bias {
            Some(b) if b.len() != self.out_features => Err(OpsError::Length {
                op: "Linear",
                operand: "bias",
                expected: self.out_features,
                actual: b.len(),
            }),
            _ => Ok(()),
        }
    }

    fn gemm_desc(&self, x: &MatRef<'_>, y: &MatMut<'_>, beta: f32) -> Gemm {
        let g = Gemm::new(x.rows, self.out_features, self.in_features)
            .lda(x.ld)
            .ldc(y.ld)
            .beta(beta);
        match self.layout {
            WeightLayout::OutIn => g.transpose_b().ldb(self.ld),
            WeightLayout::InOut => g.ldb(self.ld),
        }
    }

    fn check_io(&self, op: &'static str, x: &MatRef<'_>, y: &MatMut<'_>) -> Result<(), OpsError> {
        if x.cols != self.in_features || y.cols != self.out_features || x.rows != y.rows {
            return Err(OpsError::Shape {
                op,
                what: format!(
                    "x is ({}, {}), y is ({}, {}), the layer maps {} → {}",
                    x.rows, x.cols, y.rows, y.cols, self.in_features, self.out_features
                ),
            });
        }
        Ok(())
    }

    fn add_bias(&self, y: &mut MatMut<'_>) -> Result<(), OpsError> {
        if let Some(bias) = self.bias {
            for r in 0..y.rows {
                add_inplace(y.row_mut(r), bias)?;
            }
        }
        Ok(())
    }
}

/// `y = x·Wᵀ + b`; `x` is `(T, in)`, `y` is `(T, out)`; `scratch` holds at
/// least [`Linear::scratch_len`] floats (none for f32 weights).
///
/// # Errors
/// [`OpsError::Shape`] when the views do not fit the layer, [`OpsError::Length`]
/// when the scratch is too short.
pub fn linear(
    layer: &Linear<'_>,
    x: MatRef<'_>,
    y: MatMut<'_>,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    apply("linear", layer, x, y, 0.0, scratch)
}

/// `y += x·Wᵀ + b` (the residual add fused into the GEMM epilogue).
///
/// # Errors
/// As [`linear`].
pub fn linear_accumulate(
    layer: &Linear<'_>,
    x: MatRef<'_>,
    y: MatMut<'_>,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    apply("linear_accumulate", layer, x, y, 1.0, scratch)
}

/// `y = x·Wᵀ + β·y + b`.
fn apply(
    op: &'static str,
    layer: &Linear<'_>,
    x: MatRef<'_>,
    mut y: MatMut<'_>,
    beta: f32,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    layer.check_io(op, &x, &y)?;
    let need = layer.scratch_len(x.rows);
    let actual = scratch.len();
    let scratch = scratch.get_mut(..need).ok_or(OpsError::Length {
        op,
        operand: "scratch",
        expected: need,
        actual,
    })?;
    match layer.weight {
        WeightData::F32(w) => {
            let g = layer.gemm_desc(&x, &y, beta);
            gemm(&g, x.data, w, &mut y.data[..span(y.rows, y.cols, y.ld)])?;
        }
        half if x.rows == 1 => half_gemv(layer, half, x.row(0), y.row_mut(0), beta, scratch)?,
        half => half_gemm(layer, half, &x, &mut y, beta, scratch)?,
    }
    layer.add_bias(&mut y)
}

/// One row against 16-bit weights read in place: `y = W·x + β·y`.
fn half_gemv(
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
        WeightData::F32(_) => unreachable_f32()?,
    }
    if beta != 0.0 {
        add_inplace(y, &rest[..n])?;
    }
    Ok(())
}

/// Several rows against 16-bit weights: widen [`HALF_BLOCK_ROWS`] weight rows
/// at a time into `scratch`, then GEMM that block of output columns.
fn half_gemm(
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
            WeightData::F32(_) => unreachable_f32()?,
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

/// The f32 case is dispatched before the 16-bit helpers; reaching it there is a bug.
fn unreachable_f32() -> Result<(), OpsError> {
    Err(OpsError::DType {
        op: "linear",
        dtype: "f32 in a 16-bit path",
    })
}

/// Scalar twin of [`linear`] (f64 accumulation), the test oracle.
///
/// # Errors
/// As [`linear`].
pub fn linear_ref(layer: &Linear<'_>, x: MatRef<'_>, mut y: MatMut<'_>) -> Result<(), OpsError> {
    layer.check_io("linear_ref", &x, &y)?;
    for t in 0..x.rows {
        let xr = x.row(t);
        let yr = y.row_mut(t);
        for (o, out) in yr.iter_mut().enumerate() {
            let mut acc = layer.bias.map_or(0.0, |b| f64::from(b[o]));
            for (i, &xi) in xr.iter().enumerate() {
                let at = match layer.layout {
                    WeightLayout::OutIn => o * layer.ld + i,
                    WeightLayout::InOut => i * layer.ld + o,
                };
                let w = match layer.weight {
                    WeightData::F32(w) => w[at],
                    WeightData::Bf16(w) => w[at].to_f32(),
                    WeightData::F16(w) => w[at].to_f32(),
                };
                acc += f64::from(xi) * f64::from(w);
            }
            *out = acc as f32;
        }
    }
    Ok(())
}
