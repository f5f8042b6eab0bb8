//! Linear layers: `y = x·Wᵀ + b` over `(T, in)` rows.
//!
//! Weights come in the two layouts of Hugging Face checkpoints:
//! - [`WeightLayout::OutIn`]: `nn.Linear`, stored `(out, in)`, so the product
//!   is `x·Wᵀ` (GEMM with a transposed `B`, the dot-product GEMV for one row);
//! - [`WeightLayout::InOut`]: GPT-2's `Conv1D`, stored `(in, out)`, so the
//!   product is `x·W`.
//!
//! Both are used in place from wherever the weight lives (a memory map for f32
//! checkpoints); f16/bf16 weights are widened to f32 once at load by the model
//! crate. One row (decode) goes through the GEMV kernels, several rows through
//! GEMM.
//!
//! [`linear_accumulate`] adds the product into `y` instead of overwriting it:
//! with `y` the residual stream, the residual add is fused into the GEMM's
//! `β = 1` epilogue and never makes a separate pass.

use smallmind_kernels::gemm::{Gemm, gemm};
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

/// A borrowed linear layer: an f32 weight (possibly a column block of a wider
/// matrix, via `ld`) and an optional bias.
#[derive(Clone, Copy, Debug)]
pub struct Linear<'w> {
    /// The weight elements, in `layout`, with row stride `ld`.
    pub weight: &'w [f32],
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
    /// A contiguous weight in `layout` for `in_features → out_features`, checked.
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
        const OP: &str = "Linear";
        let (rows, cols) = match layout {
            WeightLayout::OutIn => (out_features, in_features),
            WeightLayout::InOut => (in_features, out_features),
        };
        MatRef::strided(weight, rows, cols, ld)?;
        if let Some(b) = bias
            && b.len() != out_features
        {
            return Err(OpsError::Length {
                op: OP,
                operand: "bias",
                expected: out_features,
                actual: b.len(),
            });
        }
        Ok(Linear {
            weight,
            layout,
            ld,
            in_features,
            out_features,
            bias,
        })
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

/// `y = x·Wᵀ + b`; `x` is `(T, in)`, `y` is `(T, out)`.
///
/// # Errors
/// [`OpsError::Shape`] when the views do not fit the layer.
pub fn linear(layer: &Linear<'_>, x: MatRef<'_>, y: MatMut<'_>) -> Result<(), OpsError> {
    apply("linear", layer, x, y, 0.0)
}

/// `y += x·Wᵀ + b` (the residual add fused into the GEMM epilogue).
///
/// # Errors
/// [`OpsError::Shape`] when the views do not fit the layer.
pub fn linear_accumulate(layer: &Linear<'_>, x: MatRef<'_>, y: MatMut<'_>) -> Result<(), OpsError> {
    apply("linear_accumulate", layer, x, y, 1.0)
}

/// `y = x·Wᵀ + β·y + b`.
fn apply(
    op: &'static str,
    layer: &Linear<'_>,
    x: MatRef<'_>,
    mut y: MatMut<'_>,
    beta: f32,
) -> Result<(), OpsError> {
    layer.check_io(op, &x, &y)?;
    let g = layer.gemm_desc(&x, &y, beta);
    let c = &mut y.data[..span(y.rows, y.cols, y.ld)];
    gemm(&g, x.data, layer.weight, c)?;
    layer.add_bias(&mut y)
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
                let w = match layer.layout {
                    WeightLayout::OutIn => layer.weight[o * layer.ld + i],
                    WeightLayout::InOut => layer.weight[i * layer.ld + o],
                };
                acc += f64::from(xi) * f64::from(w);
            }
            *out = acc as f32;
        }
    }
    Ok(())
}
