//! Quantized GEMM (prefill): `y (m, n) = x (m, k) · Wᵀ` with `W` `(n, k/32)`
//! blocks (the GEMV layout) and `x` quantized once per row beforehand
//! ([`quantize_q8_0`](super::quantize_q8_0) / [`quantize_q8_1`](super::quantize_q8_1)
//! over the whole `(m, k)` matrix: blocks never straddle rows).
//!
//! Register tiles are 4 weight rows × 4 activation rows: each weight block
//! unpacked once is used for four activation rows, each activation block for
//! four weight rows (16 integer block dots per 8 block loads). A group of
//! four weight rows stays in L1 while all activation rows of the task pass.
//! The output is cut into rectangles (activation-row chunks × weight-row
//! chunks) that rayon runs in parallel; each output is computed by one tile
//! in a fixed order, so results do not depend on the thread count, and they
//! equal the GEMV's for the same row (`gemv_*(w, x_q[i]) == y[i, ..]` up to
//! the f32 summation order of the tile, which is the same code).

use pulp::{Simd, WithSimd};

use super::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use super::format::{QuantWeight, block_dot_f64};
use super::gemv::validate_gemv;
use super::isa::{Isa, Rect};
use super::split::{OutPtr, for_each_rect};
use crate::KernelError;
use crate::error::check_len;

/// Integer block dots (`m·n·k/32`) from which a GEMM runs in parallel.
pub const QUANT_GEMM_PARALLEL_MIN_BLOCK_DOTS: usize = 32 * 1024;

/// Checks the operands; returns the blocks per row.
fn validate_gemm(
    op: &'static str,
    w_len: usize,
    n: usize,
    k: usize,
    x_len: usize,
    m: usize,
    y_len: usize,
) -> Result<usize, KernelError> {
    // The weights and `k` as for a GEMV with a matching x and y.
    let nb = validate_gemv(op, w_len, n, k, k / QK, 1, n)?;
    let x_blocks = m
        .checked_mul(nb)
        .ok_or(KernelError::SizeOverflow { op, operand: "x_q" })?;
    check_len(op, "x_q", x_blocks, x_len)?;
    let y_elems = m
        .checked_mul(n)
        .ok_or(KernelError::SizeOverflow { op, operand: "y" })?;
    check_len(op, "y", y_elems, y_len)?;
    Ok(nb)
}

/// One validated GEMM with `m, n, nb ≥ 1`.
struct GemmOp<'a, W: QuantWeight> {
    w: &'a [W],
    x: &'a [W::Act],
    nb: usize,
    m: usize,
    n: usize,
    y: &'a mut [f32],
}

impl<W: QuantWeight> WithSimd for GemmOp<'_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let GemmOp { w, x, nb, m, n, y } = self;
        let isa = Isa::of::<S>();
        let out = OutPtr(y.as_mut_ptr());
        let rect = |rows: (usize, usize), cols: (usize, usize)| Rect {
            w,
            x,
            nb,
            rows,
            cols,
            y: out.get(),
            n,
        };
        let parallel = m.saturating_mul(n).saturating_mul(nb) >= QUANT_GEMM_PARALLEL_MIN_BLOCK_DOTS;
        // SAFETY: `for_each_rect` hands out disjoint rectangles inside
        // `y (m, n)`, which stays mutably borrowed until it returns.
        for_each_rect(m, n, parallel, |rows, cols| unsafe {
            isa.gemm_rect(rect(rows, cols))
        });
    }
}

fn gemm_quant<W: QuantWeight>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x: &[W::Act],
    m: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate_gemm(op, w.len(), n, k, x.len(), m, y.len())?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if nb == 0 {
        y.fill(0.0);
        return Ok(());
    }
    crate::dispatch::dispatch(GemmOp { w, x, nb, m, n, y });
    Ok(())
}

fn gemm_quant_ref<W: QuantWeight>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x: &[W::Act],
    m: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate_gemm(op, w.len(), n, k, x.len(), m, y.len())?;
    for i in 0..m {
        for j in 0..n {
            let (w_row, x_row) = (&w[j * nb..][..nb], &x[i * nb..][..nb]);
            let s: f64 = w_row
                .iter()
                .zip(x_row)
                .map(|(a, b)| block_dot_f64(a, b))
                .sum();
            y[i * n + j] = s as f32;
        }
    }
    Ok(())
}

macro_rules! public_gemm {
    ($w:ty, $act:ty, $fmt:literal, $gemm:ident, $gemm_ref:ident) => {
        #[doc = concat!("Quantized GEMM: `y[i, j] = Σ_b dot(w[j, b], x_q[i, b])` with `w` ", $fmt)]
        /// blocks `(n, k/32)` and `x_q` `(m, k/32)`, both row-major; `y` is
        /// `(m, n)` row-major.
        ///
        /// # Errors
        /// [`KernelError::InvalidDimension`] if `k` is not a multiple of 32,
        /// [`KernelError::SizeOverflow`] if a size overflows, and
        /// [`KernelError::LengthMismatch`] unless `w.len() == n·k/32`,
        /// `x_q.len() == m·k/32` and `y.len() == m·n`.
        pub fn $gemm(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[$act],
            m: usize,
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemm_quant(stringify!($gemm), w, n, k, x_q, m, y)
        }

        #[doc = concat!("Oracle of [`", stringify!($gemm), "`]: f64 block dots.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($gemm), "`].")]
        pub fn $gemm_ref(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[$act],
            m: usize,
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemm_quant_ref(stringify!($gemm_ref), w, n, k, x_q, m, y)
        }
    };
}

public_gemm!(BlockQ8_0, BlockQ8_0, "Q8_0", gemm_q8_0, gemm_q8_0_ref);
public_gemm!(BlockQ4_0, BlockQ8_0, "Q4_0", gemm_q4_0, gemm_q4_0_ref);
public_gemm!(BlockQ4_1, BlockQ8_1, "Q4_1", gemm_q4_1, gemm_q4_1_ref);
