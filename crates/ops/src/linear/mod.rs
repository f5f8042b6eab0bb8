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
//! Block-quantized weights (ggml's Q8_0, Q4_0, Q4_1, `[out, in/32]` blocks, and the K-quants
//! Q4_K, Q6_K, `[out, in/256]` superblocks) are used in place too: the activations are quantized once per row and every block dot is an integer sum (see
//! [`ActivationPrecision`] and the `quant` module).
//!
//! [`linear_accumulate`] adds the product into `y` instead of overwriting it:
//! with `y` the residual stream, the residual add is fused into the GEMM's
//! `β = 1` epilogue and never makes a separate pass.

mod group;
mod half;
mod quant;

pub use group::{linear_columns, linear_many};

use ::half::{bf16, f16};
use smallmind_kernels::DType;
use smallmind_kernels::dtype::QuantVisitor;
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::quant::{BlockFormat, QK_K, WeightFormat};
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
    /// Block-quantized `[out, in/VALUES]` blocks of a registered format, as stored.
    Quant {
        /// The format (a quantized [`DType`]).
        dtype: DType,
        /// The blocks' bytes.
        bytes: &'w [u8],
    },
}

/// How a quantized layer treats its input rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ActivationPrecision {
    /// Quantize each row once (to Q8_0, or Q8_1 for Q4_1 weights) and take integer block
    /// dots, as llama.cpp does: fast, and adds about `|x|/254` of rounding per element (the
    /// bound is in `smallmind_kernels::quant`).
    #[default]
    Quantized,
    /// Keep the rows in f32 and dequantize each weight block in registers: the exact path,
    /// matching "dequantize, then compute in f32" up to f32 summation.
    F32,
}

impl<'w> WeightData<'w> {
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
            WeightData::Quant { dtype, bytes } => {
                bytes.len() / dtype.block_bytes() * dtype.block_size()
            }
        }
    }

    /// Whether the elements are blocks of a quantized format.
    pub fn is_quantized(&self) -> bool {
        matches!(self, WeightData::Quant { .. })
    }

    /// Elements per block: 32 or 256 for quantized formats, 1 otherwise.
    pub fn block_size(&self) -> usize {
        match self {
            WeightData::Quant { dtype, .. } => dtype.block_size(),
            _ => 1,
        }
    }

    /// Blocks of a registered format, viewed as stored.
    ///
    /// # Errors
    /// [`OpsError::DType`] if `W` is not in the registry.
    pub fn quantized<W: BlockFormat>(blocks: &'w [W]) -> Result<Self, OpsError> {
        let dtype = DType::of::<W>().ok_or(OpsError::DType {
            op: "WeightData::quantized",
            dtype: W::NAME,
        })?;
        Ok(WeightData::Quant {
            dtype,
            bytes: bytemuck::cast_slice(blocks),
        })
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
    /// How quantized weights treat the input rows (ignored otherwise).
    pub activations: ActivationPrecision,
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

    /// A 16-bit or block-quantized `[out, in]` weight (contiguous rows), checked; quantized
    /// weights need `in_features` to be a multiple of their block size (32, or 256 for the
    /// K-quants).
    pub fn half(
        weight: WeightData<'w>,
        in_features: usize,
        out_features: usize,
        bias: Option<&'w [f32]>,
    ) -> Result<Self, OpsError> {
        let block = weight.block_size();
        if !in_features.is_multiple_of(block) {
            return Err(OpsError::Shape {
                op: "Linear::half",
                what: format!("{in_features} input features are not whole blocks of {block}"),
            });
        }
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

    /// The same layer with quantized weights treating their input as `activations`.
    pub fn with_activations(self, activations: ActivationPrecision) -> Self {
        Linear {
            activations,
            ..self
        }
    }

    /// Floats of scratch the layer needs for `rows` input rows (0 for f32
    /// weights): for 16-bit weights `x` split and one output row for decode,
    /// a widened block of [`HALF_BLOCK_ROWS`] weight rows for prefill; for
    /// quantized weights the activation rows quantized to blocks (none with
    /// f32 activations) and a `(rows, out)` output block.
    pub fn scratch_len(&self, rows: usize) -> usize {
        match self.weight {
            WeightData::F32(_) => 0,
            w if w.is_quantized() => quant::scratch_len(self, rows),
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
            activations: ActivationPrecision::default(),
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
        w if w.is_quantized() => quant::apply(layer, w, &x, &mut y, beta, scratch)?,
        w if x.rows == 1 => half::half_gemv(layer, w, x.row(0), y.row_mut(0), beta, scratch)?,
        w => half::half_gemm(layer, w, &x, &mut y, beta, scratch)?,
    }
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
                let at = match layer.layout {
                    WeightLayout::OutIn => o * layer.ld + i,
                    WeightLayout::InOut => i * layer.ld + o,
                };
                let w = weight_ref(&layer.weight, at);
                acc += f64::from(xi) * f64::from(w);
            }
            *out = acc as f32;
        }
    }
    Ok(())
}

/// Element `at` of a weight in f32 (a quantized block dequantized as ggml does).
fn weight_ref(weight: &WeightData<'_>, at: usize) -> f32 {
    struct BlockValue<'a> {
        bytes: &'a [u8],
        at: usize,
    }
    impl QuantVisitor for BlockValue<'_> {
        type Output = f32;
        fn visit<W: WeightFormat>(self) -> f32 {
            let block: W = bytemuck::pod_read_unaligned(
                &self.bytes[self.at / W::VALUES * size_of::<W>()..][..size_of::<W>()],
            );
            let mut values = [0.0; QK_K];
            block.dequantize_block(&mut values[..W::VALUES]);
            values[self.at % W::VALUES]
        }
    }
    match *weight {
        WeightData::F32(w) => w[at],
        WeightData::Bf16(w) => w[at].to_f32(),
        WeightData::F16(w) => w[at].to_f32(),
        WeightData::Quant { dtype, bytes } => dtype
            .visit_quantized(BlockValue { bytes, at })
            .unwrap_or(f32::NAN),
    }
}
