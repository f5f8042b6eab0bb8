//! Simple quantizers from f32 to Q4_K and Q6_K (for tests and tools).
//!
//! They write valid ggml superblocks but are NOT ggml's quantizers: ggml
//! searches scales to minimise a weighted error (`make_qkx2_quants`,
//! `make_qx_quants`); these take the plain range of each sub-block.
//! - Q4_K, per sub-block `s` of 32: `m_s = min(0, min x)`,
//!   `a_s = (max x − m_s)/15`; superblock `d = max a_s/63`,
//!   `dmin = max(−m_s)/63` (f16); `sc[s] = round(a_s/d)`,
//!   `mn[s] = round(−m_s/dmin)` (6 bits); then
//!   `q = clamp(round((x + dmin·mn)/(d·sc)), 0, 15)`.
//!   Round trip: `|x − x̂| ≤ d·sc/2` on values inside the quantized range,
//!   about `(max − min)/30` per sub-block plus the 6-bit rounding of the
//!   scale and min (`≤ d/2·15 + dmin/2` more at the range ends).
//! - Q6_K, per sub-block of 16: `a_s = amax/31`; `d = max a_s/127` (f16);
//!   `sc[s] = round(a_s/d)` (i8); `q = clamp(round(x/(d·sc)), −32, 31) + 32`.
//!   Round trip: about `amax/62` per sub-block plus the i8 rounding of the
//!   scale (relative `≤ 1/254` of the largest sub-block scale).
//!
//! A zero scale gives zero quants. NaN inputs give unspecified blocks
//! (never a panic).

use half::f16;

use super::kquant::{BlockQ4K, BlockQ6K, QK_K};
use crate::KernelError;
use crate::error::check_len;

fn check(op: &'static str, x_len: usize, blocks: usize) -> Result<(), KernelError> {
    if !x_len.is_multiple_of(QK_K) {
        return Err(KernelError::InvalidDimension {
            op,
            dim: "x",
            value: x_len,
            reason: "length must be a multiple of the superblock size 256",
        });
    }
    check_len(op, "out", x_len / QK_K, blocks)
}

#[inline(always)]
fn inv(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// `round(v·inv)` clamped to `lo ..= hi` (NaN to `lo`).
#[inline(always)]
fn quant(v: f32, inv: f32, lo: f32, hi: f32) -> i32 {
    let q = (v * inv).round();
    if q >= lo { q.min(hi) as i32 } else { lo as i32 }
}

fn q4_k_block(x: &[f32], out: &mut BlockQ4K) {
    let mut scale = [0.0f32; 8];
    let mut min = [0.0f32; 8];
    for (s, xs) in x.chunks_exact(32).enumerate() {
        let lo = xs.iter().fold(0.0f32, |m, &v| m.min(v));
        let hi = xs.iter().fold(lo, |m, &v| m.max(v));
        scale[s] = (hi - lo) / 15.0;
        min[s] = -lo;
    }
    let d = f16::from_f32(scale.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
    let dmin = f16::from_f32(min.iter().fold(0.0f32, |m, &v| m.max(v)) / 63.0);
    let (df, dminf) = (d.to_f32(), dmin.to_f32());
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for s in 0..8 {
        sc[s] = quant(scale[s], inv(df), 0.0, 63.0) as u8;
        mn[s] = quant(min[s], inv(dminf), 0.0, 63.0) as u8;
    }
    let mut packed = [0u8; 12];
    for i in 0..4 {
        packed[i] = sc[i] | ((sc[i + 4] >> 4) << 6);
        packed[i + 4] = mn[i] | ((mn[i + 4] >> 4) << 6);
        packed[i + 8] = (sc[i + 4] & 0x0F) | ((mn[i + 4] & 0x0F) << 4);
    }
    let mut q = [0u8; QK_K];
    for (s, (qs, xs)) in q.chunks_exact_mut(32).zip(x.chunks_exact(32)).enumerate() {
        let step = df * f32::from(sc[s]);
        let offset = dminf * f32::from(mn[s]);
        for (qv, &v) in qs.iter_mut().zip(xs) {
            *qv = quant(v + offset, inv(step), 0.0, 15.0) as u8;
        }
    }
    out.d = d;
    out.dmin = dmin;
    out.scales = packed;
    for p in 0..4 {
        for l in 0..32 {
            out.qs[32 * p + l] = q[64 * p + l] | (q[64 * p + 32 + l] << 4);
        }
    }
}

fn q6_k_block(x: &[f32], out: &mut BlockQ6K) {
    let mut scale = [0.0f32; 16];
    for (s, xs) in x.chunks_exact(16).enumerate() {
        scale[s] = xs.iter().fold(0.0f32, |m, &v| m.max(v.abs())) / 31.0;
    }
    let d = f16::from_f32(scale.iter().fold(0.0f32, |m, &v| m.max(v)) / 127.0);
    let df = d.to_f32();
    let mut sc = [0i8; 16];
    for s in 0..16 {
        sc[s] = quant(scale[s], inv(df), 0.0, 127.0) as i8;
    }
    let mut q = [0u8; QK_K];
    for (s, (qs, xs)) in q.chunks_exact_mut(16).zip(x.chunks_exact(16)).enumerate() {
        let step = df * f32::from(sc[s]);
        for (qv, &v) in qs.iter_mut().zip(xs) {
            *qv = (quant(v, inv(step), -32.0, 31.0) + 32) as u8;
        }
    }
    out.d = d;
    out.scales = sc;
    out.ql = [0; QK_K / 2];
    out.qh = [0; QK_K / 4];
    for h in 0..2 {
        for i in 0..4 {
            for l in 0..32 {
                let v = q[128 * h + 32 * i + l];
                let low = &mut out.ql[64 * h + l + 32 * (i % 2)];
                *low |= if i < 2 { v & 0x0F } else { (v & 0x0F) << 4 };
                out.qh[32 * h + l] |= (v >> 4) << (2 * i);
            }
        }
    }
}

/// Quantizes f32 values to Q4_K superblocks (the simple scheme of the
/// module docs): `out[i]` holds `x[256i .. 256i + 256]`.
///
/// # Errors
/// [`KernelError::InvalidDimension`] unless `x.len()` is a multiple of 256,
/// [`KernelError::LengthMismatch`] unless `out.len() == x.len() / 256`.
pub fn quantize_q4_k(x: &[f32], out: &mut [BlockQ4K]) -> Result<(), KernelError> {
    check("quantize_q4_k", x.len(), out.len())?;
    for (xb, ob) in x.chunks_exact(QK_K).zip(out) {
        q4_k_block(xb, ob);
    }
    Ok(())
}

/// Quantizes f32 values to Q6_K superblocks (as [`quantize_q4_k`]).
///
/// # Errors
/// As [`quantize_q4_k`].
pub fn quantize_q6_k(x: &[f32], out: &mut [BlockQ6K]) -> Result<(), KernelError> {
    check("quantize_q6_k", x.len(), out.len())?;
    for (xb, ob) in x.chunks_exact(QK_K).zip(out) {
        q6_k_block(xb, ob);
    }
    Ok(())
}
