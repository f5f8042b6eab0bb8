//! Quantized GEMV (decode) and dot products, for every [`WeightFormat`]:
//! `y (n) = W (n, k) · x (k)` with `W` in blocks, row-major `(n, k/VALUES)`
//! as GGUF stores a 2-D tensor with `ne0 = k`.
//!
//! Two activation forms:
//! - quantized (`x_q`, one [`WeightFormat::Act`] block per `VALUES` numbers):
//!   exact integer block sums, scaled per block in f32;
//! - f32 (`*_f32`): each weight block is dequantized into a stack buffer and
//!   multiplied with `x` in f32 (no dequantized row is written anywhere).
//!
//! Rows are processed in tiles of [`WeightFormat::GEMV_ROWS`] (usually four,
//! so each activation load feeds four rows). Above [`GEMV_PARALLEL_MIN_BYTES`]
//! of weights the rows are split among workers (whole tiles); every output
//! is computed by one task in a fixed order, so results do not depend on the
//! thread count.

use pulp::{Simd, WithSimd};

use super::format::{BlockFormat, WeightFormat};
use super::isa::{Isa, ROWS};
use super::split::gemv_split;
use crate::KernelError;
use crate::error::check_len;
use crate::parallel::{Split, for_each_part_mut};
use crate::prefetch::{groups_ahead, prefetch};

/// Weight bytes from which a quantized GEMV is split over two workers (a
/// worker joins per half of it).
pub const GEMV_PARALLEL_MIN_BYTES: usize = 128 * 1024;

/// Software-prefetch distance of the f32-activation path.
const PREFETCH_BYTES_F32: usize = 8 * 1024;

/// The largest block of any format, in numbers (the f32 path's buffer).
const MAX_VALUES: usize = super::QK_K;

/// The operand lengths of a block product `y (m, n) = x (m, k) · Wᵀ`.
pub(super) struct Operands {
    pub op: &'static str,
    pub w_blocks: usize,
    pub n: usize,
    pub k: usize,
    /// Activation rows.
    pub m: usize,
    /// Activation elements (blocks for `x_q`, floats for f32 rows).
    pub x_len: usize,
    /// Activation elements per weight block: 1 for `x_q`, `VALUES` for f32.
    pub x_per_block: usize,
    pub y_len: usize,
}

impl Operands {
    /// Checks the lengths for format `W`; returns the blocks per row.
    pub(super) fn validate<W: BlockFormat>(&self) -> Result<usize, KernelError> {
        let op = self.op;
        if !self.k.is_multiple_of(W::VALUES) {
            return Err(KernelError::InvalidDimension {
                op,
                dim: "k",
                value: self.k,
                reason: if W::VALUES == 32 {
                    "must be a multiple of the block size 32"
                } else {
                    "must be a multiple of the superblock size 256"
                },
            });
        }
        let nb = self.k / W::VALUES;
        let overflow = |operand| KernelError::SizeOverflow { op, operand };
        let w_blocks = self.n.checked_mul(nb).ok_or(overflow("w"))?;
        check_len(op, "w", w_blocks, self.w_blocks)?;
        let x_elems = self
            .m
            .checked_mul(nb)
            .and_then(|b| b.checked_mul(self.x_per_block))
            .ok_or(overflow("x"))?;
        // The parameter's name: `x_q` for activation blocks, `x` for floats.
        let x_name = if self.x_per_block == 1 { "x_q" } else { "x" };
        check_len(op, x_name, x_elems, self.x_len)?;
        let y_elems = self.m.checked_mul(self.n).ok_or(overflow("y"))?;
        check_len(op, "y", y_elems, self.y_len)?;
        Ok(nb)
    }
}

/// Validates a GEMV and settles the empty cases: no rows, or `k = 0` (every
/// output is 0). `true` when the kernel has work left.
fn has_work<W: BlockFormat>(
    op: &'static str,
    w: &[W],
    n: usize,
    k: usize,
    (x_len, x_per_block): (usize, usize),
    y: &mut [f32],
) -> Result<bool, KernelError> {
    Operands {
        op,
        w_blocks: w.len(),
        n,
        k,
        m: 1,
        x_len,
        x_per_block,
        y_len: y.len(),
    }
    .validate::<W>()?;
    if k == 0 {
        y.fill(0.0);
    }
    Ok(n > 0 && k > 0)
}

/// The split of `n` rows of `row_bytes` each.
fn split(n: usize, row_bytes: usize) -> Split {
    gemv_split(n, row_bytes, GEMV_PARALLEL_MIN_BYTES)
}

/// One validated quantized-activation GEMV.
struct GemvOp<'a, W: WeightFormat> {
    w: &'a [W],
    x: &'a [W::Act],
    y: &'a mut [f32],
}

impl<W: WeightFormat> WithSimd for GemvOp<'_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let GemvOp { w, x, y } = self;
        let isa = Isa::of::<S>();
        let split = split(y.len(), x.len() * size_of::<W>());
        for_each_part_mut(split, y, |rows, ys| isa.gemv_rows(w, x, rows.start, ys));
    }
}

/// Quantized GEMV: `y[j] = Σ_b dot(w[j, b], x_q[b])` with `w` blocks
/// `(n, k/VALUES)`, row-major, and `x_q` the row quantized to `W::Act`.
///
/// # Errors
/// [`KernelError::InvalidDimension`] if `k` is not a multiple of the block
/// size, [`KernelError::SizeOverflow`] if `n·k/VALUES` overflows, and
/// [`KernelError::LengthMismatch`] unless `w.len() == n·k/VALUES`,
/// `x_q.len() == k/VALUES` and `y.len() == n`.
pub fn gemv<W: WeightFormat>(
    w: &[W],
    n: usize,
    k: usize,
    x_q: &[W::Act],
    y: &mut [f32],
) -> Result<(), KernelError> {
    if has_work("gemv", w, n, k, (x_q.len(), 1), y)? {
        crate::dispatch::dispatch(GemvOp { w, x: x_q, y });
    }
    Ok(())
}

/// Oracle of [`gemv`]: f64 block dots.
///
/// # Errors
/// As [`gemv`].
pub fn gemv_ref<W: WeightFormat>(
    w: &[W],
    n: usize,
    k: usize,
    x_q: &[W::Act],
    y: &mut [f32],
) -> Result<(), KernelError> {
    has_work("gemv_ref", w, n, k, (x_q.len(), 1), y)?;
    let nb = k / W::VALUES;
    for (j, yj) in y.iter_mut().enumerate().take(if nb == 0 { 0 } else { n }) {
        let row = &w[j * nb..][..nb];
        *yj = row
            .iter()
            .zip(x_q)
            .map(|(wb, xb)| wb.dot_block_f64(xb))
            .sum::<f64>() as f32;
    }
    Ok(())
}

/// One validated f32-activation GEMV.
struct GemvF32Op<'a, W> {
    w: &'a [W],
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<W: BlockFormat> WithSimd for GemvF32Op<'_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let GemvF32Op { w, x, y } = self;
        let split = split(y.len(), x.len() / W::VALUES * size_of::<W>());
        for_each_part_mut(split, y, |rows, ys| {
            simd.vectorize(F32Task {
                w,
                x,
                j0: rows.start,
                y: ys,
            });
        });
    }
}

/// One part of the f32-activation GEMV.
struct F32Task<'a, 'y, W> {
    w: &'a [W],
    x: &'a [f32],
    j0: usize,
    y: &'y mut [f32],
}

impl<W: BlockFormat> WithSimd for F32Task<'_, '_, W> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        f32_rows(simd, self.w, self.x, self.j0, self.y);
    }
}

/// Rows `j0 .. j0 + y.len()` against f32 activations, four rows at a time.
#[inline(always)]
fn f32_rows<S: Simd, W: BlockFormat>(simd: S, w: &[W], x: &[f32], j0: usize, y: &mut [f32]) {
    let nb = x.len() / W::VALUES;
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
fn f32_tile<S: Simd, W: BlockFormat>(
    simd: S,
    rows: [&[W]; ROWS],
    x: &[f32],
    ahead: usize,
) -> [f32; ROWS] {
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; ROWS];
    let mut wf = [0.0f32; MAX_VALUES];
    let wf = &mut wf[..W::VALUES];
    for (b, xb) in x.chunks_exact(W::VALUES).enumerate() {
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
            row[b].dequantize_block(wf);
            let (wv, _) = S::as_simd_f32s(wf);
            for (&wi, &xi) in wv.iter().zip(xv) {
                *acc_r = simd.mul_add_e_f32s(wi, xi, *acc_r);
            }
        }
    }
    // Every block size is a multiple of every lane count: no tails.
    let mut out = [0.0f32; ROWS];
    for r in 0..ROWS {
        out[r] = simd.reduce_sum_f32s(acc[r]);
    }
    out
}

/// GEMV of weights `(n, k/VALUES)` in blocks with f32 activations `x (k)`:
/// `y[j] = Σ_p dequant(w)[j, p]·x[p]`, dequantizing block by block (the exact
/// path: only f32 summation differs from "dequantize, then f32").
///
/// # Errors
/// As [`gemv`], with `x.len() == k`.
pub fn gemv_f32<W: BlockFormat>(
    w: &[W],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    if has_work("gemv_f32", w, n, k, (x.len(), W::VALUES), y)? {
        crate::dispatch::dispatch(GemvF32Op { w, x, y });
    }
    Ok(())
}

/// Oracle of [`gemv_f32`]: f64 dot products of the dequantized rows.
///
/// # Errors
/// As [`gemv_f32`].
pub fn gemv_f32_ref<W: BlockFormat>(
    w: &[W],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    has_work("gemv_f32_ref", w, n, k, (x.len(), W::VALUES), y)?;
    let nb = k / W::VALUES;
    let mut wf = [0.0f32; MAX_VALUES];
    let wf = &mut wf[..W::VALUES];
    for (j, yj) in y.iter_mut().enumerate().take(if nb == 0 { 0 } else { n }) {
        let mut s = 0.0f64;
        for (wb, xb) in w[j * nb..][..nb].iter().zip(x.chunks_exact(W::VALUES)) {
            wb.dequantize_block(wf);
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

/// `VALUES·blocks`, the depth of a block dot (overflow is an error, not a wrap).
fn dot_depth<W: BlockFormat>(op: &'static str, blocks: usize) -> Result<usize, KernelError> {
    blocks
        .checked_mul(W::VALUES)
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

/// A one-row GEMV as a dot product.
fn as_dot<W: BlockFormat, X>(
    op: &'static str,
    w: &[W],
    x: &[X],
    gemv: impl FnOnce(&[W], usize, &[X], &mut [f32]) -> Result<(), KernelError>,
) -> Result<f32, KernelError> {
    let mut y = [0.0f32];
    let k = dot_depth::<W>(op, w.len())?;
    gemv(w, k, x, &mut y).map_err(|e| rename(e, op))?;
    Ok(y[0])
}

/// Block dot product with quantized activations: `Σ_b dot(w[b], x_q[b])` (see
/// the [module docs](super)).
///
/// # Errors
/// [`KernelError::LengthMismatch`] if `x_q.len() != w.len()`.
pub fn dot<W: WeightFormat>(w: &[W], x_q: &[W::Act]) -> Result<f32, KernelError> {
    as_dot("dot", w, x_q, |w, k, x, y| gemv(w, 1, k, x, y))
}

/// Oracle of [`dot`]: f64 block dots.
///
/// # Errors
/// As [`dot`].
pub fn dot_ref<W: WeightFormat>(w: &[W], x_q: &[W::Act]) -> Result<f32, KernelError> {
    as_dot("dot_ref", w, x_q, |w, k, x, y| gemv_ref(w, 1, k, x, y))
}

/// Dot product with f32 activations, each weight block dequantized in
/// registers (the exact path).
///
/// # Errors
/// [`KernelError::LengthMismatch`] if `x.len() != VALUES·w.len()`.
pub fn dot_f32<W: BlockFormat>(w: &[W], x: &[f32]) -> Result<f32, KernelError> {
    as_dot("dot_f32", w, x, |w, k, x, y| gemv_f32(w, 1, k, x, y))
}

/// Oracle of [`dot_f32`]: f64 sums.
///
/// # Errors
/// As [`dot_f32`].
pub fn dot_f32_ref<W: BlockFormat>(w: &[W], x: &[f32]) -> Result<f32, KernelError> {
    as_dot("dot_f32_ref", w, x, |w, k, x, y| {
        gemv_f32_ref(w, 1, k, x, y)
    })
}
