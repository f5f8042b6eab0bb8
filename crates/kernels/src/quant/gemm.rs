//! Quantized GEMM (prefill), for every [`WeightFormat`]:
//! `y (m, n) = x (m, k) · Wᵀ` with `W` `(n, k/VALUES)` blocks (the GEMV
//! layout) and `x` quantized once per row beforehand ([`quantize`](super::quantize)
//! over the whole `(m, k)` matrix: blocks never straddle rows).
//!
//! The output is cut into rectangles (activation-row chunks × weight-row
//! runs) that the workers share. Each format's `gemm_rect` computes one:
//! with 4 weight rows × 4 activation rows register tiles by default, and on
//! AVX-512 VNNI + VBMI for the 32-value formats with 16 weight rows
//! repacked into one i32 lane each (`x86/lanes.rs`). Each output is computed
//! by one tile in a fixed order, so results do not depend on the thread
//! count, and they equal the GEMV's for the same row
//! (`gemv(w, x_q[i]) == y[i, ..]`: the same tile code, or the same sum in the
//! same order). One row runs the GEMV.

use pulp::{Simd, WithSimd};

use super::format::WeightFormat;
use super::gemv::{Operands, gemv};
use super::isa::{Isa, Rect};
use super::split::{OutPtr, for_each_rect};
use crate::KernelError;

/// Multiply-adds (`m·n·k`) from which a GEMM runs in parallel.
pub const GEMM_PARALLEL_MIN_MACS: usize = 1 << 20;

/// One validated GEMM with `m, n, nb ≥ 1`.
struct GemmOp<'a, W: WeightFormat> {
    w: &'a [W],
    x: &'a [W::Act],
    nb: usize,
    m: usize,
    n: usize,
    y: &'a mut [f32],
}

impl<W: WeightFormat> WithSimd for GemmOp<'_, W> {
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
        let macs = m.saturating_mul(n).saturating_mul(nb * W::VALUES);
        // SAFETY: `for_each_rect` hands out disjoint rectangles inside
        // `y (m, n)`, which stays mutably borrowed until it returns.
        for_each_rect(m, n, (macs, GEMM_PARALLEL_MIN_MACS), |rows, cols| unsafe {
            isa.gemm_rect(rect(rows, cols))
        });
    }
}

/// The checked operands of a GEMM named `op`; returns the blocks per row.
fn validate<W: WeightFormat>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x_q: &[W::Act],
    m: usize,
    y: &[f32],
) -> Result<usize, KernelError> {
    Operands {
        op,
        w_blocks: w.len(),
        n,
        k,
        m,
        x_len: x_q.len(),
        x_per_block: 1,
        y_len: y.len(),
    }
    .validate::<W>()
}

/// Quantized GEMM: `y[i, j] = Σ_b dot(w[j, b], x_q[i, b])` with `w` blocks
/// `(n, k/VALUES)` and `x_q` `(m, k/VALUES)` activation blocks, both
/// row-major; `y` is `(m, n)` row-major.
///
/// # Errors
/// [`KernelError::InvalidDimension`] if `k` is not a multiple of the block
/// size, [`KernelError::SizeOverflow`] if a size overflows, and
/// [`KernelError::LengthMismatch`] unless `w.len() == n·k/VALUES`,
/// `x_q.len() == m·k/VALUES` and `y.len() == m·n`.
pub fn gemm<W: WeightFormat>(
    w: &[W],
    n: usize,
    k: usize,
    x_q: &[W::Act],
    m: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate("gemm", w, n, k, x_q, m, y)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if nb == 0 {
        y.fill(0.0);
        return Ok(());
    }
    if m == 1 {
        return gemv(w, n, k, x_q, y);
    }
    crate::dispatch::dispatch(GemmOp {
        w,
        x: x_q,
        nb,
        m,
        n,
        y,
    });
    Ok(())
}

/// Oracle of [`gemm`]: f64 block dots.
///
/// # Errors
/// As [`gemm`].
pub fn gemm_ref<W: WeightFormat>(
    w: &[W],
    n: usize,
    k: usize,
    x_q: &[W::Act],
    m: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate("gemm_ref", w, n, k, x_q, m, y)?;
    for i in 0..m {
        for j in 0..n {
            let (w_row, x_row) = (&w[j * nb..][..nb], &x_q[i * nb..][..nb]);
            let s: f64 = w_row
                .iter()
                .zip(x_row)
                .map(|(a, b)| a.dot_block_f64(b))
                .sum();
            y[i * n + j] = s as f32;
        }
    }
    Ok(())
}
