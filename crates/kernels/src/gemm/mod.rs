//! f32 general matrix multiply: `C = α·op(A)·op(B) + β·C`.
//!
//! All matrices are row-major with leading dimensions (row strides); `op(X)` is
//! `X` or `Xᵀ`. `op(A)` is `(m, k)`, `op(B)` is `(k, n)`, `C` is `(m, n)`.
//! `A·Bᵀ` (HF linear weights stored `[out, in]`, attention's `Q·Kᵀ`) is a
//! first-class form: transposition is absorbed by the packing routines, so the
//! micro-kernel has one code path for all four transpose combinations.
//!
//! The algorithm follows the BLIS/GotoBLAS layering (Goto & van de Geijn, "Anatomy
//! of high-performance matrix multiplication", TOMS 2008; Van Zee & van de Geijn,
//! "BLIS", TOMS 2015):
//!
//! ```text
//! for jc in 0..n step NC            // B block (KC, NC) lives in L3
//!   for pc in 0..k step KC
//!     pack op(B)[pc.., jc..] into NR-wide panels, layout (k, NR)
//!     for ic in 0..m step MC        // A block (MC, KC) lives in L2
//!       pack op(A)[ic.., pc..] into MR-high panels, layout (k, MR)
//!       for jr in 0..nc step NR     // B micro-panel (KC, NR) stays in L1
//!         for ir in 0..mc step MR
//!           micro-kernel: (MR, NR) register tile += A panel · B panel
//! ```
//!
//! When a thread's rows fit one A block (`m ≤ MC`, the prefill shapes), the
//! order changes so that `A` is packed once and `B` is packed in L2-sized
//! chunks just before use, with the whole depth in one block when
//! `k ≤ KC_SMALL_M_MAX` (then `C` is stored once): see
//! [`params::KC_SMALL_M_MAX`] and `blocking::small_m_nest`.
//!
//! Submodules: [`params`] (block sizes and their derivation, thresholds),
//! `pack` (packing, per-thread buffers), `microkernel` (register tile),
//! `blocking` (the loop nest above, the small direct path and the rayon split),
//! `reference` (the scalar oracle [`gemm_ref`]).
//!
//! Small problems skip packing (the "direct" path): the micro-kernel reads `A`
//! through its strides and a non-transposed `B` through its rows, so a 64³
//! product pays no packing overhead. Only edge slivers are packed there, and a
//! transposed `B`, which on AVX-512 is transposed inside the first row tile
//! of each column panel, 8 depths at a time just before the FMAs that use
//! them (`microkernel::tile_packing_bt`), so the shuffles overlap the
//! arithmetic instead of running as a separate pass; later row tiles reuse
//! the panel.
//!
//! Results do not depend on the number of rayon threads: the summation order
//! of every element is fixed by the problem alone (see `blocking`).
//!
//! Accuracy: each output is a length-`k` f32 dot product computed with fused
//! multiply-adds in a blocked order, so `|C - C_exact| ≲ k·ε·Σ|a||b|` with
//! `ε = 2⁻²⁴` (the standard recursive-summation bound; in practice far smaller).
//! NaN and ±inf propagate as IEEE arithmetic dictates. With `β = 0`, `C` is never
//! read, so NaN already in `C` does not leak into the result.

mod blocking;
mod microkernel;
mod pack;
pub mod params;
mod reference;

use crate::KernelError;

pub use reference::gemm_ref;
pub(crate) use reference::gemm_ref_unchecked;

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    /// Use the matrix as stored.
    No,
    /// Use the transpose of the stored matrix.
    Yes,
}

/// The description of one `C = α·op(A)·op(B) + β·C` product.
///
/// All operands are row-major with leading dimensions (row strides):
/// - `op(A)` is `(m, k)`: `A` stored `(m, k)` with `lda >= k`, or with
///   [`Transpose::Yes`] stored `(k, m)` with `lda >= m`;
/// - `op(B)` is `(k, n)`: `B` stored `(k, n)` with `ldb >= n`, or with
///   [`Transpose::Yes`] stored `(n, k)` with `ldb >= k`;
/// - `C` is `(m, n)` with `ldc >= n`.
///
/// `beta == 0` means `C` is write-only (NaN in `C` does not leak). `k == 0` means
/// `C = β·C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// Columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the previous `C`; `0` makes `C` write-only.
    pub beta: f32,
    /// Whether `A` is stored transposed.
    pub trans_a: Transpose,
    /// Whether `B` is stored transposed.
    pub trans_b: Transpose,
    /// Row stride of `A` as stored.
    pub lda: usize,
    /// Row stride of `B` as stored.
    pub ldb: usize,
    /// Row stride of `C`.
    pub ldc: usize,
}

impl Gemm {
    /// A contiguous `(m, k)·(k, n)` product with `α = 1`, `β = 0`, no transposes.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Gemm {
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            trans_a: Transpose::No,
            trans_b: Transpose::No,
            lda: k,
            ldb: n,
            ldc: n,
        }
    }

    /// `A` is stored transposed, `(k, m)`; resets `lda` to the contiguous `m`.
    pub fn transpose_a(self) -> Self {
        Gemm {
            trans_a: Transpose::Yes,
            lda: self.m,
            ..self
        }
    }

    /// `B` is stored transposed, `(n, k)`; resets `ldb` to the contiguous `k`.
    pub fn transpose_b(self) -> Self {
        Gemm {
            trans_b: Transpose::Yes,
            ldb: self.k,
            ..self
        }
    }

    /// Sets `α`.
    pub fn alpha(self, alpha: f32) -> Self {
        Gemm { alpha, ..self }
    }

    /// Sets `β`.
    pub fn beta(self, beta: f32) -> Self {
        Gemm { beta, ..self }
    }

    /// Sets the row stride of `A` as stored.
    pub fn lda(self, lda: usize) -> Self {
        Gemm { lda, ..self }
    }

    /// Sets the row stride of `B` as stored.
    pub fn ldb(self, ldb: usize) -> Self {
        Gemm { ldb, ..self }
    }

    /// Sets the row stride of `C`.
    pub fn ldc(self, ldc: usize) -> Self {
        Gemm { ldc, ..self }
    }

    /// Floating-point operations of the product, `2·m·n·k`.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    /// `(rows, row_len)` of `A` as stored.
    pub(crate) fn a_shape(&self) -> (usize, usize) {
        match self.trans_a {
            Transpose::No => (self.m, self.k),
            Transpose::Yes => (self.k, self.m),
        }
    }

    /// `(rows, row_len)` of `B` as stored.
    pub(crate) fn b_shape(&self) -> (usize, usize) {
        match self.trans_b {
            Transpose::No => (self.k, self.n),
            Transpose::Yes => (self.n, self.k),
        }
    }
}

/// Checks one operand: `ld >= row_len` and `len >= (rows-1)·ld + row_len`
/// (zero when the matrix is empty), with overflow-checked arithmetic.
pub(crate) fn check_operand(
    op: &'static str,
    operand: &'static str,
    (rows, row_len): (usize, usize),
    ld: usize,
    len: usize,
) -> Result<(), KernelError> {
    if ld < row_len {
        return Err(KernelError::LeadingDimension {
            op,
            operand,
            ld,
            row_len,
        });
    }
    let required = if rows == 0 || row_len == 0 {
        0
    } else {
        (rows - 1)
            .checked_mul(ld)
            .and_then(|x| x.checked_add(row_len))
            .ok_or(KernelError::SizeOverflow { op, operand })?
    };
    if len < required {
        return Err(KernelError::BufferTooSmall {
            op,
            operand,
            required,
            actual: len,
        });
    }
    Ok(())
}

/// Validates every operand of `g` against its buffer.
pub(crate) fn validate(
    op: &'static str,
    g: &Gemm,
    a: &[f32],
    b: &[f32],
    c: &[f32],
) -> Result<(), KernelError> {
    check_operand(op, "a", g.a_shape(), g.lda, a.len())?;
    check_operand(op, "b", g.b_shape(), g.ldb, b.len())?;
    check_operand(op, "c", (g.m, g.n), g.ldc, c.len())
}

/// `C = β·C` on the `(m, n)` window of `c`, writing zeros (not `0·C`) when
/// `β == 0` so that NaN in `C` does not survive.
pub(crate) fn scale_c(g: &Gemm, c: &mut [f32]) {
    if g.beta == 1.0 || g.m == 0 || g.n == 0 {
        return;
    }
    for row in c.chunks_mut(g.ldc).take(g.m) {
        let row = &mut row[..g.n];
        if g.beta == 0.0 {
            row.fill(0.0);
        } else {
            row.iter_mut().for_each(|x| *x *= g.beta);
        }
    }
}

/// `C = α·op(A)·op(B) + β·C` (see [`Gemm`] for shapes and layouts).
///
/// `m == 1` is routed to [`crate::gemv::gemv`]. Runs on the SIMD path chosen by
/// [`crate::dispatch`], in parallel on the current rayon pool when the product
/// is large enough ([`params::PARALLEL_MIN_FLOPS`]). Never allocates after the
/// first call on a thread (packing buffers are per thread and reused).
///
/// # Errors
/// [`KernelError::LeadingDimension`], [`KernelError::BufferTooSmall`] or
/// [`KernelError::SizeOverflow`], naming the operand, when a buffer does not
/// match its dimensions.
pub fn gemm(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), KernelError> {
    validate("gemm", g, a, b, c)?;
    if g.m == 1 {
        return crate::gemv::gemv(g, a, b, c);
    }
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    if g.k == 0 || g.alpha == 0.0 {
        scale_c(g, c);
        return Ok(());
    }
    crate::dispatch::dispatch(blocking::GemmOp { g, a, b, c });
    Ok(())
}
