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
//! The causal mask is exploited by tiles of [`QUERY_TILE`] query rows:
//! query tile `i0..i1` only meets keys `0..i1` (scores, `P·V`, `dP`, `dQ`),
//! and key tile `j0..j1` only queries `j0..T` (`dV`, `dK`), which skips
//! close to half the work at long contexts.
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
        .try_for_each(|(bh, (p, o))| {
            let base = (bh / h) * t * 3 * c + (bh % h) * d;
            let (q, k, v) = (&qkv[base..], &qkv[base + c..], &qkv[base + 2 * c..]);
            head_forward(dims, scale, (q, k, v), p, o)
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
        .try_for_each(|(bh, (ds, dh))| {
            let (b, head) = (bh / h, bh % h);
            let base = b * t * 3 * c + head * d;
            let qkv = (&qkv[base..], &qkv[base + c..], &qkv[base + 2 * c..]);
            let d_out = &dy[b * t * c + head * d..];
            let p = &probs[bh * t * t..(bh + 1) * t * t];
            head_backward(dims, scale, qkv, p, d_out, ds, dh)
        })?;
    interleave(dims, dheads, dqkv, 3);
    Ok(())
}

/// Query rows per causal tile: tile `i0..i1` only touches keys `0..i1`.
const QUERY_TILE: usize = 32;

/// The query tiles `(i0, i1)` of a `T`-row head.
fn tiles(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t)
        .step_by(QUERY_TILE)
        .map(move |i0| (i0, (i0 + QUERY_TILE).min(t)))
}

/// One head's forward, tile by tile: `p (T, T)` gets the probabilities
/// (zero above the diagonal), `o (T, D)` the output. `q, k, v` are `(T, D)`
/// with row stride `3C`.
fn head_forward(
    dims: &Dims,
    scale: f32,
    (q, k, v): (&[f32], &[f32], &[f32]),
    p: &mut [f32],
    o: &mut [f32],
) -> std::result::Result<(), KernelError> {
    let Dims { t, c, d, .. } = *dims;
    for (i0, i1) in tiles(t) {
        let rows = i1 - i0;
        // S[i0..i1, ..i1] = s·Q[i0..i1]·K[..i1]ᵀ; the causal softmax zeroes the rest of each row.
        let scores = Gemm::new(rows, i1, d)
            .transpose_b()
            .lda(3 * c)
            .ldb(3 * c)
            .ldc(t);
        gemm(&scores.alpha(scale), &q[i0 * 3 * c..], k, &mut p[i0 * t..])?;
        softmax_rows_inplace(&mut p[i0 * t..i1 * t], t, Some(i0))?;
        // O[i0..i1] = P[i0..i1, ..i1]·V[..i1].
        let out = Gemm::new(rows, d, i1).lda(t).ldb(3 * c);
        gemm(&out, &p[i0 * t..], v, &mut o[i0 * d..])?;
    }
    Ok(())
}

/// One head's backward: `dh` gets dQ | dK | dV, each `(T, D)`; `ds (T, T)`
/// is scratch. `d_out` is `(T, D)` with row stride `C`. Key tile `j0..j1`
/// only meets queries `j0..T`.
fn head_backward(
    dims: &Dims,
    scale: f32,
    (q, k, v): (&[f32], &[f32], &[f32]),
    p: &[f32],
    d_out: &[f32],
    ds: &mut [f32],
    dh: &mut [f32],
) -> std::result::Result<(), KernelError> {
    let Dims { t, c, d, .. } = *dims;
    let (dq, rest) = dh.split_at_mut(t * d);
    let (dk, dv) = rest.split_at_mut(t * d);
    for (i0, i1) in tiles(t) {
        let rows = i1 - i0;
        // dV[i0..i1] = P[i0.., i0..i1]ᵀ·dO[i0..].
        let dv_gemm = Gemm::new(rows, d, t - i0).transpose_a().lda(t).ldb(c);
        gemm(
            &dv_gemm,
            &p[i0 * t + i0..],
            &d_out[i0 * c..],
            &mut dv[i0 * d..],
        )?;
        // dP[i0..i1, ..i1] = dO[i0..i1]·V[..i1]ᵀ, then dS in place.
        let dp_gemm = Gemm::new(rows, i1, d)
            .transpose_b()
            .lda(c)
            .ldb(3 * c)
            .ldc(t);
        gemm(&dp_gemm, &d_out[i0 * c..], v, &mut ds[i0 * t..])?;
        softmax_backward_causal(&p[i0 * t..i1 * t], &mut ds[i0 * t..i1 * t], t, i0);
    }
    for (i0, i1) in tiles(t) {
        let rows = i1 - i0;
        // dQ[i0..i1] = s·dS[i0..i1, ..i1]·K[..i1].
        let dq_gemm = Gemm::new(rows, d, i1).alpha(scale).lda(t).ldb(3 * c);
        gemm(&dq_gemm, &ds[i0 * t..], k, &mut dq[i0 * d..])?;
        // dK[i0..i1] = s·dS[i0.., i0..i1]ᵀ·Q[i0..].
        let dk_gemm = Gemm::new(rows, d, t - i0)
            .transpose_a()
            .alpha(scale)
            .lda(t)
            .ldb(3 * c);
        gemm(
            &dk_gemm,
            &ds[i0 * t + i0..],
            &q[i0 * 3 * c..],
            &mut dk[i0 * d..],
        )?;
    }
    Ok(())
}

/// `dP → dS = P ⊙ (dP − Σ_j P·dP)` for each row `i` of the causal `(T, T)`
/// rows `i0..` of a causal `(T, T)` block, over the valid keys `j ≤ i`; the
/// rest becomes 0.
fn softmax_backward_causal(p: &[f32], ds: &mut [f32], t: usize, i0: usize) {
    for (r, (p, ds)) in p.chunks_exact(t).zip(ds.chunks_exact_mut(t)).enumerate() {
        let i = i0 + r;
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
