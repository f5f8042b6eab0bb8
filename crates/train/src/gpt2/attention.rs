//! Causal multi-head self-attention over a whole batch, forward with the
//! probabilities saved, and backward.
//!
//! Per sequence `b` and head `h`, with `Q, K, V` the `(T, D)` column blocks
//! of `qkv` `(N, 3C)` and `s = 1/√D` (Vaswani et al. 2017):
//!
//! ```text
//! forward:   P = softmax_causal(s·Q·Kᵀ)     (T, T), zero above the diagonal
//!            O = P·V                        (T, D) → columns h·D.. of y (N, C)
//! backward:  dV = Pᵀ·dO
//!            dP = dO·Vᵀ
//!            dS = P ⊙ (dP − rowsum(P ⊙ dP))  (softmax backward, row by row)
//!            dQ = s·dS·K,   dK = s·dSᵀ·Q
//! ```
//!
//! Each (b, h) pair is one rayon task whose GEMMs read `Q, K, V, dO` in
//! place through their row strides and write into that pair's own slice of
//! a per-head scratch buffer; the heads are then interleaved into the
//! `(N, C)` / `(N, 3C)` layouts by rows.

use rayon::prelude::*;
use smallmind_kernels::KernelError;
use smallmind_kernels::gemm::{Gemm, gemm};
use smallmind_kernels::softmax::softmax_rows_inplace;

use super::{Dims, reduce};
use crate::error::Result;

/// `y (N, C)` = attention of `qkv (N, 3C)`; saves `probs (B, H, T, T)`;
/// `heads (B, H, T, D)` is scratch.
pub(super) fn forward(
    dims: &Dims,
    qkv: &[f32],
    probs: &mut [f32],
    heads: &mut [f32],
    y: &mut [f32],
) -> Result<()> {
    let Dims { t, c, h, d, .. } = *dims;
    let scale = 1.0 / (d as f32).sqrt();
    probs
        .par_chunks_mut(t * t)
        .zip(heads.par_chunks_mut(t * d))
        .enumerate()
        .try_for_each(|(bh, (p, o))| -> std::result::Result<(), KernelError> {
            let base = (bh / h) * t * 3 * c + (bh % h) * d;
            let (q, k, v) = (&qkv[base..], &qkv[base + c..], &qkv[base + 2 * c..]);
            // S (T, T) = s·Q·Kᵀ, then the causal softmax in place.
            let scores = Gemm::new(t, t, d).transpose_b().lda(3 * c).ldb(3 * c);
            gemm(&scores.alpha(scale), q, k, p)?;
            softmax_rows_inplace(p, t, Some(0))?;
            // O (T, D) = P·V.
            gemm(&Gemm::new(t, d, t).ldb(3 * c), p, v, o)
        })?;
    interleave(dims, heads, y, 1);
    Ok(())
}

/// Backward of [`forward`]: `dqkv (N, 3C)` from `dy (N, C)`; `dprobs`
/// `(B, H, T, T)` and `dheads (B, H, 3, T, D)` are scratch.
pub(super) fn backward(
    dims: &Dims,
    qkv: &[f32],
    probs: &[f32],
    dy: &[f32],
    dprobs: &mut [f32],
    dheads: &mut [f32],
    dqkv: &mut [f32],
) -> Result<()> {
    let Dims { t, c, h, d, .. } = *dims;
    let scale = 1.0 / (d as f32).sqrt();
    dprobs
        .par_chunks_mut(t * t)
        .zip(dheads.par_chunks_mut(3 * t * d))
        .enumerate()
        .try_for_each(|(bh, (ds, dh))| -> std::result::Result<(), KernelError> {
            let (b, head) = (bh / h, bh % h);
            let base = b * t * 3 * c + head * d;
            let (q, k, v) = (&qkv[base..], &qkv[base + c..], &qkv[base + 2 * c..]);
            let d_out = &dy[b * t * c + head * d..];
            let p = &probs[bh * t * t..(bh + 1) * t * t];
            let (dq, rest) = dh.split_at_mut(t * d);
            let (dk, dv) = rest.split_at_mut(t * d);
            // dV (T, D) = Pᵀ·dO.
            gemm(&Gemm::new(t, d, t).transpose_a().ldb(c), p, d_out, dv)?;
            // dP (T, T) = dO·Vᵀ, then dS in place.
            gemm(
                &Gemm::new(t, t, d).transpose_b().lda(c).ldb(3 * c),
                d_out,
                v,
                ds,
            )?;
            softmax_backward_causal(p, ds, t);
            // dQ = s·dS·K, dK = s·dSᵀ·Q, both (T, D).
            gemm(&Gemm::new(t, d, t).alpha(scale).ldb(3 * c), ds, k, dq)?;
            let dk_gemm = Gemm::new(t, d, t).transpose_a().alpha(scale).ldb(3 * c);
            gemm(&dk_gemm, ds, q, dk)
        })?;
    interleave(dims, dheads, dqkv, 3);
    Ok(())
}

/// `dP → dS = P ⊙ (dP − Σ_j P·dP)` for each row `i` of the causal `(T, T)`
/// block, over the valid keys `j ≤ i`; the rest becomes 0.
fn softmax_backward_causal(p: &[f32], ds: &mut [f32], t: usize) {
    for (i, (p, ds)) in p.chunks_exact(t).zip(ds.chunks_exact_mut(t)).enumerate() {
        let (valid, masked) = ds.split_at_mut(i + 1);
        let p = &p[..=i];
        let dot = reduce::dot(p, valid);
        for (g, &pj) in valid.iter_mut().zip(p) {
            *g = pj * (*g - dot);
        }
        masked.fill(0.0);
    }
}

/// Gathers per-head blocks `(B, H, parts, T, D)` into rows `(B·T, parts·C)`:
/// part `s` of head `h` lands in columns `s·C + h·D ..`.
fn interleave(dims: &Dims, heads: &[f32], out: &mut [f32], parts: usize) {
    let Dims { t, c, h, d, .. } = *dims;
    let width = parts * c;
    out.par_chunks_mut(t * width)
        .enumerate()
        .for_each(|(b, rows)| {
            for (ti, row) in rows.chunks_exact_mut(width).enumerate() {
                for head in 0..h {
                    for s in 0..parts {
                        let src = (((b * h + head) * parts + s) * t + ti) * d;
                        let dst = s * c + head * d;
                        row[dst..dst + d].copy_from_slice(&heads[src..src + d]);
                    }
                }
            }
        });
}
