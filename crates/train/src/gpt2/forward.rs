//! The forward pass: the inference ops over the whole `(B·T, C)` batch,
//! keeping every activation backward needs (see the parent module for the
//! model's equations).

use smallmind_kernels::activation::gelu_tanh;
use smallmind_ops::embedding::embed;
use smallmind_ops::linear::{linear, linear_accumulate};
use smallmind_ops::{Linear, MatMut, MatRef, WeightData, WeightLayout};

use super::{Activations, BlockActs, BlockParams, Dims, Offsets, attention, layer_norm};
use crate::error::Result;
use crate::loss::cross_entropy_forward;

/// Runs the model over `inputs` `(B, T)` and returns the mean cross-entropy
/// against `targets` `(B, T)`; tokens were validated by the caller.
pub(super) fn run(
    dims: &Dims,
    offsets: &Offsets,
    acts: &mut Activations,
    params: &[f32],
    inputs: &[u32],
    targets: &[u32],
) -> Result<f32> {
    acts.inputs.copy_from_slice(inputs);
    acts.targets.copy_from_slice(targets);
    embed_batch(dims, offsets, params, inputs, &mut acts.residuals[0])?;
    for (l, (block, p)) in acts.blocks.iter_mut().zip(&offsets.blocks).enumerate() {
        let (before, after) = acts.residuals.split_at_mut(l + 1);
        block_forward(
            dims,
            p,
            params,
            &before[l],
            block,
            &mut acts.heads,
            &mut after[0],
        )?;
    }
    let x_last = &acts.residuals[acts.blocks.len()];
    let (gamma, beta) = (
        &params[offsets.lnf_w.clone()],
        &params[offsets.lnf_b.clone()],
    );
    layer_norm::forward(dims, gamma, beta, x_last, &mut acts.lnf)?;
    // logits (N, V) = z (N, C) · W_headᵀ, W_head stored (V, C).
    let head = Linear::new(
        &params[offsets.head.clone()],
        WeightLayout::OutIn,
        dims.c,
        dims.v,
        None,
    )?;
    apply(&head, &acts.lnf.out, dims.n, &mut acts.logits, false)?;
    cross_entropy_forward(&mut acts.logits, targets, dims.v, &mut acts.row_loss)
}

/// `x₀ (N, C) = wte[tokens] + wpe[0..T]`, one sequence at a time.
fn embed_batch(
    dims: &Dims,
    offsets: &Offsets,
    params: &[f32],
    inputs: &[u32],
    x0: &mut [f32],
) -> Result<()> {
    let wte = WeightData::F32(&params[offsets.wte.clone()]);
    let wpe = &params[offsets.wpe.clone()];
    for (tokens, rows) in inputs
        .chunks_exact(dims.t)
        .zip(x0.chunks_exact_mut(dims.t * dims.c))
    {
        embed(
            wte,
            Some(wpe),
            tokens,
            0,
            MatMut::new(rows, dims.t, dims.c)?,
        )?;
    }
    Ok(())
}

/// One block: `x_out = m + MLP(LN₂(m))` with `m = x_in + Attn(LN₁(x_in))`.
fn block_forward(
    dims: &Dims,
    p: &BlockParams,
    params: &[f32],
    x_in: &[f32],
    acts: &mut BlockActs,
    heads: &mut [f32],
    x_out: &mut [f32],
) -> Result<()> {
    let Dims { n, c, f, .. } = *dims;
    let w = |r: &std::ops::Range<usize>| &params[r.clone()];
    layer_norm::forward(dims, w(&p.ln1_w), w(&p.ln1_b), x_in, &mut acts.ln1)?;
    let qkv = conv1d(w(&p.qkv_w), w(&p.qkv_b), c, 3 * c)?;
    apply(&qkv, &acts.ln1.out, n, &mut acts.qkv, false)?;
    attention::forward(dims, &acts.qkv, &mut acts.probs, heads, &mut acts.atty)?;
    acts.res_mid.copy_from_slice(x_in);
    let proj = conv1d(w(&p.proj_w), w(&p.proj_b), c, c)?;
    apply(&proj, &acts.atty, n, &mut acts.res_mid, true)?;

    layer_norm::forward(dims, w(&p.ln2_w), w(&p.ln2_b), &acts.res_mid, &mut acts.ln2)?;
    let fc = conv1d(w(&p.fc_w), w(&p.fc_b), c, f)?;
    apply(&fc, &acts.ln2.out, n, &mut acts.fc, false)?;
    gelu_tanh(&acts.fc, &mut acts.gelu)?;
    x_out.copy_from_slice(&acts.res_mid);
    let fc_proj = conv1d(w(&p.fc_proj_w), w(&p.fc_proj_b), f, c)?;
    apply(&fc_proj, &acts.gelu, n, x_out, true)
}

/// A GPT-2 `Conv1D` layer: weight `[in, out]`, bias `[out]`.
fn conv1d<'w>(weight: &'w [f32], bias: &'w [f32], d_in: usize, d_out: usize) -> Result<Linear<'w>> {
    Ok(Linear::new(
        weight,
        WeightLayout::InOut,
        d_in,
        d_out,
        Some(bias),
    )?)
}

/// `y (rows, out) = x (rows, in) · W + b`, or `y += …` when `accumulate`.
fn apply(
    layer: &Linear<'_>,
    x: &[f32],
    rows: usize,
    y: &mut [f32],
    accumulate: bool,
) -> Result<()> {
    let x = MatRef::new(x, rows, layer.in_features)?;
    let y = MatMut::new(y, rows, layer.out_features)?;
    if accumulate {
        linear_accumulate(layer, x, y, &mut [])?;
    } else {
        linear(layer, x, y, &mut [])?;
    }
    Ok(())
}
