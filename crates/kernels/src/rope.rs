//! Rotary position embedding (RoPE; Su et al. 2021, "RoFormer"), in place, in
//! both memory conventions.
//!
//! Each head vector of size `d = head_dim` (even) is split into `d/2` pairs, and
//! pair `i` at position `p` is rotated by the angle `p · θ^(−2i/d)`:
//! `(a, b) ← (a·cos − b·sin, b·cos + a·sin)`.
//!
//! - **Rotate-half** ([`rope_rotate_half_inplace`], Hugging Face / GPT-NeoX):
//!   pair `i` is `(x[i], x[i + d/2])`; HF writes it `x·cos + rotate_half(x)·sin`
//!   with `rotate_half(x) = cat(−x[d/2:], x[:d/2])`.
//! - **Interleaved** ([`rope_interleaved_inplace`], GPT-J, Meta's original LLaMA
//!   and llama.cpp/GGUF, whose q/k weights are permuted to match): pair `i` is
//!   `(x[2i], x[2i+1])`.
//!
//! # Layouts
//! - `x` is `(n_pos, n_heads, head_dim)` row-major: all heads of position 0,
//!   then position 1, … — the layout a `(T, n_heads·head_dim)` q or k
//!   projection already has.
//! - `cos`, `sin` are `(n_pos, head_dim/2)`: entry `(p, i)` is
//!   `cos(pos_p · inv_freq[i])`, built by [`rope_tables`]. Build them once for
//!   the whole context (positions `0..max_len`) and pass the rows of the
//!   positions being processed, `cos[start·d/2 .. end·d/2]`.
//!
//! # Accuracy
//! [`rope_tables`] computes `inv_freq[i] = θ^(−2i/d)`, the angle and its
//! cosine/sine in f64 and rounds once, so every table entry is within half an
//! ulp of the exact value (PyTorch builds `inv_freq` and the angle in f32, which
//! is off by up to ~`pos·2⁻²⁴` radians at large positions). The rotation is two
//! products per output (one rounded FMA), a few ulp of `|a| + |b|`.

use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::error::check_len;

/// Validates `head_dim` and returns `head_dim / 2`.
fn half_dim(op: &'static str, head_dim: usize) -> Result<usize, KernelError> {
    if head_dim == 0 || !head_dim.is_multiple_of(2) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "head_dim",
            value: head_dim,
            reason: "must be even and positive",
        });
    }
    Ok(head_dim / 2)
}

/// Validates the kernel arguments; returns `(n_pos, half)`.
fn check_rope(
    op: &'static str,
    x: &[f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) -> Result<(usize, usize), KernelError> {
    let half = half_dim(op, head_dim)?;
    check_len(op, "sin", cos.len(), sin.len())?;
    if !cos.len().is_multiple_of(half) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "cos.len()",
            value: cos.len(),
            reason: "must be n_pos · head_dim/2",
        });
    }
    let n_pos = cos.len() / half;
    let expected = n_pos
        .checked_mul(n_heads)
        .and_then(|v| v.checked_mul(head_dim))
        .ok_or(KernelError::SizeOverflow { op, operand: "x" })?;
    check_len(op, "x", expected, x.len())?;
    Ok((n_pos, half))
}

/// Fills `cos` and `sin`, each `(positions.len(), head_dim/2)` row-major, with
/// `cos(p · inv_freq[i])` and `sin(p · inv_freq[i])` for each position `p`,
/// where `inv_freq[i] = theta^(−2i/head_dim)` (Hugging Face "default" RoPE;
/// `theta` is `rope_theta`, usually 10 000).
///
/// `positions` is any exact-size iterator: `start..end`, or
/// `slice.iter().copied()`. Computed in f64 and rounded once (see the module
/// docs); this is scalar code, meant to run once per model load, and is its
/// own reference.
///
/// Errors: `InvalidDimension` for an odd or zero `head_dim`; `LengthMismatch`
/// unless `cos` and `sin` both have `positions.len() · head_dim/2` entries.
pub fn rope_tables(
    theta: f32,
    head_dim: usize,
    positions: impl ExactSizeIterator<Item = usize>,
    cos: &mut [f32],
    sin: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "rope_tables";
    let half = half_dim(OP, head_dim)?;
    let expected = positions
        .len()
        .checked_mul(half)
        .ok_or(KernelError::SizeOverflow {
            op: OP,
            operand: "cos",
        })?;
    check_len(OP, "cos", expected, cos.len())?;
    check_len(OP, "sin", expected, sin.len())?;
    let theta = f64::from(theta);
    for ((pos, cos_row), sin_row) in positions
        .zip(cos.chunks_exact_mut(half))
        .zip(sin.chunks_exact_mut(half))
    {
        for (i, (c, s)) in cos_row.iter_mut().zip(sin_row.iter_mut()).enumerate() {
            let inv_freq = theta.powf(-2.0 * i as f64 / head_dim as f64);
            let (sin_v, cos_v) = (pos as f64 * inv_freq).sin_cos();
            *c = cos_v as f32;
            *s = sin_v as f32;
        }
    }
    Ok(())
}

/// Rotates the pairs `(a[i], b[i])` of two equal halves by `(cos[i], sin[i])`.
#[inline(always)]
fn rotate_halves<S: Simd>(simd: S, a: &mut [f32], b: &mut [f32], cos: &[f32], sin: &[f32]) {
    let (a_head, a_tail) = S::as_mut_simd_f32s(a);
    let (b_head, b_tail) = S::as_mut_simd_f32s(b);
    let (c_head, c_tail) = S::as_simd_f32s(cos);
    let (s_head, s_tail) = S::as_simd_f32s(sin);
    let rotate = |a, b, c, s| {
        // (a·c − b·s, b·c + a·s)
        let new_a = simd.mul_add_e_f32s(a, c, simd.neg_f32s(simd.mul_f32s(b, s)));
        let new_b = simd.mul_add_e_f32s(b, c, simd.mul_f32s(a, s));
        (new_a, new_b)
    };
    for (((a, b), &c), &s) in a_head
        .iter_mut()
        .zip(b_head.iter_mut())
        .zip(c_head)
        .zip(s_head)
    {
        (*a, *b) = rotate(*a, *b, c, s);
    }
    if !a_tail.is_empty() {
        let (new_a, new_b) = rotate(
            simd.partial_load_f32s(a_tail),
            simd.partial_load_f32s(b_tail),
            simd.partial_load_f32s(c_tail),
            simd.partial_load_f32s(s_tail),
        );
        simd.partial_store_f32s(a_tail, new_a);
        simd.partial_store_f32s(b_tail, new_b);
    }
}

/// Rotates the adjacent pairs `(x[2i], x[2i+1])` of one head by `(cos[i], sin[i])`.
///
/// Written as a plain loop over pairs: under the target features of the
/// dispatched path LLVM vectorizes this stride-2 access with its own
/// deinterleaving shuffles. (pulp's `deinterleave_shfl_f32s` separates evens
/// from odds but in a path-dependent lane order, which would need the tables
/// permuted to match.)
#[inline(always)]
fn rotate_pairs(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    for ((pair, &c), &s) in x.chunks_exact_mut(2).zip(cos).zip(sin) {
        let (a, b) = (pair[0], pair[1]);
        pair[0] = a * c - b * s;
        pair[1] = b * c + a * s;
    }
}

/// Which pairing a [`Rope`] applies.
#[derive(Clone, Copy)]
enum Pairing {
    RotateHalf,
    Interleaved,
}

/// RoPE over `(n_pos, n_heads, head_dim)`.
struct Rope<'a> {
    pairing: Pairing,
    x: &'a mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &'a [f32],
    sin: &'a [f32],
}

impl WithSimd for Rope<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            pairing,
            x,
            n_heads,
            head_dim,
            cos,
            sin,
        } = self;
        let half = head_dim / 2;
        let pos_stride = n_heads * head_dim;
        if pos_stride == 0 {
            return;
        }
        let rows = x
            .chunks_exact_mut(pos_stride)
            .zip(cos.chunks_exact(half))
            .zip(sin.chunks_exact(half));
        for ((x_pos, cos), sin) in rows {
            for head in x_pos.chunks_exact_mut(head_dim) {
                match pairing {
                    Pairing::RotateHalf => {
                        let (a, b) = head.split_at_mut(half);
                        rotate_halves(simd, a, b, cos, sin);
                    }
                    Pairing::Interleaved => rotate_pairs(head, cos, sin),
                }
            }
        }
    }
}

/// Applies RoPE in the Hugging Face rotate-half convention (pairs
/// `(i, i + head_dim/2)`) to `x`, `(n_pos, n_heads, head_dim)`, in place, with
/// `cos`/`sin` tables `(n_pos, head_dim/2)` from [`rope_tables`].
///
/// Errors: `InvalidDimension` for an odd or zero `head_dim` or a table length
/// that is not a multiple of `head_dim/2`; `LengthMismatch` if `sin` differs
/// from `cos` in length or `x` is not `n_pos · n_heads · head_dim`.
pub fn rope_rotate_half_inplace(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) -> Result<(), KernelError> {
    check_rope("rope_rotate_half_inplace", x, n_heads, head_dim, cos, sin)?;
    dispatch(Rope {
        pairing: Pairing::RotateHalf,
        x,
        n_heads,
        head_dim,
        cos,
        sin,
    });
    Ok(())
}

/// Scalar twin of [`rope_rotate_half_inplace`], rotating in f64.
pub fn rope_rotate_half_inplace_ref(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) -> Result<(), KernelError> {
    let (_, half) = check_rope("rope_rotate_half_inplace", x, n_heads, head_dim, cos, sin)?;
    rope_ref(x, n_heads, head_dim, cos, sin, |p| (p, p + half));
    Ok(())
}

/// Applies RoPE in the interleaved (GPT-J / llama.cpp GGUF) convention (pairs
/// `(2i, 2i+1)`) to `x`, `(n_pos, n_heads, head_dim)`, in place, with
/// `cos`/`sin` tables `(n_pos, head_dim/2)` from [`rope_tables`].
///
/// Errors: as [`rope_rotate_half_inplace`].
pub fn rope_interleaved_inplace(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) -> Result<(), KernelError> {
    check_rope("rope_interleaved_inplace", x, n_heads, head_dim, cos, sin)?;
    dispatch(Rope {
        pairing: Pairing::Interleaved,
        x,
        n_heads,
        head_dim,
        cos,
        sin,
    });
    Ok(())
}

/// Scalar twin of [`rope_interleaved_inplace`], rotating in f64.
pub fn rope_interleaved_inplace_ref(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) -> Result<(), KernelError> {
    check_rope("rope_interleaved_inplace", x, n_heads, head_dim, cos, sin)?;
    rope_ref(x, n_heads, head_dim, cos, sin, |p| (2 * p, 2 * p + 1));
    Ok(())
}

/// The scalar rotation shared by the `_ref` twins; `pair(i)` gives the two
/// indices within a head rotated by table entry `i`.
fn rope_ref(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
    pair: impl Fn(usize) -> (usize, usize),
) {
    let half = head_dim / 2;
    if x.is_empty() {
        return;
    }
    for (pos_index, x_pos) in x.chunks_exact_mut(n_heads * head_dim).enumerate() {
        let cos = &cos[pos_index * half..][..half];
        let sin = &sin[pos_index * half..][..half];
        for head in x_pos.chunks_exact_mut(head_dim) {
            for i in 0..half {
                let (ia, ib) = pair(i);
                let (a, b) = (f64::from(head[ia]), f64::from(head[ib]));
                let (c, s) = (f64::from(cos[i]), f64::from(sin[i]));
                head[ia] = (a * c - b * s) as f32;
                head[ib] = (b * c + a * s) as f32;
            }
        }
    }
}
