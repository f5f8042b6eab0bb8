//! The backward pass, top to bottom: loss, LM head, final LayerNorm, the
//! blocks in reverse, the embeddings.
//!
//! For a linear layer `Y (N, out) = X (N, in)·W (in, out) + b`:
//! `dW += Xᵀ·dY` (GEMM `(in, out, N)`, `A` transposed, `β = 1` to
//! accumulate), `db += Σ_rows dY`, `dX = dY·Wᵀ` (GEMM `(N, in, out)`, `B`
//! transposed). The LM head stores `W_head` as `(V, C)`, so there
//! `dW_head += dlogitsᵀ·z` and `dz = dlogits·W_head`. A tied head's
//! gradient lands in `wte`, which the embedding scatter-add then adds to.

use smallmind_kernels::KernelError;
use smallmind_kernels::gemm::{Gemm, gemm};

use super::{
    Activations, BlockActs, BlockParams, Dims, Offsets, Scratch, add_column_sums, attention,
    layer_norm, mlp,
};
use crate::error::Result;
use crate::loss::cross_entropy_backward;

/// Adds `loss_scale · ∂(mean loss)/∂params` into `grads`.
pub(super) fn run(
    dims: &Dims,
    offsets: &Offsets,
    acts: &mut Activations,
    scratch: &mut Scratch,
    params: &[f32],
    grads: &mut [f32],
    loss_scale: f32,
) -> Result<()> {
    let Dims { n, c, v, .. } = *dims;
    // dlogits (N, V), in place over the probabilities.
    cross_entropy_backward(&mut acts.logits, &acts.targets, v, loss_scale)?;
    let dlogits = &acts.logits;
    // dW_head (V, C) += dlogitsᵀ·z;  dz (N, C) = dlogits·W_head.
    let head_grad = Gemm::new(v, c, n).transpose_a().beta(1.0);
    let (dw, dz) = rayon::join(
        || {
            gemm(
                &head_grad,
                dlogits,
                &acts.lnf.out,
                &mut grads[offsets.head.clone()],
            )
        },
        || {
            let w_head = &params[offsets.head.clone()];
            gemm(&Gemm::new(n, c, v), dlogits, w_head, &mut scratch.dnorm)
        },
    );
    dw?;
    dz?;
    scratch.dres.fill(0.0);
    let param_grads = two_mut(grads, &offsets.lnf_w, &offsets.lnf_b);
    let x_last = &acts.residuals[acts.blocks.len()];
    layer_norm::backward(
        dims,
        &params[offsets.lnf_w.clone()],
        x_last,
        &acts.lnf,
        &scratch.dnorm,
        &mut scratch.dres,
        param_grads,
    );
    for (l, (block, p)) in acts.blocks.iter().zip(&offsets.blocks).enumerate().rev() {
        block_backward(dims, p, params, grads, &acts.residuals[l], block, scratch)?;
    }
    embedding_backward(dims, offsets, &acts.inputs, &scratch.dres, grads);
    Ok(())
}

/// One block in reverse: `scratch.dres` holds `∂L/∂x_out` on entry and
/// `∂L/∂x_in` on exit.
fn block_backward(
    dims: &Dims,
    p: &BlockParams,
    params: &[f32],
    grads: &mut [f32],
    x_in: &[f32],
    acts: &BlockActs,
    s: &mut Scratch,
) -> Result<()> {
    let Dims { n, c, f, .. } = *dims;
    // MLP: x_out = m + gelu(u)·W_p + b_p, u = LN₂(m)·W_fc + b_fc.
    linear_backward(
        (n, f, c),
        &acts.gelu,
        &params[p.fc_proj_w.clone()],
        &s.dres,
        grads,
        (&p.fc_proj_w, &p.fc_proj_b),
        &mut s.dfc,
    )?;
    mlp::gelu_backward(&acts.fc, &mut s.dfc)?;
    linear_backward(
        (n, c, f),
        &acts.ln2.out,
        &params[p.fc_w.clone()],
        &s.dfc,
        grads,
        (&p.fc_w, &p.fc_b),
        &mut s.dnorm,
    )?;
    let param_grads = two_mut(grads, &p.ln2_w, &p.ln2_b);
    let gamma = &params[p.ln2_w.clone()];
    layer_norm::backward(
        dims,
        gamma,
        &acts.res_mid,
        &acts.ln2,
        &s.dnorm,
        &mut s.dres,
        param_grads,
    );

    // Attention: m = x_in + y·W_o + b_o, y = attention(LN₁(x_in)·W_qkv + b_qkv).
    linear_backward(
        (n, c, c),
        &acts.atty,
        &params[p.proj_w.clone()],
        &s.dres,
        grads,
        (&p.proj_w, &p.proj_b),
        &mut s.datty,
    )?;
    attention::backward(
        dims,
        &acts.qkv,
        &acts.probs,
        &s.datty,
        &mut s.dprobs,
        &mut s.dheads,
        &mut s.dqkv,
    )?;
    linear_backward(
        (n, c, 3 * c),
        &acts.ln1.out,
        &params[p.qkv_w.clone()],
        &s.dqkv,
        grads,
        (&p.qkv_w, &p.qkv_b),
        &mut s.dnorm,
    )?;
    let param_grads = two_mut(grads, &p.ln1_w, &p.ln1_b);
    let gamma = &params[p.ln1_w.clone()];
    layer_norm::backward(
        dims,
        gamma,
        x_in,
        &acts.ln1,
        &s.dnorm,
        &mut s.dres,
        param_grads,
    );
    Ok(())
}

/// Backward of `Y (N, out) = X (N, in)·W (in, out) + b` given `dy`:
/// `dW += Xᵀ·dY`, `db += Σ_rows dY` into `grads`, and `dx (N, in) = dY·Wᵀ`.
fn linear_backward(
    (n, d_in, d_out): (usize, usize, usize),
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    grads: &mut [f32],
    (w_range, b_range): (&std::ops::Range<usize>, &std::ops::Range<usize>),
    dx: &mut [f32],
) -> Result<()> {
    let (dw, db) = two_mut(grads, w_range, b_range);
    // The parameter and input gradients are independent: on two threads each
    // GEMM gets a core instead of both being split (the results do not change).
    let (param_grads, input_grad) = rayon::join(
        || {
            let weight_grad = Gemm::new(d_in, d_out, n).transpose_a().beta(1.0);
            gemm(&weight_grad, x, dy, dw)?;
            add_column_sums(dy, d_out, db);
            Ok::<_, KernelError>(())
        },
        || gemm(&Gemm::new(n, d_in, d_out).transpose_b(), dy, w, dx),
    );
    param_grads?;
    input_grad?;
    Ok(())
}

/// Scatter-add of `dx₀ (N, C)` into the rows of `wte` that the tokens used
/// and into `wpe[0..T]`, rows in order (deterministic).
fn embedding_backward(
    dims: &Dims,
    offsets: &Offsets,
    inputs: &[u32],
    dx0: &[f32],
    grads: &mut [f32],
) {
    let Dims { t, c, .. } = *dims;
    for (i, (row, &token)) in dx0.chunks_exact(c).zip(inputs).enumerate() {
        let tok = offsets.wte.start + token as usize * c;
        add_into(&mut grads[tok..tok + c], row);
        let pos = offsets.wpe.start + (i % t) * c;
        add_into(&mut grads[pos..pos + c], row);
    }
}

/// `dst += src`.
fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Two disjoint mutable ranges of `grads`, `a` before `b` (LayerNorm weight, bias).
fn two_mut<'g>(
    grads: &'g mut [f32],
    a: &std::ops::Range<usize>,
    b: &std::ops::Range<usize>,
) -> (&'g mut [f32], &'g mut [f32]) {
    let (head, tail) = grads.split_at_mut(b.start);
    (&mut head[a.clone()], &mut tail[..b.len()])
}
