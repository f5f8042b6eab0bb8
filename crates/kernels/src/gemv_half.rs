//! Matrix-vector product with 16-bit float weights, widened in place:
//! `y[j] = Σₚ x[p]·f32(w[j·k + p])` for a weight `w` stored `(n, k)` row-major
//! (the HF `[out, in]` linear layout), `x` of length `k`, `y` of length `n`.
//!
//! This is the decode step's GEMV for bf16 and f16 checkpoints without a
//! conversion to f32 at load: it streams half the bytes of the f32 GEMV, and the
//! product is memory-bound, so the widening only has to keep up with memory.
//! Multiplication and accumulation are f32 (FMA); the widening itself is exact.
//!
//! Layout of the inner loop. The weights are read as 32-bit lanes, each holding
//! two consecutive 16-bit values (little-endian: the even element in the low
//! half). One vector register of `L` such pairs (`L` = f32 lanes of the path)
//! covers `2L` weights and widens into two f32 registers `(a, b)`:
//! - bf16 (the top half of an f32): `a = pair << 16` holds the even elements,
//!   `b = pair & 0xFFFF_0000` the odd ones — two bit operations;
//! - f16 on x86-64-v4: `vcvtph2ps` widens the low and the high 256 bits, so
//!   `a` holds elements `0..L` and `b` elements `L..2L` of the block;
//! - f16 on x86-64-v3 with F16C (not part of pulp's v3 token; detected at
//!   dispatch): the same with the 128-bit halves, in rows compiled with F16C
//!   added to the v3 features (the portable formula below is about 3.6× slower
//!   there: 1×576×1536 92 → 25 µs);
//! - f16 elsewhere: the even/odd split of bf16, then each lane is widened with
//!   the bit formula of [`crate::convert`] (exponent-and-mantissa `<< 13`, times
//!   2¹¹², inf/NaN patched, sign OR-ed back).
//!
//! `x` is permuted once per call into the caller's scratch `x_split`, block by
//! block of `2L`, into the order of `(a, b)`: `[x₀, x₂, …, x_{2L−2}, x₁, x₃, …]`
//! for the even/odd widenings (the contiguous one uses `x` itself). The inner
//! loop is then one unaligned weight load, the widening, two `x` loads shared by
//! four rows, and two FMAs per row; four rows run together with two
//! accumulators each (8 independent FMA chains), while each row prefetches the
//! same position about 10 KiB (`PREFETCH_BYTES`) further down the weight stream (the
//! rows one or two groups below). A matrix too large to stay in cache
//! (`STREAM_ROWS_MIN_BYTES`) is read one row at a time instead: one sequential
//! stream keeps more bytes in flight than four interleaved ones. The last
//! `k mod 2L` weights of each row are done one at a time.
//!
//! Above [`GEMV_HALF_PARALLEL_MIN_BYTES`] of weights the output rows are split
//! into contiguous blocks (a multiple of four rows) shared by the workers;
//! each task re-enters the SIMD context with the token of the call's single
//! dispatch.
//!
//! Accuracy: the widened weights are exact, so the error is that of a length-`k`
//! f32 dot product with FMAs, `|err| ≲ k·2⁻²⁴·Σₚ|x[p]·w[j, p]|`. The `_ref`
//! twin ([`gemv_half_ref`]) accumulates in f64.

#[cfg(target_arch = "x86_64")]
use std::any::Any;

use crate::parallel::{for_each_part_mut, plan};
use pulp::{Simd, WithSimd};

/// The 16-bit float types of the weights, re-exported from `half`.
pub use half::{bf16, f16};

use crate::KernelError;
use crate::error::check_len;
use crate::prefetch::{groups_ahead, prefetch};

/// Weight bytes (`n·k·2`) from which the rows are split over two workers (a
/// worker joins per half of it).
///
/// Measured (bf16 and f16, threshold forced to 0, 2-thread vs 1-thread pool,
/// median of 21 interleaved rounds, two repetitions, V4, the other core mostly
/// idle), 2-thread speedup by weight bytes (shape k×n): 295 KB (576×256)
/// 0.75; 442 KB (576×384) 0.85–0.93; 590 KB (576×512, 1536×192) 0.95–1.24;
/// 737 KB (576×640) 0.9–1.3; 786 KB (1536×256) 1.28–1.37; 885 KB (576×768)
/// 1.36–1.4; 1.18 MB 1.6; 2.36 MB 1.65. The split starts at 768 KiB, where
/// both repetitions and both formats won.
pub const GEMV_HALF_PARALLEL_MIN_BYTES: usize = 768 * 1024;

/// Target software-prefetch distance in the weight stream, bytes.
///
/// Four rows of a short `k` (576 → 1152-byte rows) are too short a stream for
/// the hardware prefetcher to ramp up before the loop moves on to the next four
/// rows; prefetching the next group's lines closes most of the gap to a plain
/// read. Measured on 1×576×49152 bf16, 1 thread, median µs (read of the same
/// bytes ≈ 1530–1630): no prefetch 2850–2910, 1 group ahead (4.6 KB) 1780–1810,
/// 2 groups (9.2 KB) 1565–1660, 3 groups 1650; targets of 6 / 10 / 16 KB across
/// all four shapes put 10 KB at or near the best of each.
const PREFETCH_BYTES: usize = 10 * 1024;

/// Rayon tasks per thread when parallel: more tasks let work stealing even out
/// a core shared with other work (the value the f32 GEMV measured for its
/// transposed layout, the same access pattern).
const TASKS_PER_THREAD: usize = 16;

/// `y = w·x` for bf16 weights `w` of shape `(n, k)`, f32 accumulation.
///
/// `x_split` is scratch of at least `k` floats (its contents are overwritten).
///
/// # Errors
/// [`KernelError::SizeOverflow`] if `n·k` overflows; `LengthMismatch` unless
/// `x.len() == k`, `w.len() == n·k` and `y.len() == n`; `BufferTooSmall` if
/// `x_split` is shorter than `k`.
pub fn gemv_bf16(
    x: &[f32],
    w: &[bf16],
    n: usize,
    k: usize,
    x_split: &mut [f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    validate("gemv_bf16", x, w.len(), n, k, x_split, y)?;
    run_call::<Bf16Format>(x, bytemuck::cast_slice(w), k, x_split, y);
    Ok(())
}

/// `y = w·x` for f16 weights `w` of shape `(n, k)`, f32 accumulation.
///
/// `x_split` is scratch of at least `k` floats (its contents are overwritten).
///
/// # Errors
/// As [`gemv_bf16`].
pub fn gemv_f16(
    x: &[f32],
    w: &[f16],
    n: usize,
    k: usize,
    x_split: &mut [f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    validate("gemv_f16", x, w.len(), n, k, x_split, y)?;
    run_call::<F16Format>(x, bytemuck::cast_slice(w), k, x_split, y);
    Ok(())
}

/// Scalar twin of [`gemv_bf16`] (`H = bf16`) and [`gemv_f16`] (`H = f16`):
/// widen with `half`, accumulate in f64. `x_split` is only checked, so that
/// the twins take the same arguments.
///
/// # Errors
/// As [`gemv_bf16`].
pub fn gemv_half_ref<H: Copy + Into<f32>>(
    x: &[f32],
    w: &[H],
    n: usize,
    k: usize,
    x_split: &mut [f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    validate("gemv_half_ref", x, w.len(), n, k, x_split, y)?;
    for (j, out) in y.iter_mut().enumerate() {
        let row = &w[j * k..][..k];
        let s: f64 = row
            .iter()
            .zip(x)
            .map(|(&wp, &xp)| f64::from(wp.into()) * f64::from(xp))
            .sum();
        *out = s as f32;
    }
    Ok(())
}

/// Checks every length against `(n, k)`.
fn validate(
    op: &'static str,
    x: &[f32],
    w_len: usize,
    n: usize,
    k: usize,
    x_split: &[f32],
    y: &[f32],
) -> Result<(), KernelError> {
    let nk = n
        .checked_mul(k)
        .ok_or(KernelError::SizeOverflow { op, operand: "w" })?;
    check_len(op, "x", k, x.len())?;
    check_len(op, "w", nk, w_len)?;
    check_len(op, "y", n, y.len())?;
    if x_split.len() < k {
        return Err(KernelError::BufferTooSmall {
            op,
            operand: "x_split",
            required: k,
            actual: x_split.len(),
        });
    }
    Ok(())
}

/// A validated call: handles the empty cases, then dispatches once.
fn run_call<F: HalfFormat>(x: &[f32], w: &[u16], k: usize, x_split: &mut [f32], y: &mut [f32]) {
    if y.is_empty() {
        return;
    }
    if k == 0 {
        y.fill(0.0);
        return;
    }
    crate::dispatch::dispatch(GemvHalfOp::<F> {
        x,
        w,
        x_split: &mut x_split[..k],
        y,
        format: std::marker::PhantomData,
    });
}

// ---------------------------------------------------------------------------
// Formats: how a register of 16-bit pairs becomes two f32 registers
// ---------------------------------------------------------------------------

/// A 16-bit float format, widened a register at a time.
trait HalfFormat: Send + Sync + 'static {
    /// Whether [`HalfFormat::widen`] on path `S` returns the (even, odd)
    /// elements of the pairs; otherwise it returns elements `(0..L, L..2L)`.
    fn interleaved<S: Simd>() -> bool;

    /// Widens `2L` consecutive 16-bit values, read as `L` little-endian pairs.
    fn widen<S: Simd>(simd: S, pairs: S::u32s) -> (S::f32s, S::f32s);

    /// Widens one value (for the row tails).
    fn widen_one(bits: u16) -> f32;

    /// Whether this is IEEE binary16 (which x86-64-v3 widens with F16C).
    const IS_F16: bool = false;

    /// Computes output rows `j0 .. j0 + y.len()`: the entry point of the
    /// serial run and of every part.
    #[inline(always)]
    fn rows_entry<S: Simd>(simd: S, job: Job<'_>, j0: usize, y: &mut [f32])
    where
        Self: Sized,
    {
        rows::<S, Self>(simd, job, j0, y);
    }
}

/// The even and the odd 16-bit values of little-endian `pairs`, each in the
/// high half of its 32-bit lane (low half zero): `pair << 16` and
/// `pair & 0xFFFF_0000`.
#[inline(always)]
fn even_odd_high<S: Simd>(simd: S, pairs: S::u32s) -> (S::u32s, S::u32s) {
    let even = simd.wrapping_dyn_shl_u32s(pairs, simd.splat_u32s(16));
    let odd = simd.and_u32s(pairs, simd.splat_u32s(0xFFFF_0000));
    (even, odd)
}

/// bfloat16.
struct Bf16Format;

impl HalfFormat for Bf16Format {
    #[inline(always)]
    fn interleaved<S: Simd>() -> bool {
        true
    }

    #[inline(always)]
    fn widen<S: Simd>(simd: S, pairs: S::u32s) -> (S::f32s, S::f32s) {
        let (even, odd) = even_odd_high(simd, pairs);
        (
            simd.transmute_f32s_u32s(even),
            simd.transmute_f32s_u32s(odd),
        )
    }

    #[inline(always)]
    fn widen_one(bits: u16) -> f32 {
        f32::from_bits(u32::from(bits) << 16)
    }
}

/// IEEE 754 binary16.
struct F16Format;

/// 2¹¹², the ratio between an f16 value and the f32 read from its bits `<< 13`.
const F16_TO_F32_SCALE: f32 = 5.192_297e33;
/// `(h & 0x7FFF) << 13` at and above which `h` is an f16 inf or NaN.
const F16_EM13_INF: u32 = 0x7C00 << 13;

impl HalfFormat for F16Format {
    #[inline(always)]
    fn interleaved<S: Simd>() -> bool {
        !is_v4::<S>()
    }

    #[inline(always)]
    fn widen<S: Simd>(simd: S, pairs: S::u32s) -> (S::f32s, S::f32s) {
        #[cfg(target_arch = "x86_64")]
        if let Some(&v4) = (&simd as &dyn Any).downcast_ref::<pulp::x86::V4>() {
            let (a, b) = widen_f16_v4(v4, bytemuck::cast(pairs));
            return (bytemuck::cast(a), bytemuck::cast(b));
        }
        let (even, odd) = even_odd_high(simd, pairs);
        (f16_high_to_f32(simd, even), f16_high_to_f32(simd, odd))
    }

    #[inline(always)]
    fn widen_one(bits: u16) -> f32 {
        f16_high_to_f32(pulp::Scalar, u32::from(bits) << 16)
    }

    const IS_F16: bool = true;
}

/// IEEE binary16 on x86-64-v3 with F16C (`vcvtph2ps`, 8 values at a time):
/// chosen at dispatch when the CPU has F16C, which pulp's v3 token does not
/// include. Its rows run inside [`rows_v3_f16c`], which adds the feature. On
/// any other path it behaves as [`F16Format`].
#[cfg(target_arch = "x86_64")]
struct F16cFormat;

#[cfg(target_arch = "x86_64")]
impl HalfFormat for F16cFormat {
    #[inline(always)]
    fn interleaved<S: Simd>() -> bool {
        !is_v3::<S>() && F16Format::interleaved::<S>()
    }

    #[inline(always)]
    fn widen<S: Simd>(simd: S, pairs: S::u32s) -> (S::f32s, S::f32s) {
        if is_v3::<S>() {
            let (a, b) = widen_f16c(bytemuck::cast(pairs));
            return (bytemuck::cast(a), bytemuck::cast(b));
        }
        F16Format::widen(simd, pairs)
    }

    #[inline(always)]
    fn widen_one(bits: u16) -> f32 {
        F16Format::widen_one(bits)
    }

    const IS_F16: bool = true;

    #[inline(always)]
    fn rows_entry<S: Simd>(simd: S, job: Job<'_>, j0: usize, y: &mut [f32]) {
        if let Some(&v3) = (&simd as &dyn Any).downcast_ref::<pulp::x86::V3>() {
            // SAFETY: `F16cFormat` is only chosen after `f16c_available()`,
            // and the `V3` token proves the rest of the enabled features.
            unsafe { rows_v3_f16c(v3, job, j0, y) };
            return;
        }
        rows::<S, Self>(simd, job, j0, y);
    }
}

/// Whether the CPU has F16C (cached by the standard library).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn f16c_available() -> bool {
    std::arch::is_x86_feature_detected!("f16c")
}

/// [`rows`] for f16 on x86-64-v3, compiled with F16C added to the v3 features
/// so that `vcvtph2ps` inlines into the loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,popcnt")]
fn rows_v3_f16c(v3: pulp::x86::V3, job: Job<'_>, j0: usize, y: &mut [f32]) {
    rows::<pulp::x86::V3, F16cFormat>(v3, job, j0, y);
}

/// f16 → f32 with F16C: 16 values → elements `0..8` and `8..16`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn widen_f16c(pairs: pulp::u32x8) -> (pulp::f32x8, pulp::f32x8) {
    use std::arch::x86_64::{__m128i, _mm256_cvtph_ps};
    let [lo, hi]: [__m128i; 2] = bytemuck::cast(pairs);
    // SAFETY: only reached through `F16cFormat` on the v3 path, whose rows run
    // in `rows_v3_f16c` (F16C enabled) after `f16c_available()` said yes.
    unsafe {
        (
            bytemuck::cast(_mm256_cvtph_ps(lo)),
            bytemuck::cast(_mm256_cvtph_ps(hi)),
        )
    }
}

/// Whether `S` is the x86-64-v3 token (decided at compile time per `S`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn is_v3<S: Simd>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<pulp::x86::V3>()
}

/// Whether `S` is the x86-64-v4 token (decided at compile time per `S`).
#[inline(always)]
fn is_v4<S: Simd>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::any::TypeId::of::<S>() == std::any::TypeId::of::<pulp::x86::V4>()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// f16 → f32 with `vcvtph2ps`: 32 values → elements `0..16` and `16..32`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn widen_f16_v4(v4: pulp::x86::V4, pairs: pulp::u32x16) -> (pulp::f32x16, pulp::f32x16) {
    use std::arch::x86_64::__m256i;
    let [lo, hi]: [__m256i; 2] = bytemuck::cast(pairs);
    (
        bytemuck::cast(v4.avx512f._mm512_cvtph_ps(lo)),
        bytemuck::cast(v4.avx512f._mm512_cvtph_ps(hi)),
    )
}

/// f16 bits held in the high half of each 32-bit lane (low half zero) → f32,
/// exactly (see [`crate::convert`] for the formula).
#[inline(always)]
fn f16_high_to_f32<S: Simd>(simd: S, high: S::u32s) -> S::f32s {
    let sign = simd.and_u32s(high, simd.splat_u32s(0x8000_0000));
    // (h & 0x7FFF) << 13: the f16 exponent and mantissa in f32 position.
    let em13 = simd.wrapping_dyn_shr_u32s(
        simd.and_u32s(high, simd.splat_u32s(0x7FFF_0000)),
        simd.splat_u32s(3),
    );
    let finite = simd.transmute_u32s_f32s(simd.mul_f32s(
        simd.transmute_f32s_u32s(em13),
        simd.splat_f32s(F16_TO_F32_SCALE),
    ));
    let inf_or_nan = simd.or_u32s(em13, simd.splat_u32s(0x7F80_0000));
    let special = simd.greater_than_or_equal_u32s(em13, simd.splat_u32s(F16_EM13_INF));
    let magnitude = simd.select_u32s(special, inf_or_nan, finite);
    simd.transmute_f32s_u32s(simd.or_u32s(magnitude, sign))
}

// ---------------------------------------------------------------------------
// The kernel body, once per path
// ---------------------------------------------------------------------------

/// One validated call with `n, k ≥ 1`; `x_split` is exactly `k` long.
struct GemvHalfOp<'a, F> {
    x: &'a [f32],
    w: &'a [u16],
    x_split: &'a mut [f32],
    y: &'a mut [f32],
    format: std::marker::PhantomData<F>,
}

impl<F: HalfFormat> WithSimd for GemvHalfOp<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let GemvHalfOp {
            x, w, x_split, y, ..
        } = self;
        #[cfg(target_arch = "x86_64")]
        if F::IS_F16 && is_v3::<S>() && f16c_available() {
            let job = Job {
                x,
                xp: x,
                w,
                k: x.len(),
            };
            run::<S, F16cFormat>(simd, job, y);
            return;
        }
        let xp: &[f32] = if F::interleaved::<S>() {
            split_even_odd(x, x_split, 2 * S::F32_LANES);
            x_split
        } else {
            x
        };
        let job = Job {
            x,
            xp,
            w,
            k: x.len(),
        };
        run::<S, F>(simd, job, y);
    }
}

/// Permutes each full block of `block` floats of `x` into `xp` as
/// `[even elements | odd elements]` (the order of an even/odd widening).
#[inline(always)]
fn split_even_odd(x: &[f32], xp: &mut [f32], block: usize) {
    let half = block / 2;
    for (src, dst) in x.chunks_exact(block).zip(xp.chunks_exact_mut(block)) {
        let (even, odd) = dst.split_at_mut(half);
        for (i, (e, o)) in even.iter_mut().zip(odd.iter_mut()).enumerate() {
            *e = src[2 * i];
            *o = src[2 * i + 1];
        }
    }
}

/// The operands every row needs: `x` as given, `x` in widening order (`xp`),
/// the weight bits `(n, k)`.
#[derive(Clone, Copy)]
struct Job<'a> {
    x: &'a [f32],
    xp: &'a [f32],
    w: &'a [u16],
    k: usize,
}

/// Serial or parallel over blocks of output rows.
#[inline(always)]
fn run<S: Simd, F: HalfFormat>(simd: S, job: Job<'_>, y: &mut [f32]) {
    let bytes = job.k.saturating_mul(y.len()).saturating_mul(2);
    let split = plan(
        y.len(),
        4,
        bytes,
        GEMV_HALF_PARALLEL_MIN_BYTES / 2,
        TASKS_PER_THREAD,
    );
    if split.parts <= 1 {
        F::rows_entry(simd, job, 0, y);
        return;
    }
    for_each_part_mut(split, y, |rows, block| {
        simd.vectorize(BlockTask::<F> {
            job,
            j0: rows.start,
            y: block,
            format: std::marker::PhantomData,
        });
    });
}

/// One part: output rows `j0 .. j0 + y.len()`.
struct BlockTask<'a, 'y, F> {
    job: Job<'a>,
    j0: usize,
    y: &'y mut [f32],
    format: std::marker::PhantomData<F>,
}

impl<F: HalfFormat> WithSimd for BlockTask<'_, '_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        F::rows_entry(simd, self.job, self.j0, self.y);
    }
}

/// Output rows `j0 .. j0 + y.len()`, four at a time, or one at a time for a
/// matrix of [`STREAM_ROWS_MIN_BYTES`](crate::gemv::STREAM_ROWS_MIN_BYTES)
/// or more, which streams from memory (SmolLM2-135M f16 decode, one thread:
/// 113–120 vs 88–92 tok/s with every matrix read one row at a time).
#[inline(always)]
fn rows<S: Simd, F: HalfFormat>(simd: S, job: Job<'_>, j0: usize, y: &mut [f32]) {
    let k = job.k;
    let row = |j: usize| &job.w[(j0 + j) * k..][..k];
    if job.w.len().saturating_mul(2) >= crate::gemv::STREAM_ROWS_MIN_BYTES {
        let ahead = groups_ahead(2 * k, PREFETCH_BYTES);
        for (j, out) in y.iter_mut().enumerate() {
            *out = dot_rows::<S, F, 1>(simd, job, [row(j)], ahead)[0];
        }
        return;
    }
    let ahead = groups_ahead(4 * 2 * k, PREFETCH_BYTES);
    let mut outs = y.chunks_exact_mut(4);
    let mut j = 0;
    for out in &mut outs {
        let rows = [row(j), row(j + 1), row(j + 2), row(j + 3)];
        out.copy_from_slice(&dot_rows::<S, F, 4>(simd, job, rows, ahead));
        j += 4;
    }
    for out in outs.into_remainder() {
        *out = dot_rows::<S, F, 1>(simd, job, [row(j)], 0)[0];
        j += 1;
    }
}

/// `R` dot products of `x` with rows of 16-bit weights, two accumulators per
/// row, the `k mod 2L` tail one element at a time; each row prefetches
/// `ahead` bytes down the weight stream (0: no prefetch).
#[inline(always)]
fn dot_rows<S: Simd, F: HalfFormat, const R: usize>(
    simd: S,
    job: Job<'_>,
    rows: [&[u16]; R],
    ahead: usize,
) -> [f32; R] {
    let Job { x, xp, .. } = job;
    let block = 2 * S::F32_LANES;
    let blocks = x.len() / block;
    let reg_bytes = size_of::<S::u32s>();
    let (xv, _) = S::as_simd_f32s(&xp[..blocks * block]);
    let xv = &xv[..2 * blocks];
    let mut bytes: [&[u8]; R] = [&[]; R];
    for r in 0..R {
        bytes[r] = &bytemuck::cast_slice::<u16, u8>(rows[r])[..blocks * reg_bytes];
    }
    let zero = simd.splat_f32s(0.0);
    let mut acc0 = [zero; R];
    let mut acc1 = [zero; R];
    for i in 0..blocks {
        let (xa, xb) = (xv[2 * i], xv[2 * i + 1]);
        if ahead > 0 {
            for row in &bytes {
                prefetch(row.as_ptr().wrapping_add(i * reg_bytes + ahead));
            }
        }
        for r in 0..R {
            let pairs: S::u32s =
                bytemuck::pod_read_unaligned(&bytes[r][i * reg_bytes..][..reg_bytes]);
            let (a, b) = F::widen(simd, pairs);
            acc0[r] = simd.mul_add_e_f32s(xa, a, acc0[r]);
            acc1[r] = simd.mul_add_e_f32s(xb, b, acc1[r]);
        }
    }
    // Explicit loops, no closures: a closure body would be compiled outside
    // the SIMD target-feature context.
    let tail_at = blocks * block;
    let mut sums = [0.0f32; R];
    for r in 0..R {
        let mut s = simd.reduce_sum_f32s(simd.add_f32s(acc0[r], acc1[r]));
        for (&xt, &wt) in x[tail_at..].iter().zip(&rows[r][tail_at..]) {
            s += xt * F::widen_one(wt);
        }
        sums[r] = s;
    }
    sums
}
