//! Block dot products and quantized GEMV (decode): `y (n) = W (n, k) · x (k)`
//! with `W` in Q8_0/Q4_0/Q4_1 blocks, row-major `[n, k/32]` as GGUF stores a
//! 2-D tensor with `ne0 = k`.
//!
//! Two activation forms:
//! - quantized (`x_q`, one block per 32 values: Q8_0 for Q8_0/Q4_0 weights,
//!   Q8_1 for Q4_1): exact integer block sums, scaled per block in f32;
//! - f32 (`*_f32`): each weight block is dequantized into registers and
//!   multiplied with `x` in f32 (no dequantized row is written anywhere).
//!
//! Four weight rows are processed together so each activation block load and
//! its correction term feed four rows. Above [`QUANT_GEMV_PARALLEL_MIN_BYTES`]
//! of weights the rows are split into rayon tasks (multiples of four rows);
//! every output is computed by one task in a fixed order, so results do not
//! depend on the thread count.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use super::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use super::format::{QuantWeight, block_dot_f64};
use super::isa::{Isa, ROWS};
use super::split::gemv_task_rows;
use crate::KernelError;
use crate::error::check_len;
use crate::prefetch::{groups_ahead, prefetch};

/// Weight bytes from which a quantized GEMV is split across rayon threads.
pub const QUANT_GEMV_PARALLEL_MIN_BYTES: usize = 128 * 1024;

/// Software-prefetch distance of the f32-activation path.
const PREFETCH_BYTES_F32: usize = 8 * 1024;

/// Checks a GEMV's operands; returns the blocks per row.
pub(super) fn validate_gemv(
    op: &'static str,
    w_len: usize,
    n: usize,
    k: usize,
    x_len: usize,
    x_per_block: usize,
    y_len: usize,
) -> Result<usize, KernelError> {
    if !k.is_multiple_of(QK) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "k",
            value: k,
            reason: "must be a multiple of the block size 32",
        });
    }
    let nb = k / QK;
    let w_blocks = n
        .checked_mul(nb)
        .ok_or(KernelError::SizeOverflow { op, operand: "w" })?;
    check_len(op, "w", w_blocks, w_len)?;
    check_len(op, "x", nb * x_per_block, x_len)?;
    check_len(op, "y", n, y_len)?;
    Ok(nb)
}

/// Validates a GEMV (see [`validate_gemv`]) and settles the empty cases: no rows, or `k = 0`
/// (every output is 0). `true` when the kernel has work left.
fn has_work(
    op: &'static str,
    w_len: usize,
    n: usize,
    k: usize,
    x_len: usize,
    x_per_block: usize,
    y: &mut [f32],
) -> Result<bool, KernelError> {
    validate_gemv(op, w_len, n, k, x_len, x_per_block, y.len())?;
    if k == 0 {
        y.fill(0.0);
    }
    Ok(n > 0 && k > 0)
}

/// Task rows for `n` rows of `row_bytes` each; `None` for serial.
fn split(n: usize, row_bytes: usize) -> Option<usize> {
    gemv_task_rows(n, row_bytes, QUANT_GEMV_PARALLEL_MIN_BYTES)
}

/// One validated quantized-activation GEMV.
struct GemvOp<'a, W: QuantWeight> {
    w: &'a [W],
    x: &'a [W::Act],
    y: &'a mut [f32],
}

impl<W: QuantWeight> WithSimd for GemvOp<'_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let GemvOp { w, x, y } = self;
        let isa = Isa::of::<S>();
        match split(y.len(), x.len() * size_of::<W>()) {
            None => isa.gemv_rows(w, x, 0, y),
            Some(task_rows) => y
                .par_chunks_mut(task_rows)
                .enumerate()
                .for_each(|(t, ys)| isa.gemv_rows(w, x, t * task_rows, ys)),
        }
    }
}

/// Quantized-activation GEMV of any format.
fn gemv_quant<W: QuantWeight>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x: &[W::Act],
    y: &mut [f32],
) -> Result<(), KernelError> {
    if has_work(op, w.len(), n, k, x.len(), 1, y)? {
        crate::dispatch::dispatch(GemvOp { w, x, y });
    }
    Ok(())
}

/// Oracle: f64 block dots.
fn gemv_quant_ref<W: QuantWeight>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x: &[W::Act],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate_gemv(op, w.len(), n, k, x.len(), 1, y.len())?;
    for (j, yj) in y.iter_mut().enumerate() {
        let row = &w[j * nb..][..nb];
        *yj = row
            .iter()
            .zip(x)
            .map(|(wb, xb)| block_dot_f64(wb, xb))
            .sum::<f64>() as f32;
    }
    Ok(())
}

/// One validated f32-activation GEMV.
struct GemvF32Op<'a, W: QuantWeight> {
    w: &'a [W],
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<W: QuantWeight> WithSimd for GemvF32Op<'_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let GemvF32Op { w, x, y } = self;
        match split(y.len(), x.len() / QK * size_of::<W>()) {
            None => f32_rows(simd, w, x, 0, y),
            Some(task_rows) => y.par_chunks_mut(task_rows).enumerate().for_each(|(t, ys)| {
                simd.vectorize(F32Task {
                    w,
                    x,
                    j0: t * task_rows,
                    y: ys,
                })
            }),
        }
    }
}

/// One rayon task of the f32-activation GEMV.
struct F32Task<'a, 'y, W> {
    w: &'a [W],
    x: &'a [f32],
    j0: usize,
    y: &'y mut [f32],
}

impl<W: QuantWeight> WithSimd for F32Task<'_, '_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        f32_rows(simd, self.w, self.x, self.j0, self.y);
    }
}

/// Rows `j0 .. j0 + y.len()` against f32 activations, four rows at a time.
#[inline(always)]
fn f32_rows<S: Simd, W: QuantWeight>(simd: S, w: &[W], x: &[f32], j0: usize, y: &mut [f32]) {
    let nb = x.len() / QK;
    let n = y.len();
    let row = |j: usize| &w[(j0 + j) * nb..][..nb];
    let ahead = groups_ahead(ROWS * nb * size_of::<W>(), PREFETCH_BYTES_F32);
    let mut j = 0;
    while j < n {
        let rows: [&[W]; ROWS] = std::array::from_fn(|r| row((j + r).min(n - 1)));
        let out = f32_tile(simd, rows, x, ahead);
        for (yj, o) in y[j..].iter_mut().zip(out) {
            *yj = o;
        }
        j += ROWS;
    }
}

/// `ROWS` dot products of dequantized weight rows with `x`.
#[inline(always)]
fn f32_tile<S: Simd, W: QuantWeight>(
    simd: S,
    rows: [&[W]; ROWS],
    x: &[f32],
    ahead: usize,
) -> [f32; ROWS] {
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; ROWS];
    for (b, xb) in x.chunks_exact(QK).enumerate() {
        let (xv, _) = S::as_simd_f32s(xb);
        for (acc_r, row) in acc.iter_mut().zip(&rows) {
            if b % 2 == 0 {
                prefetch(
                    row.as_ptr()
                        .wrapping_add(b)
                        .cast::<u8>()
                        .wrapping_add(ahead),
                );
            }
            let mut wf = [0.0f32; QK];
            row[b].dequantize_block(&mut wf);
            let (wv, _) = S::as_simd_f32s(&wf);
            for (&wi, &xi) in wv.iter().zip(xv) {
                *acc_r = simd.mul_add_e_f32s(wi, xi, *acc_r);
            }
        }
    }
    // QK is a multiple of every lane count, so there are no tails.
    let mut out = [0.0f32; ROWS];
    for r in 0..ROWS {
        out[r] = simd.reduce_sum_f32s(acc[r]);
    }
    out
}

/// f32-activation GEMV of any format.
fn gemv_f32<W: QuantWeight>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    if has_work(op, w.len(), n, k, x.len(), QK, y)? {
        crate::dispatch::dispatch(GemvF32Op { w, x, y });
    }
    Ok(())
}

/// Oracle: f64 dot products of the dequantized rows.
fn gemv_f32_ref<W: QuantWeight>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate_gemv(op, w.len(), n, k, x.len(), QK, y.len())?;
    for (j, yj) in y.iter_mut().enumerate() {
        let mut s = 0.0f64;
        for (wb, xb) in w[j * nb..][..nb].iter().zip(x.chunks_exact(QK)) {
            let mut wf = [0.0f32; QK];
            wb.dequantize_block(&mut wf);
            s += wf
                .iter()
                .zip(xb)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum::<f64>();
        }
        *yj = s as f32;
    }
    Ok(())
}

macro_rules! public_kernels {
    ($w:ty, $act:ty, $fmt:literal,
     $dot:ident, $dot_ref:ident, $dot_f32:ident, $dot_f32_ref:ident,
     $gemv:ident, $gemv_ref:ident, $gemv_f32:ident, $gemv_f32_ref:ident) => {
        #[doc = concat!("Block dot product of ", $fmt, " weights with quantized activations: ")]
        #[doc = concat!("`Σ_b dot(w[b], x[b])` (see the [module docs](super)).")]
        ///
        /// # Errors
        /// [`KernelError::LengthMismatch`] if `x.len() != w.len()`.
        pub fn $dot(w: &[$w], x: &[$act]) -> Result<f32, KernelError> {
            let mut y = [0.0f32];
            $gemv(w, 1, dot_depth(stringify!($dot), w.len())?, x, &mut y)
                .map_err(|e| rename(e, stringify!($dot)))?;
            Ok(y[0])
        }

        #[doc = concat!("Oracle of [`", stringify!($dot), "`]: f64 block dots.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($dot), "`].")]
        pub fn $dot_ref(w: &[$w], x: &[$act]) -> Result<f32, KernelError> {
            let mut y = [0.0f32];
            $gemv_ref(w, 1, dot_depth(stringify!($dot_ref), w.len())?, x, &mut y)
                .map_err(|e| rename(e, stringify!($dot_ref)))?;
            Ok(y[0])
        }

        #[doc = concat!("Dot product of ", $fmt, " weights with f32 activations, each weight ")]
        /// block dequantized in registers (the exact path).
        ///
        /// # Errors
        /// [`KernelError::LengthMismatch`] if `x.len() != 32·w.len()`.
        pub fn $dot_f32(w: &[$w], x: &[f32]) -> Result<f32, KernelError> {
            let mut y = [0.0f32];
            $gemv_f32(w, 1, dot_depth(stringify!($dot_f32), w.len())?, x, &mut y)
                .map_err(|e| rename(e, stringify!($dot_f32)))?;
            Ok(y[0])
        }

        #[doc = concat!("Oracle of [`", stringify!($dot_f32), "`]: f64 sums.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($dot_f32), "`].")]
        pub fn $dot_f32_ref(w: &[$w], x: &[f32]) -> Result<f32, KernelError> {
            let mut y = [0.0f32];
            $gemv_f32_ref(
                w,
                1,
                dot_depth(stringify!($dot_f32_ref), w.len())?,
                x,
                &mut y,
            )
            .map_err(|e| rename(e, stringify!($dot_f32_ref)))?;
            Ok(y[0])
        }

        #[doc = concat!("Quantized GEMV: `y[j] = Σ_b dot(w[j, b], x_q[b])` with `w` ", $fmt)]
        /// blocks `(n, k/32)`, row-major.
        ///
        /// # Errors
        /// [`KernelError::InvalidDimension`] if `k` is not a multiple of 32,
        /// [`KernelError::SizeOverflow`] if `n·k/32` overflows, and
        /// [`KernelError::LengthMismatch`] unless `w.len() == n·k/32`,
        /// `x_q.len() == k/32` and `y.len() == n`.
        pub fn $gemv(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[$act],
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemv_quant(stringify!($gemv), w, n, k, x_q, y)
        }

        #[doc = concat!("Oracle of [`", stringify!($gemv), "`]: f64 block dots.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($gemv), "`].")]
        pub fn $gemv_ref(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[$act],
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemv_quant_ref(stringify!($gemv_ref), w, n, k, x_q, y)
        }

        #[doc = concat!("GEMV of ", $fmt, " weights `(n, k/32)` with f32 activations `x (k)`:")]
        /// `y[j] = Σ_p dequant(w)[j, p]·x[p]`, dequantizing block by block in
        /// registers.
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($gemv), "`], with `x.len() == k`.")]
        pub fn $gemv_f32(
            w: &[$w],
            n: usize,
            k: usize,
            x: &[f32],
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemv_f32(stringify!($gemv_f32), w, n, k, x, y)
        }

        #[doc = concat!("Oracle of [`", stringify!($gemv_f32), "`]: f64 sums.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($gemv_f32), "`].")]
        pub fn $gemv_f32_ref(
            w: &[$w],
            n: usize,
            k: usize,
            x: &[f32],
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemv_f32_ref(stringify!($gemv_f32_ref), w, n, k, x, y)
        }
    };
}

/// `32·blocks`, the depth of a block dot (overflow is an error, not a wrap).
fn dot_depth(op: &'static str, blocks: usize) -> Result<usize, KernelError> {
    blocks
        .checked_mul(QK)
        .ok_or(KernelError::SizeOverflow { op, operand: "w" })
}

/// Re-labels a GEMV error with the dot product's name.
fn rename(err: KernelError, op: &'static str) -> KernelError {
    match err {
        KernelError::LengthMismatch {
            operand,
            expected,
            actual,
            ..
        } => KernelError::LengthMismatch {
            op,
            operand,
            expected,
            actual,
        },
        KernelError::SizeOverflow { operand, .. } => KernelError::SizeOverflow { op, operand },
        other => other,
    }
}

public_kernels!(
    BlockQ8_0,
    BlockQ8_0,
    "Q8_0",
    dot_q8_0,
    dot_q8_0_ref,
    dot_q8_0_f32,
    dot_q8_0_f32_ref,
    gemv_q8_0,
    gemv_q8_0_ref,
    gemv_q8_0_f32,
    gemv_q8_0_f32_ref
);
public_kernels!(
    BlockQ4_0,
    BlockQ8_0,
    "Q4_0",
    dot_q4_0,
    dot_q4_0_ref,
    dot_q4_0_f32,
    dot_q4_0_f32_ref,
    gemv_q4_0,
    gemv_q4_0_ref,
    gemv_q4_0_f32,
    gemv_q4_0_f32_ref
);
public_kernels!(
    BlockQ4_1,
    BlockQ8_1,
    "Q4_1",
    dot_q4_1,
    dot_q4_1_ref,
    dot_q4_1_f32,
    dot_q4_1_f32_ref,
    gemv_q4_1,
    gemv_q4_1_ref,
    gemv_q4_1_f32,
    gemv_q4_1_f32_ref
);
