//! The llama.cpp-style fast path for the K-quants: activations quantized to
//! [`BlockQ8K`] (256 values, f32 scale, per-16 sums), integer superblock
//! dots Q4_K×Q8_K and Q6_K×Q8_K, and the GEMV (decode) / GEMM (prefill)
//! drivers over them.
//!
//! # Superblock dots
//! With `x = d_x·q_x` (one Q8_K block) and the weight formats of the
//! `kquant` module:
//! - Q4_K: `dot = d·d_x·Σ_s sc[s]·Σ_{j∈s} q_j·q_x[j] − dmin·d_x·Σ_s mn[s]·(bsums[2s] + bsums[2s+1])`
//!   over the eight sub-blocks `s` of 32 (the min term needs only the
//!   activation block sums, which is why Q8_K carries `bsums`);
//! - Q6_K: `dot = d·d_x·(Σ_s sc[s]·Σ_{j∈s} q_j·q_x[j] − 32·Σ_s sc[s]·bsums[s])`
//!   over the sixteen sub-blocks of 16, with the unsigned 6-bit `q` (the
//!   `−32` offset folded into the block sums).
//!
//! Both integer sums are exact in i32 (at most `|q_x| ≤ 127·256` times 63
//! or 128 per superblock, about 2²⁸), computed with AVX-512 VNNI
//! `vpdpbusd` (unsigned weights × signed activations), AVX2
//! `vpmaddubsw`/`vpmaddwd`, or plain loops. So, as for the 32-blocks, only the
//! f32 scaling and summation order differ between paths: within
//! `(nb + 8)·2⁻²³·Σ_b (|d·d_x·I_b| + |dmin·d_x·M_b|)` of the f64 oracles
//! (`*_ref`), `I_b`/`M_b` the two integer sums of superblock `b`.
//!
//! # Error of quantized activations
//! [`quantize_q8_k`] follows ggml's `quantize_row_q8_K_ref` (up to the sign
//! of `d`, which ggml takes from the largest value): `q = round(x·(127/amax))`
//! (halves to even) and `d_x = 1/(127/amax)`, an f32 scale (NaN if the block holds a NaN, so
//! NaN propagates to the dots), so each value moves by at most
//! `1.0001·amax/254` (`amax` the block's largest `|x|` over 256 values, not
//! 32: a K-quant row shares one activation scale per 256 values). Against the
//! f32-activation path (`gemv_q*_k_f32`),
//! `|dot_q − dot_f32| ≤ Σ_b 1.0001·amax_b/254·Σ_{j∈b} |w_j|` plus f32
//! summation; `tests/kquant.rs` checks it.
//!
//! Row lengths must be whole superblocks (`k % 256 == 0`), as in ggml.

use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use super::isa::{COLS, Isa, ROWS};
use super::kquant::{BlockQ4K, BlockQ6K, KQuantBlock, QK_K};
use super::split::{OutPtr, for_each_rect, gemv_task_rows};
use crate::KernelError;
use crate::error::check_len;

/// A Q8_K activation block (ggml's layout, 292 bytes): 256 values `x ≈ d·q`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8K {
    /// Scale.
    pub d: f32,
    /// Quantized values, in order.
    pub qs: [i8; QK_K],
    /// `bsums[i] = Σ qs[16i .. 16i + 16]`.
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(size_of::<BlockQ8K>() == 292);
const _: () = assert!(align_of::<BlockQ8K>() == 4);

impl Default for BlockQ8K {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// `n_values` must be whole superblocks and `n_blocks` exactly `n_values / 256`.
fn check_superblocks(
    op: &'static str,
    values: &'static str,
    n_values: usize,
    n_blocks: usize,
) -> Result<(), KernelError> {
    if !n_values.is_multiple_of(QK_K) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: values,
            value: n_values,
            reason: "length must be a multiple of the superblock size 256",
        });
    }
    check_len(op, "out", n_values / QK_K, n_blocks)
}

/// The larger of `m` and `a`, NaN if either is.
#[inline(always)]
fn nan_max(m: f32, a: f32) -> f32 {
    if a > m || a.is_nan() { a } else { m }
}

/// `(d, 1/d)` of a Q8_K block with largest magnitude `amax`, as ggml's
/// `quantize_row_q8_K_ref`: `1/d = 127/amax` rounded once, `d = 1/(1/d)`.
#[inline(always)]
fn q8_k_scales(amax: f32) -> (f32, f32) {
    if amax == 0.0 {
        return (0.0, 0.0);
    }
    let id = 127.0 / amax;
    (1.0 / id, id)
}

/// One Q8_K block from 256 values (see the module docs).
#[inline(always)]
fn quantize_block(x: &[f32], out: &mut BlockQ8K) {
    let amax = x.iter().fold(0.0f32, |m, v| nan_max(m, v.abs()));
    let (d, id) = q8_k_scales(amax);
    for (q, &v) in out.qs.iter_mut().zip(x) {
        // `as` saturates (and maps NaN to 0), so the clamp only guards
        // against the rounding of `id`.
        *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    out.d = d;
    for (s, qs) in out.bsums.iter_mut().zip(out.qs.chunks_exact(16)) {
        *s = qs.iter().map(|&q| i16::from(q)).sum();
    }
}

/// Quantizes rows of f32 to Q8_K: `out[i]` holds `x[256i .. 256i + 256]`.
///
/// # Errors
/// [`KernelError::InvalidDimension`] unless `x.len()` is a multiple of 256,
/// [`KernelError::LengthMismatch`] unless `out.len() == x.len() / 256`.
pub fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8K]) -> Result<(), KernelError> {
    check_superblocks("quantize_q8_k", "x", x.len(), out.len())?;
    for (xb, ob) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        quantize_block(xb, ob);
    }
    Ok(())
}

/// Oracle of [`quantize_q8_k`], value by value.
///
/// # Errors
/// As [`quantize_q8_k`].
pub fn quantize_q8_k_ref(x: &[f32], out: &mut [BlockQ8K]) -> Result<(), KernelError> {
    check_superblocks("quantize_q8_k_ref", "x", x.len(), out.len())?;
    for (b, ob) in out.iter_mut().enumerate() {
        let xb = &x[b * QK_K..][..QK_K];
        let mut amax = 0.0f32;
        for &v in xb {
            if v.is_nan() || amax.is_nan() {
                amax = f32::NAN;
            } else if v.abs() > amax {
                amax = v.abs();
            }
        }
        let id = if amax == 0.0 { 0.0 } else { 127.0 / amax };
        ob.d = if amax == 0.0 { 0.0 } else { 1.0 / id };
        for (q, &v) in ob.qs.iter_mut().zip(xb) {
            *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
        }
        for i in 0..QK_K / 16 {
            ob.bsums[i] = (0..16).map(|j| i16::from(ob.qs[16 * i + j])).sum();
        }
    }
    Ok(())
}

/// Dequantizes Q8_K blocks (`d·q`).
///
/// # Errors
/// As [`quantize_q8_k`], with `out` the values.
pub fn dequantize_q8_k(blocks: &[BlockQ8K], out: &mut [f32]) -> Result<(), KernelError> {
    check_superblocks("dequantize_q8_k", "out", out.len(), blocks.len())?;
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
        for (v, &q) in o.iter_mut().zip(&b.qs) {
            *v = b.d * f32::from(q);
        }
    }
    Ok(())
}

/// Which K-quant a [`KDot`] is (monomorphised matches cost nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KKind {
    Q4K,
    Q6K,
}

/// A K-quant weight superblock with an integer dot against Q8_K.
pub(crate) trait KDot: KQuantBlock {
    const KIND: KKind;
    /// The exact integer sums `(I, M)` of the module docs, from the values
    /// (not the block sums): `dot = d·d_x·I − dmin·d_x·M` (`M = 0` for Q6_K).
    fn isums(&self, x: &BlockQ8K) -> (i32, i32);
    /// `(d, dmin)` in f32 (`dmin = 0` for Q6_K).
    fn scales(&self) -> (f32, f32);
}

impl KDot for BlockQ4K {
    const KIND: KKind = KKind::Q4K;

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let (mut isum, mut msum) = (0i32, 0i32);
        for s in 0..8 {
            let (sc, mn) = self.scale_min(s);
            let bytes = &self.qs[32 * (s / 2)..][..32];
            let xs = &x.qs[32 * s..][..32];
            let dot: i32 = bytes
                .iter()
                .zip(xs)
                .map(|(&b, &q)| {
                    let w = if s % 2 == 0 { b & 0x0F } else { b >> 4 };
                    i32::from(w) * i32::from(q)
                })
                .sum();
            let xsum: i32 = xs.iter().map(|&q| i32::from(q)).sum();
            isum += i32::from(sc) * dot;
            msum += i32::from(mn) * xsum;
        }
        (isum, msum)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), self.dmin.to_f32())
    }
}

impl BlockQ6K {
    /// The unsigned 6-bit value (`0..64`, before the `− 32`) of weight `j`.
    #[inline(always)]
    pub fn quant(&self, j: usize) -> u8 {
        let (half, within) = (j / 128, j % 128);
        let (i, l) = (within / 32, within % 32);
        let low = self.ql[64 * half + l + 32 * (i % 2)];
        let low = if i < 2 { low & 0x0F } else { low >> 4 };
        let high = (self.qh[32 * half + l] >> (2 * i)) & 3;
        low | (high << 4)
    }
}

impl KDot for BlockQ6K {
    const KIND: KKind = KKind::Q6K;

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let mut isum = 0i32;
        for s in 0..16 {
            let dot: i32 = (16 * s..16 * s + 16)
                .map(|j| (i32::from(self.quant(j)) - 32) * i32::from(x.qs[j]))
                .sum();
            isum += i32::from(self.scales[s]) * dot;
        }
        (isum, 0)
    }

    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32(), 0.0)
    }
}

/// One superblock dot in f32, the scalar path's order.
#[inline(always)]
fn sb_dot<B: KDot>(w: &B, x: &BlockQ8K) -> f32 {
    let (isum, msum) = w.isums(x);
    let (d, dmin) = w.scales();
    (d * x.d) * isum as f32 - (dmin * x.d) * msum as f32
}

/// One superblock dot in f64 (the oracle's).
#[inline(always)]
fn sb_dot_f64<B: KDot>(w: &B, x: &BlockQ8K) -> f64 {
    let (isum, msum) = w.isums(x);
    let (d, dmin) = w.scales();
    let dx = f64::from(x.d);
    f64::from(d) * dx * f64::from(isum) - f64::from(dmin) * dx * f64::from(msum)
}

/// How to compute an `R × C` tile of superblock-row dot products.
pub(crate) trait KTiles {
    /// `out[r][c] = Σ_b dot(w[r][b], x[c][b])`; every slice has the same
    /// length; `ahead` (bytes, 0 for none) is the prefetch distance in `w`.
    ///
    /// # Safety
    /// The CPU must support the implementation's instruction set.
    unsafe fn tile<B: KDot, const R: usize, const C: usize>(
        w: [&[B]; R],
        x: [&[BlockQ8K]; C],
        ahead: usize,
    ) -> [[f32; C]; R];
}

/// Portable integer loops.
pub(crate) struct ScalarKTiles;

impl KTiles for ScalarKTiles {
    #[inline(always)]
    unsafe fn tile<B: KDot, const R: usize, const C: usize>(
        w: [&[B]; R],
        x: [&[BlockQ8K]; C],
        _ahead: usize,
    ) -> [[f32; C]; R] {
        let mut out = [[0.0f32; C]; R];
        for (out_r, w_r) in out.iter_mut().zip(w) {
            for (o, x_c) in out_r.iter_mut().zip(x) {
                *o = w_r.iter().zip(x_c).map(|(wb, xb)| sb_dot(wb, xb)).sum();
            }
        }
        out
    }
}

/// Software-prefetch distance in the weight stream.
const PREFETCH_BYTES: usize = 8 * 1024;

/// Output rows `j0 .. j0 + y.len()` of a GEMV over whole rows of `x.len()`
/// superblocks, `ROWS` rows per tile.
///
/// # Safety
/// The CPU must support `T`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn gemv_rows<T: KTiles, B: KDot>(
    w: &[B],
    x: &[BlockQ8K],
    j0: usize,
    y: &mut [f32],
) {
    let nb = x.len();
    let n = y.len();
    let row = |j: usize| &w[(j0 + j) * nb..][..nb];
    let ahead = crate::prefetch::groups_ahead(ROWS * nb * size_of::<B>(), PREFETCH_BYTES);
    let mut j = 0;
    while j < n {
        // A short last group repeats its last row; the extra sums are dropped.
        let rows: [&[B]; ROWS] = std::array::from_fn(|r| row((j + r).min(n - 1)));
        // SAFETY: forwarded from our caller.
        let out = unsafe { T::tile::<B, ROWS, 1>(rows, [x], ahead) };
        for (yj, o) in y[j..].iter_mut().zip(out) {
            *yj = o[0];
        }
        j += ROWS;
    }
}

/// A rectangle of a K-quant GEMM `y (m, n) = x (m, k) · Wᵀ`: activation rows
/// `rows.0 .. rows.1` × weight rows `cols.0 .. cols.1`, written through a
/// raw pointer so rectangles of one `y` can run on several threads.
pub(crate) struct KRect<'a, B> {
    pub w: &'a [B],
    pub x: &'a [BlockQ8K],
    pub nb: usize,
    pub rows: (usize, usize),
    pub cols: (usize, usize),
    pub y: *mut f32,
    pub n: usize,
}

/// Computes one [`KRect`], `ROWS × COLS` tiles at a time.
///
/// # Safety
/// The CPU must support `T`'s instruction set; `rect.y` must be valid for
/// writes at `i·n + j` for every `(i, j)` in the rectangle, which no other
/// thread accesses meanwhile.
#[inline(always)]
pub(crate) unsafe fn gemm_rect<T: KTiles, B: KDot>(rect: KRect<'_, B>) {
    let KRect {
        w,
        x,
        nb,
        rows: (i0, i1),
        cols: (j0, j1),
        y,
        n,
    } = rect;
    let w_row = |j: usize| &w[j * nb..][..nb];
    let x_row = |i: usize| &x[i * nb..][..nb];
    let mut j = j0;
    while j < j1 {
        let ws: [&[B]; ROWS] = std::array::from_fn(|r| w_row((j + r).min(j1 - 1)));
        let mut i = i0;
        while i < i1 {
            let xs: [&[BlockQ8K]; COLS] = std::array::from_fn(|c| x_row((i + c).min(i1 - 1)));
            // SAFETY: forwarded from our caller.
            let out = unsafe { T::tile::<B, ROWS, COLS>(ws, xs, 0) };
            for (r, out_r) in out.iter().enumerate().take(j1 - j) {
                for (c, &v) in out_r.iter().enumerate().take(i1 - i) {
                    // SAFETY: `(i + c, j + r)` is inside the rectangle, which
                    // our caller lets us write.
                    unsafe { *y.add((i + c) * n + j + r) = v };
                }
            }
            i += COLS;
        }
        j += ROWS;
    }
}

impl Isa {
    /// [`gemv_rows`] with this instruction set.
    #[inline]
    fn k_gemv_rows<B: KDot>(self, w: &[B], x: &[BlockQ8K], j0: usize, y: &mut [f32]) {
        match self {
            // SAFETY: the scalar tiles use no special instructions.
            Isa::Scalar => unsafe { gemv_rows::<ScalarKTiles, B>(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2` is only built after V3 (AVX2, FMA, F16C)
            // was detected.
            Isa::Avx2 => unsafe { super::kdot_x86::gemv_rows_avx2(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Vnni` is only built after V4 and AVX-512 VNNI
            // were detected.
            Isa::Vnni => unsafe { super::kdot_x86::gemv_rows_vnni(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as for `Isa::Vnni` (VBMI is not needed).
            Isa::Vnni512 => unsafe { super::kdot_x86::gemv_rows_vnni512(w, x, j0, y) },
        }
    }

    /// [`gemm_rect`] with this instruction set.
    ///
    /// # Safety
    /// As [`gemm_rect`], minus the CPU features (`self`'s).
    #[inline]
    unsafe fn k_gemm_rect<B: KDot>(self, rect: KRect<'_, B>) {
        match self {
            // SAFETY: no special instructions; the rectangle is our caller's.
            Isa::Scalar => unsafe { gemm_rect::<ScalarKTiles, B>(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `k_gemv_rows`.
            Isa::Avx2 => unsafe { super::kdot_x86::gemm_rect_avx2(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `k_gemv_rows`.
            Isa::Vnni => unsafe { super::kdot_x86::gemm_rect_vnni(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `k_gemv_rows`.
            Isa::Vnni512 => unsafe { super::kdot_x86::gemm_rect_vnni512(rect) },
        }
    }
}

/// Weight bytes from which a K-quant GEMV is split across rayon threads.
pub const KQUANT_GEMV_PARALLEL_MIN_BYTES: usize = 128 * 1024;
/// Superblock dots (`m·n·k/256`) from which a K-quant GEMM runs in parallel.
pub const KQUANT_GEMM_PARALLEL_MIN_BLOCK_DOTS: usize = 4 * 1024;

/// Checks a K-quant GEMM (a GEMV is `m = 1`); returns the superblocks per row.
fn validate(
    op: &'static str,
    w_len: usize,
    n: usize,
    k: usize,
    x_len: usize,
    m: usize,
    y_len: usize,
) -> Result<usize, KernelError> {
    if !k.is_multiple_of(QK_K) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "k",
            value: k,
            reason: "must be a multiple of the superblock size 256",
        });
    }
    let nb = k / QK_K;
    let w_blocks = n
        .checked_mul(nb)
        .ok_or(KernelError::SizeOverflow { op, operand: "w" })?;
    check_len(op, "w", w_blocks, w_len)?;
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

/// One validated GEMV with `n, nb ≥ 1`.
struct KGemvOp<'a, B> {
    w: &'a [B],
    x: &'a [BlockQ8K],
    y: &'a mut [f32],
}

impl<B: KDot> WithSimd for KGemvOp<'_, B> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let KGemvOp { w, x, y } = self;
        let isa = Isa::of::<S>();
        match gemv_task_rows(
            y.len(),
            x.len() * size_of::<B>(),
            KQUANT_GEMV_PARALLEL_MIN_BYTES,
        ) {
            None => isa.k_gemv_rows(w, x, 0, y),
            Some(task_rows) => y
                .par_chunks_mut(task_rows)
                .enumerate()
                .for_each(|(t, ys)| isa.k_gemv_rows(w, x, t * task_rows, ys)),
        }
    }
}

/// One validated GEMM with `m, n, nb ≥ 1`.
struct KGemmOp<'a, B> {
    w: &'a [B],
    x: &'a [BlockQ8K],
    nb: usize,
    m: usize,
    n: usize,
    y: &'a mut [f32],
}

impl<B: KDot> WithSimd for KGemmOp<'_, B> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let KGemmOp { w, x, nb, m, n, y } = self;
        let isa = Isa::of::<S>();
        let out = OutPtr(y.as_mut_ptr());
        let rect = |rows: (usize, usize), cols: (usize, usize)| KRect {
            w,
            x,
            nb,
            rows,
            cols,
            y: out.get(),
            n,
        };
        let parallel =
            m.saturating_mul(n).saturating_mul(nb) >= KQUANT_GEMM_PARALLEL_MIN_BLOCK_DOTS;
        // SAFETY: `for_each_rect` hands out disjoint rectangles inside
        // `y (m, n)`, which stays mutably borrowed until it returns.
        for_each_rect(m, n, parallel, |rows, cols| unsafe {
            isa.k_gemm_rect(rect(rows, cols))
        });
    }
}

fn gemm_k<B: KDot>(
    op: &'static str,
    w: &[B],
    n: usize,
    k: usize,
    x: &[BlockQ8K],
    m: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate(op, w.len(), n, k, x.len(), m, y.len())?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if nb == 0 {
        y.fill(0.0);
        return Ok(());
    }
    if m == 1 {
        crate::dispatch::dispatch(KGemvOp { w, x, y });
    } else {
        crate::dispatch::dispatch(KGemmOp { w, x, nb, m, n, y });
    }
    Ok(())
}

fn gemm_k_ref<B: KDot>(
    op: &'static str,
    w: &[B],
    n: usize,
    k: usize,
    x: &[BlockQ8K],
    m: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate(op, w.len(), n, k, x.len(), m, y.len())?;
    for i in 0..m {
        for j in 0..n {
            let (w_row, x_row) = (&w[j * nb..][..nb], &x[i * nb..][..nb]);
            let s: f64 = w_row.iter().zip(x_row).map(|(a, b)| sb_dot_f64(a, b)).sum();
            y[i * n + j] = s as f32;
        }
    }
    Ok(())
}

macro_rules! public_kdot {
    ($w:ty, $fmt:literal, $dot:ident, $dot_ref:ident, $gemv:ident, $gemv_ref:ident,
     $gemm:ident, $gemm_ref:ident) => {
        #[doc = concat!("Superblock dot product of ", $fmt, " weights with Q8_K activations:")]
        /// `Σ_b dot(w[b], x[b])` (see the [`quant`](crate::quant) module docs).
        ///
        /// # Errors
        /// [`KernelError::LengthMismatch`] if `x.len() != w.len()`.
        pub fn $dot(w: &[$w], x: &[BlockQ8K]) -> Result<f32, KernelError> {
            let mut y = [0.0f32];
            let k = w.len().checked_mul(QK_K).ok_or(KernelError::SizeOverflow {
                op: stringify!($dot),
                operand: "w",
            })?;
            gemm_k(stringify!($dot), w, 1, k, x, 1, &mut y)?;
            Ok(y[0])
        }

        #[doc = concat!("Oracle of [`", stringify!($dot), "`]: f64 superblock dots.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($dot), "`].")]
        pub fn $dot_ref(w: &[$w], x: &[BlockQ8K]) -> Result<f32, KernelError> {
            let mut y = [0.0f32];
            let k = w.len().checked_mul(QK_K).ok_or(KernelError::SizeOverflow {
                op: stringify!($dot_ref),
                operand: "w",
            })?;
            gemm_k_ref(stringify!($dot_ref), w, 1, k, x, 1, &mut y)?;
            Ok(y[0])
        }

        #[doc = concat!("Quantized GEMV: `y[j] = Σ_b dot(w[j, b], x_q[b])` with `w` ", $fmt)]
        /// superblocks `(n, k/256)`, row-major, and `x_q` the Q8_K row.
        ///
        /// # Errors
        /// [`KernelError::InvalidDimension`] if `k` is not a multiple of 256,
        /// [`KernelError::SizeOverflow`], and [`KernelError::LengthMismatch`]
        /// unless `w.len() == n·k/256`, `x_q.len() == k/256`, `y.len() == n`.
        pub fn $gemv(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[BlockQ8K],
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemm_k(stringify!($gemv), w, n, k, x_q, 1, y)
        }

        #[doc = concat!("Oracle of [`", stringify!($gemv), "`]: f64 superblock dots.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($gemv), "`].")]
        pub fn $gemv_ref(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[BlockQ8K],
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemm_k_ref(stringify!($gemv_ref), w, n, k, x_q, 1, y)
        }

        #[doc = concat!("Quantized GEMM: `y[i, j] = Σ_b dot(w[j, b], x_q[i, b])` with `w` ", $fmt)]
        /// superblocks `(n, k/256)` and `x_q` Q8_K `(m, k/256)`, both
        /// row-major; `y` is `(m, n)` row-major.
        ///
        /// # Errors
        /// As the GEMV, with `x_q.len() == m·k/256` and `y.len() == m·n`.
        pub fn $gemm(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[BlockQ8K],
            m: usize,
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemm_k(stringify!($gemm), w, n, k, x_q, m, y)
        }

        #[doc = concat!("Oracle of [`", stringify!($gemm), "`]: f64 superblock dots.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($gemm), "`].")]
        pub fn $gemm_ref(
            w: &[$w],
            n: usize,
            k: usize,
            x_q: &[BlockQ8K],
            m: usize,
            y: &mut [f32],
        ) -> Result<(), KernelError> {
            gemm_k_ref(stringify!($gemm_ref), w, n, k, x_q, m, y)
        }
    };
}

public_kdot!(
    BlockQ4K,
    "Q4_K",
    dot_q4_k,
    dot_q4_k_ref,
    gemv_q4_k,
    gemv_q4_k_ref,
    gemm_q4_k,
    gemm_q4_k_ref
);
public_kdot!(
    BlockQ6K,
    "Q6_K",
    dot_q6_k,
    dot_q6_k_ref,
    gemv_q6_k,
    gemv_q6_k_ref,
    gemm_q6_k,
    gemm_q6_k_ref
);
