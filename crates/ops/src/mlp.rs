//! The two MLP forms, each adding its output into the residual stream.
//!
//! - GPT-2: `r += proj(act(fc(x)))` with GELU (tanh or erf form).
//! - Gated (Shazeer 2020, "GLU variants improve transformer"):
//!   `r += down(act(gate(x)) ⊙ up(x))`, SwiGLU with SiLU (Llama, Qwen),
//!   GeGLU with tanh GELU (Gemma).
//!
//! `x` is the normalized `(T, C)` input, `r` the `(T, C)` residual; the
//! `(T, F)` hidden buffers come from the caller's plan.

use smallmind_kernels::activation::{gelu_erf_inplace, gelu_tanh_inplace, silu_inplace};
use smallmind_kernels::vector::mul_inplace;

use crate::OpsError;
use crate::linear::{Linear, linear, linear_accumulate, linear_many};
use crate::matrix::{MatMut, MatRef};

/// The GELU form of a GPT-2 style MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gelu {
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (HF `gelu_new`).
    Tanh,
    /// `0.5·x·(1 + erf(x/√2))` (HF `gelu`).
    Erf,
}

/// `residual += proj(gelu(fc(x)))`, using `hidden` `(T, F)` as scratch;
/// `scratch` serves the layers (see [`crate::Linear::scratch_len`]).
///
/// # Errors
/// [`OpsError::Shape`] when the views do not fit the layers.
pub fn gelu_mlp(
    fc: &Linear<'_>,
    proj: &Linear<'_>,
    gelu: Gelu,
    x: MatRef<'_>,
    mut hidden: MatMut<'_>,
    residual: MatMut<'_>,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    linear(fc, x, reborrow(&mut hidden), scratch)?;
    let len = hidden.rows * hidden.ld;
    let h = &mut hidden.data[..len];
    match gelu {
        Gelu::Tanh => gelu_tanh_inplace(h),
        Gelu::Erf => gelu_erf_inplace(h),
    }
    linear_accumulate(proj, hidden.as_ref(), residual, scratch)
}

/// The activation of a gated MLP's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateActivation {
    /// SiLU `x·σ(x)`: SwiGLU.
    Silu,
    /// tanh GELU (HF `gelu_pytorch_tanh`): GeGLU.
    GeluTanh,
}

/// The three layers of a gated MLP and its gate's activation.
#[derive(Clone, Copy, Debug)]
pub struct SwiGlu<'w> {
    /// The gate's activation (SiLU for SwiGLU proper).
    pub activation: GateActivation,
    /// `C → F`, through the activation.
    pub gate: Linear<'w>,
    /// `C → F`.
    pub up: Linear<'w>,
    /// `F → C`.
    pub down: Linear<'w>,
}

/// `residual += down(act(gate(x)) ⊙ up(x))`, using `gate_buf` and `up_buf`
/// `(T, F)` as scratch; `scratch` serves the layers.
///
/// # Errors
/// [`OpsError::Shape`] when the views do not fit the layers.
pub fn swiglu_mlp(
    layers: &SwiGlu<'_>,
    x: MatRef<'_>,
    mut gate_buf: MatMut<'_>,
    mut up_buf: MatMut<'_>,
    residual: MatMut<'_>,
    scratch: &mut [f32],
) -> Result<(), OpsError> {
    let SwiGlu {
        activation,
        gate,
        up,
        down,
    } = layers;
    // One parallel region for both projections of a decode row.
    linear_many(
        [gate, up],
        x,
        [reborrow(&mut gate_buf), reborrow(&mut up_buf)],
        scratch,
    )?;
    if gate_buf.ld != up_buf.ld {
        return Err(OpsError::Shape {
            op: "swiglu_mlp",
            what: "gate and up buffers must share a row stride".into(),
        });
    }
    let len = gate_buf.rows * gate_buf.ld;
    let g = &mut gate_buf.data[..len];
    match activation {
        GateActivation::Silu => silu_inplace(g),
        GateActivation::GeluTanh => gelu_tanh_inplace(g),
    }
    mul_inplace(g, &up_buf.data[..len])?;
    linear_accumulate(down, gate_buf.as_ref(), residual, scratch)
}

fn reborrow<'s>(m: &'s mut MatMut<'_>) -> MatMut<'s> {
    MatMut {
        data: m.data,
        rows: m.rows,
        cols: m.cols,
        ld: m.ld,
    }
}
