//! ggml K-quants with 256-weight superblocks: [`BlockQ4K`] (`Q4_K`) and
//! [`BlockQ6K`] (`Q6_K`), byte-compatible with GGUF: dequantizers and the
//! f32-activation GEMV (each superblock dequantized into a stack buffer, then
//! a SIMD dot product with `x`; no dequantized row is stored).
//!
//! Formats (per superblock of [`QK_K`] = 256 weights):
//! - Q4_K (144 bytes): `d`, `dmin` (f16); 12 bytes packing eight 6-bit
//!   scales `sc` and eight 6-bit mins `mn` (sub-blocks of 32); 128 bytes of
//!   nibbles. Sub-block `s` (weights `32s .. 32s + 32`) uses the low nibbles
//!   of bytes `32·(s/2) ..` for even `s`, the high nibbles for odd `s`;
//!   `x = d·sc[s]·q − dmin·mn[s]`. Scales/mins `j < 4` are the low 6 bits of
//!   bytes `j` / `j + 4`; for `j ≥ 4` their low 4 bits are the nibbles of
//!   byte `j + 4` and their high 2 bits the top bits of bytes `j − 4` / `j`.
//! - Q6_K (210 bytes): 128 bytes `ql` (low 4 bits), 64 bytes `qh` (high 2
//!   bits), sixteen i8 scales (sub-blocks of 16), `d` (f16);
//!   `x = d·scale·(q − 32)`. In each half of 128 weights, weight `l + 32·i`
//!   (`l < 32`, `i < 4`) takes its low bits from `ql[l + 32·(i % 2)]` (low
//!   nibble for `i < 2`, high for `i ≥ 2`) and its high bits from bits
//!   `2i, 2i + 1` of `qh[l]`; its scale is `scales[l / 16 + 2i]`.
//!
//! The dequantizers match gguf-py's `gguf.quants.dequantize` (checked by
//! `tests/quant.rs` against a fixture). The integer dot products against
//! Q8_K activations are in the `kdot` module.

use half::f16;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

use crate::KernelError;
use crate::error::check_len;

/// Weights per K-quant superblock.
pub const QK_K: usize = 256;

/// ggml `Q4_K` superblock (144 bytes, alignment 2); see the module docs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block mins.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit mins, packed.
    pub scales: [u8; 12],
    /// 256 nibbles.
    pub qs: [u8; QK_K / 2],
}

/// ggml `Q6_K` superblock (210 bytes, alignment 2); see the module docs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ6K {
    /// Low 4 bits of the quants.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits of the quants.
    pub qh: [u8; QK_K / 4],
    /// Sixteen sub-block scales.
    pub scales: [i8; QK_K / 16],
    /// Superblock scale.
    pub d: f16,
}

const _: () = assert!(size_of::<BlockQ4K>() == 144);
const _: () = assert!(size_of::<BlockQ6K>() == 210);
const _: () = assert!(align_of::<BlockQ4K>() == 2);
const _: () = assert!(align_of::<BlockQ6K>() == 2);

/// A K-quant superblock that can dequantize itself.
pub trait KQuantBlock: bytemuck::Pod + Send + Sync {
    /// The 256 values of the superblock in f32.
    fn dequantize(&self, out: &mut [f32; QK_K]);
}

impl BlockQ4K {
    /// The 6-bit (scale, min) of sub-block `j` (`0..8`).
    #[inline(always)]
    pub fn scale_min(&self, j: usize) -> (u8, u8) {
        let q = &self.scales;
        if j < 4 {
            (q[j] & 63, q[j + 4] & 63)
        } else {
            (
                (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
                (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
            )
        }
    }
}

impl KQuantBlock for BlockQ4K {
    #[inline(always)]
    fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        let dmin = self.dmin.to_f32();
        for (pair, (chunk, qs)) in out
            .chunks_exact_mut(64)
            .zip(self.qs.chunks_exact(32))
            .enumerate()
        {
            let (sc_lo, mn_lo) = self.scale_min(2 * pair);
            let (sc_hi, mn_hi) = self.scale_min(2 * pair + 1);
            let (d_lo, m_lo) = (d * f32::from(sc_lo), dmin * f32::from(mn_lo));
            let (d_hi, m_hi) = (d * f32::from(sc_hi), dmin * f32::from(mn_hi));
            let (lo, hi) = chunk.split_at_mut(32);
            for ((l, h), &q) in lo.iter_mut().zip(hi).zip(qs) {
                *l = d_lo * f32::from(q & 0x0F) - m_lo;
                *h = d_hi * f32::from(q >> 4) - m_hi;
            }
        }
    }
}

impl KQuantBlock for BlockQ6K {
    #[inline(always)]
    fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        for half in 0..2 {
            let ql = &self.ql[64 * half..][..64];
            let qh = &self.qh[32 * half..][..32];
            let sc = &self.scales[8 * half..][..8];
            let y = &mut out[128 * half..][..128];
            for l in 0..32 {
                let is = l / 16;
                let h = qh[l];
                let q = [
                    (ql[l] & 0x0F) | ((h & 3) << 4),
                    (ql[l + 32] & 0x0F) | (((h >> 2) & 3) << 4),
                    (ql[l] >> 4) | (((h >> 4) & 3) << 4),
                    (ql[l + 32] >> 4) | (((h >> 6) & 3) << 4),
                ];
                for (i, &qi) in q.iter().enumerate() {
                    let scale = d * f32::from(sc[is + 2 * i]);
                    y[l + 32 * i] = scale * f32::from(i16::from(qi) - 32);
                }
            }
        }
    }
}

/// `out.len()` must be exactly `QK_K·blocks.len()`.
fn dequantize_k<B: KQuantBlock>(
    op: &'static str,
    blocks: &[B],
    out: &mut [f32],
) -> Result<(), KernelError> {
    if !out.len().is_multiple_of(QK_K) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "out",
            value: out.len(),
            reason: "length must be a multiple of the superblock size 256",
        });
    }
    check_len(op, "blocks", out.len() / QK_K, blocks.len())?;
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK_K)) {
        b.dequantize(o.try_into().expect("chunks_exact_mut(QK_K)"));
    }
    Ok(())
}

/// Dequantizes Q4_K superblocks: `out[256·i + j]` is weight `j` of block `i`.
///
/// # Errors
/// [`KernelError::InvalidDimension`] / [`KernelError::LengthMismatch`] unless
/// `out.len() == 256·blocks.len()`.
pub fn dequantize_q4_k(blocks: &[BlockQ4K], out: &mut [f32]) -> Result<(), KernelError> {
    dequantize_k("dequantize_q4_k", blocks, out)
}

/// Dequantizes Q6_K superblocks (as [`dequantize_q4_k`]).
///
/// # Errors
/// As [`dequantize_q4_k`].
pub fn dequantize_q6_k(blocks: &[BlockQ6K], out: &mut [f32]) -> Result<(), KernelError> {
    dequantize_k("dequantize_q6_k", blocks, out)
}

/// Weight bytes from which a K-quant GEMV is split across rayon threads.
const KQUANT_F32_GEMV_PARALLEL_MIN_BYTES: usize = 128 * 1024;

/// Checks a K-quant GEMV; returns the superblocks per row.
fn validate(
    op: &'static str,
    w_len: usize,
    n: usize,
    k: usize,
    x_len: usize,
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
    let blocks = n
        .checked_mul(nb)
        .ok_or(KernelError::SizeOverflow { op, operand: "w" })?;
    check_len(op, "w", blocks, w_len)?;
    check_len(op, "x", k, x_len)?;
    check_len(op, "y", n, y_len)?;
    Ok(nb)
}

struct GemvK<'a, B> {
    w: &'a [B],
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<B: KQuantBlock> WithSimd for GemvK<'_, B> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let GemvK { w, x, y } = self;
        let nb = x.len() / QK_K;
        let bytes = size_of_val(w);
        let threads = rayon::current_num_threads();
        if bytes < KQUANT_F32_GEMV_PARALLEL_MIN_BYTES || threads <= 1 {
            rows_k(simd, w, nb, x, 0, y);
            return;
        }
        let task_rows = y.len().div_ceil(threads * 8);
        y.par_chunks_mut(task_rows).enumerate().for_each(|(t, ys)| {
            simd.vectorize(RowsK {
                w,
                nb,
                x,
                j0: t * task_rows,
                y: ys,
            })
        });
    }
}

struct RowsK<'a, 'y, B> {
    w: &'a [B],
    nb: usize,
    x: &'a [f32],
    j0: usize,
    y: &'y mut [f32],
}

impl<B: KQuantBlock> WithSimd for RowsK<'_, '_, B> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        rows_k(simd, self.w, self.nb, self.x, self.j0, self.y);
    }
}

/// Rows `j0 .. j0 + y.len()`: dequantize each superblock, then FMA with `x`.
#[inline(always)]
fn rows_k<S: Simd, B: KQuantBlock>(
    simd: S,
    w: &[B],
    nb: usize,
    x: &[f32],
    j0: usize,
    y: &mut [f32],
) {
    let mut buf = [0.0f32; QK_K];
    for (j, yj) in y.iter_mut().enumerate() {
        let row = &w[(j0 + j) * nb..][..nb];
        let (mut acc0, mut acc1) = (simd.splat_f32s(0.0), simd.splat_f32s(0.0));
        for (blk, xb) in row.iter().zip(x.chunks_exact(QK_K)) {
            blk.dequantize(&mut buf);
            let (wv, _) = S::as_simd_f32s(&buf);
            let (xv, _) = S::as_simd_f32s(xb);
            for (wp, xp) in wv.chunks_exact(2).zip(xv.chunks_exact(2)) {
                acc0 = simd.mul_add_e_f32s(wp[0], xp[0], acc0);
                acc1 = simd.mul_add_e_f32s(wp[1], xp[1], acc1);
            }
        }
        *yj = simd.reduce_sum_f32s(simd.add_f32s(acc0, acc1));
    }
}

fn gemv_k<B: KQuantBlock>(
    op: &'static str,
    w: &[B],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    validate(op, w.len(), n, k, x.len(), y.len())?;
    if n == 0 {
        return Ok(());
    }
    if k == 0 {
        y.fill(0.0);
        return Ok(());
    }
    crate::dispatch::dispatch(GemvK { w, x, y });
    Ok(())
}

fn gemv_k_ref<B: KQuantBlock>(
    op: &'static str,
    w: &[B],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let nb = validate(op, w.len(), n, k, x.len(), y.len())?;
    let mut buf = [0.0f32; QK_K];
    for (j, yj) in y.iter_mut().enumerate() {
        let mut s = 0.0f64;
        for (blk, xb) in w[j * nb..][..nb].iter().zip(x.chunks_exact(QK_K)) {
            blk.dequantize(&mut buf);
            s += buf
                .iter()
                .zip(xb)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum::<f64>();
        }
        *yj = s as f32;
    }
    Ok(())
}

/// GEMV of Q4_K weights `(n, k/256)` with f32 activations `x (k)`:
/// `y[j] = Σ_p dequant(w)[j, p]·x[p]`.
///
/// # Errors
/// [`KernelError::InvalidDimension`] if `k` is not a multiple of 256,
/// [`KernelError::SizeOverflow`], and [`KernelError::LengthMismatch`] unless
/// `w.len() == n·k/256`, `x.len() == k`, `y.len() == n`.
pub fn gemv_q4_k_f32(
    w: &[BlockQ4K],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    gemv_k("gemv_q4_k_f32", w, n, k, x, y)
}

/// Oracle of [`gemv_q4_k_f32`]: f64 sums.
///
/// # Errors
/// As [`gemv_q4_k_f32`].
pub fn gemv_q4_k_f32_ref(
    w: &[BlockQ4K],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    gemv_k_ref("gemv_q4_k_f32_ref", w, n, k, x, y)
}

/// GEMV of Q6_K weights with f32 activations (as [`gemv_q4_k_f32`]).
///
/// # Errors
/// As [`gemv_q4_k_f32`].
pub fn gemv_q6_k_f32(
    w: &[BlockQ6K],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    gemv_k("gemv_q6_k_f32", w, n, k, x, y)
}

/// Oracle of [`gemv_q6_k_f32`]: f64 sums.
///
/// # Errors
/// As [`gemv_q4_k_f32`].
pub fn gemv_q6_k_f32_ref(
    w: &[BlockQ6K],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    gemv_k_ref("gemv_q6_k_f32_ref", w, n, k, x, y)
}
