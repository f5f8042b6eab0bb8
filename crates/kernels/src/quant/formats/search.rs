//! The pieces of ggml's K-quant quantizers that several formats share: its
//! rounding (`nearest_int`), the (scale, min) search for asymmetric
//! sub-blocks (`make_qkx2_quants`, used by Q2_K, Q4_K and Q5_K), the shared
//! codebook, and the 6-bit scale packing of Q4_K/Q5_K.
//!
//! Every f32 operation is ggml's, in its order (ggml-base is compiled without
//! FMA contraction), so the results are bit-exact.

use core::ops::RangeInclusive;

use crate::quant::QK_K;

/// ggml's `nearest_int`: `v` rounded to the nearest integer, halves to even,
/// by adding `1.5·2²³` and reading the low mantissa bits. Exact for
/// `|v| ≤ 2²²`; beyond that (and for NaN) a garbage value, as in ggml, never a
/// panic.
#[inline(always)]
pub(crate) fn nearest_int(v: f32) -> i32 {
    let biased = v + 12_582_912.0;
    (biased.to_bits() & 0x007F_FFFF) as i32 - 0x0040_0000
}

/// Sub-blocks whose largest `|x|` is below this quantize to zero (ggml's `GROUP_MAX_EPS`).
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// `(scale, m)` of one asymmetric sub-block, `x ≈ scale·l − m` with integer
/// `l` in `0..=nmax` written to `l`: ggml's `make_qkx2_quants` with
/// `rmin = −0.5, rdelta = 0.1, nstep = 15` (the parameters of Q2_K and Q5_K).
///
/// The offset `min` is the sub-block minimum capped at 0. Starting from the
/// plain range (`iscale = nmax/(max − min)`), it tries the 16 inverse scales
/// `(−0.5 + 0.1·i + nmax)/(max − min)`; for each rounding it solves the
/// weighted least-squares `(scale, min)` (min capped at 0) and keeps it when
/// the weighted error (`|err|` if `use_mad`, else `err²`) is smaller. A
/// constant sub-block (max = min) gives `(0, −min)` and zeros.
pub(crate) fn fit_scale_min<const N: usize>(
    x: &[f32; N],
    weights: &[f32; N],
    nmax: u8,
    use_mad: bool,
    l: &mut [u8; N],
) -> (f32, f32) {
    fit_scale_min_over(x, weights, nmax, use_mad, (-0.5, 15), l)
}

/// [`fit_scale_min`] with ggml's `rmin` and `nstep` given: the trial inverse scales are
/// `(rmin + 0.1·i + nmax)/(max − min)` for `i` in `0..=nstep` (Q4_K: `rmin = −1`, `nstep = 20`).
pub(crate) fn fit_scale_min_over<const N: usize>(
    x: &[f32; N],
    weights: &[f32; N],
    nmax: u8,
    use_mad: bool,
    (rmin, nstep): (f32, u8),
    l: &mut [u8; N],
) -> (f32, f32) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for (&v, &w) in x.iter().zip(weights).skip(1) {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
        sum_w += w;
        sum_x += w * v;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l.fill(0);
        return (0.0, -min);
    }
    let nmax_f = f32::from(nmax);
    let quant = |iscale: f32, v: f32, min: f32| {
        nearest_int(iscale * (v - min)).clamp(0, i32::from(nmax)) as u8
    };
    let error = |scale: f32, min: f32, l: &[u8; N]| {
        let mut e = 0.0f32;
        for ((&v, &w), &q) in x.iter().zip(weights).zip(l) {
            let diff = scale * f32::from(q) + min - v;
            e += w * if use_mad { diff.abs() } else { diff * diff };
        }
        e
    };

    let iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    for (q, &v) in l.iter_mut().zip(x) {
        *q = quant(iscale, v, min);
    }
    let mut best_error = error(scale, min, l);

    let mut trial = [0u8; N];
    for step in 0..=nstep {
        let iscale = (rmin + 0.1 * f32::from(step) + nmax_f) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((q, &v), &w) in trial.iter_mut().zip(x).zip(weights) {
            *q = quant(iscale, v, min);
            let lf = f32::from(*q);
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * v;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let cur_error = error(this_scale, this_min, &trial);
            if cur_error < best_error {
                *l = trial;
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// The 6-bit (scale, min) pair `j` (`0..8`) of the 12-byte packing of Q4_K
/// and Q5_K: pairs `j < 4` are the low 6 bits of bytes `j` / `j + 4`; for
/// `j ≥ 4` the low 4 bits are the nibbles of byte `j + 4` and the high 2 bits
/// the top bits of bytes `j − 4` / `j`.
#[inline(always)]
pub(crate) fn scale_min_k4(packed: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        (
            (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
        )
    }
}

/// Packs eight 6-bit (scale, min) pairs the way [`scale_min_k4`] reads them.
#[inline(always)]
pub(crate) fn pack_scale_min_k4(scales: &[u8; 8], mins: &[u8; 8]) -> [u8; 12] {
    let mut packed = [0u8; 12];
    for j in 0..4 {
        packed[j] = scales[j] | ((scales[j + 4] >> 4) << 6);
        packed[j + 4] = mins[j] | ((mins[j + 4] >> 4) << 6);
        packed[j + 8] = (scales[j + 4] & 0x0F) | ((mins[j + 4] & 0x0F) << 4);
    }
    packed
}

/// The first pass of the K-quant quantizers: superblock `x` fitted in sub-blocks of `N`
/// values, one by one. `fit` gets a sub-block and the `N` levels of `l` to write, and returns
/// its `(scale, min)`; the results come back in sub-block order.
pub(crate) fn fit_sub_blocks<const N: usize, const S: usize>(
    x: &[f32],
    l: &mut [u8; QK_K],
    mut fit: impl FnMut(&[f32; N], &mut [u8; N]) -> (f32, f32),
) -> ([f32; S], [f32; S]) {
    let mut scales = [0.0f32; S];
    let mut mins = [0.0f32; S];
    let sub_blocks = x.as_chunks::<N>().0.iter().zip(l.as_chunks_mut::<N>().0);
    for (s, (xs, ls)) in sub_blocks.enumerate() {
        (scales[s], mins[s]) = fit(xs, ls);
    }
    (scales, mins)
}

/// The largest of `values` and 0, as ggml's `if (v > max) max = v;` loops find it (a NaN
/// never wins).
pub(crate) fn largest(values: &[f32]) -> f32 {
    values
        .iter()
        .fold(0.0f32, |max, &v| if v > max { v } else { max })
}

/// The last pass of the K-quant quantizers: each sub-block of `N` values rounded again against
/// the `(step, offset)` its scale and min were stored as, `l = clamp(nearest_int((x + offset) /
/// step), levels) − levels.start()`. A sub-block whose step is 0 keeps the levels of its fit.
pub(crate) fn requantize_sub_blocks<const N: usize>(
    x: &[f32],
    l: &mut [u8; QK_K],
    levels: RangeInclusive<i32>,
    step_offset: impl Fn(usize) -> (f32, f32),
) {
    let (lo, hi) = (*levels.start(), *levels.end());
    let sub_blocks = x.as_chunks::<N>().0.iter().zip(l.as_chunks_mut::<N>().0);
    for (s, (xs, ls)) in sub_blocks.enumerate() {
        let (step, offset) = step_offset(s);
        if step == 0.0 {
            continue;
        }
        for (q, &v) in ls.iter_mut().zip(xs) {
            *q = (nearest_int((v + offset) / step).clamp(lo, hi) - lo) as u8;
        }
    }
}
