//! Vector arithmetic over f32 slices: `dot`, `axpy`, `add`, `mul`, `scale`,
//! their in-place forms, and the `sum` and `max` reductions.
//!
//! All operands are flat slices of the same length `n`; a length mismatch is a
//! [`KernelError::LengthMismatch`] naming the operand, never a panic.
//!
//! # Elementwise kernels (K-elt)
//! `add`, `mul`, `scale`, `axpy` and the in-place forms are one load/compute/store
//! pass, memory-bound beyond the caches. At and above [`PARALLEL_MIN_LEN`]
//! elements the slice is cut into cache-line-aligned chunks shared by the
//! workers; the SIMD token chosen once by `dispatch` is moved into each task.
//! Results are bit-identical whatever the split, because every element is
//! computed independently. `axpy` uses one fused multiply-add per element on
//! the SIMD paths (`y = fma(alpha, x, y)`: one rounding) and a plain multiply
//! and add on the scalar path (`mul_add_e`: a software `fmaf` would be ~20×
//! slower), like its `_ref` twin; the two differ by at most one ulp of
//! `|alpha·x| + |y|`. The same "FMA where the hardware has it" rule holds for
//! every kernel of this crate family (`dot`, norms, RoPE).
//!
//! # Reductions
//! `dot` and `sum` accumulate blocks of [`REDUCTION_BLOCK`] elements in four
//! independent SIMD accumulators (hiding the FMA/add latency), reduce each block
//! to one f32, and add the block results in f64. Each lane accumulator of a
//! block sees at most `REDUCTION_BLOCK / (4·lanes)` terms, so with unit roundoff
//! `u = 2⁻²⁴` the error is bounded by about
//! `(REDUCTION_BLOCK / (4·lanes) + log2(4·lanes) + 2) · u · Σ|xᵢ|` — at most
//! `≈ 3.1e-5 · Σ|xᵢ|` on the scalar path (lanes = 1) and `≈ 2.4e-6 · Σ|xᵢ|` with
//! 16 lanes, independent of `n` (the f64 outer sum adds nothing visible). A naive
//! sequential f32 sum is bounded only by `n · u · Σ|xᵢ|`.
//!
//! Special values follow IEEE: a NaN anywhere, or `+inf` meeting `-inf`, gives
//! NaN; an infinity otherwise wins. `sum(&[]) = 0`, `dot(&[], &[]) = 0`.
//! `max(&[]) = -inf`, and `max` returns NaN if any element is NaN (unlike
//! `f32::max`, which ignores NaN): a NaN in activations is a bug to surface,
//! not to hide. `max` of ±0 may return either zero.

use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::dispatch::dispatch;
use crate::error::check_len;
use crate::parallel::{Split, for_each_part_mut, plan_chunks};

/// Elementwise kernels split among workers at and above this many elements
/// (when the team has more than one): 8 Mi elements, 32 MiB per
/// operand, the size of the L3 of the reference machine.
///
/// Measured on Zen 4 (2 cores, `SMALL_TUNE_PAIRED=1 cargo bench -p
/// smallmind-kernels --bench small_tune`, min of 25 paired runs): at 1 Mi and
/// 4 Mi elements the operands are L3-resident, one core streams them as fast as
/// two and the split only adds fork/join cost (`add` 4 Mi: 0.74 ms on one
/// thread, 0.86 ms split); at 10 M elements, from DRAM, the split gained up to
/// 1.9× for `add` (2.02 → 1.06 ms) and was neutral (±5%) for the others on a
/// shared machine.
pub const PARALLEL_MIN_LEN: usize = 1 << 23;

/// Elements per part when an elementwise kernel is split: a multiple of
/// 64 elements (4 cache lines per 64 f32 … any SIMD width), large enough that
/// the task overhead is negligible.
const PARALLEL_CHUNK: usize = 1 << 18;

/// Elements per block of the blocked `dot`/`sum`: a multiple of `4 × 16`
/// lanes, so only the last block has a partial tail.
pub const REDUCTION_BLOCK: usize = 2048;

// ---------------------------------------------------------------------------
// Elementwise maps
// ---------------------------------------------------------------------------

/// One elementwise function of two vectors, `f(a, b)`.
trait BinaryFn: Copy + Send + Sync {
    fn apply<S: Simd>(self, simd: S, a: S::f32s, b: S::f32s) -> S::f32s;
}

/// `a + b`.
#[derive(Clone, Copy)]
struct AddFn;
/// `a · b`.
#[derive(Clone, Copy)]
struct MulFn;
/// `alpha · a + b`, fused where the path has FMA.
#[derive(Clone, Copy)]
struct AxpyFn(f32);
/// `alpha · a` (the second operand is ignored).
#[derive(Clone, Copy)]
struct ScaleFn(f32);

impl BinaryFn for AddFn {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, a: S::f32s, b: S::f32s) -> S::f32s {
        simd.add_f32s(a, b)
    }
}
impl BinaryFn for MulFn {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, a: S::f32s, b: S::f32s) -> S::f32s {
        simd.mul_f32s(a, b)
    }
}
impl BinaryFn for AxpyFn {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, a: S::f32s, b: S::f32s) -> S::f32s {
        simd.mul_add_e_f32s(simd.splat_f32s(self.0), a, b)
    }
}
impl BinaryFn for ScaleFn {
    #[inline(always)]
    fn apply<S: Simd>(self, simd: S, a: S::f32s, _b: S::f32s) -> S::f32s {
        simd.mul_f32s(simd.splat_f32s(self.0), a)
    }
}

/// `out[i] = f(a[i], b[i])`, all of length `n` (`b` unused by unary `f`, then
/// passed as `a`), with ordinary stores.
#[inline(always)]
fn map_into_serial<S: Simd, F: BinaryFn>(simd: S, f: F, a: &[f32], b: &[f32], out: &mut [f32]) {
    let (a_head, a_tail) = S::as_simd_f32s(a);
    let (b_head, b_tail) = S::as_simd_f32s(b);
    let (out_head, out_tail) = S::as_mut_simd_f32s(out);
    for ((o, &a), &b) in out_head.iter_mut().zip(a_head).zip(b_head) {
        *o = f.apply(simd, a, b);
    }
    if !out_tail.is_empty() {
        let v = f.apply(
            simd,
            simd.partial_load_f32s(a_tail),
            simd.partial_load_f32s(b_tail),
        );
        simd.partial_store_f32s(out_tail, v);
    }
}

/// `out = f(a, b)` with non-temporal stores for the aligned body of `out` when
/// the path has 256- or 512-bit x86 vectors; ordinary stores otherwise.
///
/// Streaming stores write whole cache lines straight to memory: no
/// read-for-ownership of `out` (a third of the traffic of `scale`, a quarter of
/// `add`) and no eviction of the inputs. Worth it only when `out` could not stay
/// in cache anyway, see [`STREAMING_MIN_LEN`].
#[inline(always)]
fn map_into_streaming<S: Simd, F: BinaryFn>(simd: S, f: F, a: &[f32], b: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        let width = core::mem::size_of::<S::f32s>();
        if width == 32 || width == 64 {
            let lanes = width / 4;
            // Up to the first `width`-aligned element of `out`, ordinary stores.
            let head = out.as_ptr().align_offset(width).min(out.len());
            let body_end = head + (out.len() - head) / lanes * lanes;
            map_into_serial(simd, f, &a[..head], &b[..head], &mut out[..head]);
            let (a_body, _) = S::as_simd_f32s(&a[head..body_end]);
            let (b_body, _) = S::as_simd_f32s(&b[head..body_end]);
            let dst = out[head..body_end].as_mut_ptr();
            for (i, (&x, &y)) in a_body.iter().zip(b_body).enumerate() {
                // SAFETY: `dst + i·lanes .. + lanes` lies inside `out[head..body_end]`
                // (`a_body` has `(body_end − head)/lanes` vectors), and `dst` is
                // `width`-aligned, so every store is aligned and in bounds.
                unsafe { stream_store::<S>(dst.add(i * lanes), f.apply(simd, x, y)) };
            }
            // Streaming stores are weakly ordered: fence them before anything
            // (e.g. the rayon join) can publish `out` to another thread.
            // SAFETY: `sfence` is SSE, part of the x86-64 baseline.
            unsafe { core::arch::x86_64::_mm_sfence() };
            map_into_serial(
                simd,
                f,
                &a[body_end..],
                &b[body_end..],
                &mut out[body_end..],
            );
            return;
        }
    }
    map_into_serial(simd, f, a, b, out);
}

/// One aligned non-temporal store of a 256- or 512-bit vector.
///
/// # Safety
/// `S` must be a path whose `f32s` is 32 bytes (then AVX is available: pulp
/// only hands out tokens for features the CPU has) or 64 bytes (AVX-512F);
/// `dst` must be valid for writes of that many bytes and aligned to it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn stream_store<S: Simd>(dst: *mut f32, v: S::f32s) {
    use core::arch::x86_64::{__m256, __m512, _mm256_stream_ps, _mm512_stream_ps};
    if core::mem::size_of::<S::f32s>() == 64 {
        // SAFETY: same size (64 bytes), both plain f32 lanes; the caller
        // guarantees AVX-512F and an aligned, writable `dst`.
        unsafe { _mm512_stream_ps(dst, core::mem::transmute_copy::<S::f32s, __m512>(&v)) }
    } else {
        // SAFETY: the caller guarantees `f32s` is 32 bytes here, AVX, and an
        // aligned, writable `dst`.
        unsafe { _mm256_stream_ps(dst, core::mem::transmute_copy::<S::f32s, __m256>(&v)) }
    }
}

/// Outputs of at least this many elements (16 MiB of f32, half the 32 MiB L3
/// of the reference machine) are written with streaming stores by `add`, `mul`
/// and `scale`: such an output cannot stay cached for its consumer anyway.
pub const STREAMING_MIN_LEN: usize = 1 << 22;

/// `y[i] = f(x[i], y[i])`, both of length `n`.
#[inline(always)]
fn map_inplace_serial<S: Simd, F: BinaryFn>(simd: S, f: F, x: &[f32], y: &mut [f32]) {
    let (x_head, x_tail) = S::as_simd_f32s(x);
    let (y_head, y_tail) = S::as_mut_simd_f32s(y);
    for (y, &x) in y_head.iter_mut().zip(x_head) {
        *y = f.apply(simd, x, *y);
    }
    if !y_tail.is_empty() {
        let v = f.apply(
            simd,
            simd.partial_load_f32s(x_tail),
            simd.partial_load_f32s(y_tail),
        );
        simd.partial_store_f32s(y_tail, v);
    }
}

/// How a map over `n` elements is split among workers.
#[inline]
fn split(n: usize) -> Split {
    plan_chunks(n, PARALLEL_CHUNK, PARALLEL_MIN_LEN)
}

/// `out = f(a, b)`, serial on one chunk (re-enters the target features of `S`).
struct MapIntoChunk<'a, F> {
    f: F,
    a: &'a [f32],
    b: &'a [f32],
    out: &'a mut [f32],
    stream: bool,
}

impl<F: BinaryFn> WithSimd for MapIntoChunk<'_, F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            f,
            a,
            b,
            out,
            stream,
        } = self;
        if stream {
            map_into_streaming(simd, f, a, b, out);
        } else {
            map_into_serial(simd, f, a, b, out);
        }
    }
}

/// `out = f(a, b)` over the whole slice, split among workers when large.
struct MapInto<'a, F> {
    f: F,
    a: &'a [f32],
    b: &'a [f32],
    out: &'a mut [f32],
}

impl<F: BinaryFn> WithSimd for MapInto<'_, F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self { f, a, b, out } = self;
        let stream = out.len() >= STREAMING_MIN_LEN;
        let split = split(out.len());
        if split.is_parallel() {
            for_each_part_mut(split, out, |r, out| {
                simd.vectorize(MapIntoChunk {
                    f,
                    a: &a[r.clone()],
                    b: &b[r],
                    out,
                    stream,
                });
            });
        } else {
            simd.vectorize(MapIntoChunk {
                f,
                a,
                b,
                out,
                stream,
            });
        }
    }
}

/// `y = f(x, y)`, serial on one chunk.
struct MapInplaceChunk<'a, F> {
    f: F,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<F: BinaryFn> WithSimd for MapInplaceChunk<'_, F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        map_inplace_serial(simd, self.f, self.x, self.y);
    }
}

/// `y = f(x, y)` over the whole slice, split among workers when large.
struct MapInplace<'a, F> {
    f: F,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl<F: BinaryFn> WithSimd for MapInplace<'_, F> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self { f, x, y } = self;
        let split = split(y.len());
        if split.is_parallel() {
            for_each_part_mut(split, y, |r, y| {
                simd.vectorize(MapInplaceChunk { f, x: &x[r], y });
            });
        } else {
            map_inplace_serial(simd, f, x, y);
        }
    }
}

/// `y = alpha·x` in place, split among workers when large.
struct ScaleInplace<'a> {
    alpha: f32,
    x: &'a mut [f32],
}

impl WithSimd for ScaleInplace<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self { alpha, x } = self;
        let split = split(x.len());
        if split.is_parallel() {
            for_each_part_mut(split, x, |_, x| {
                simd.vectorize(ScaleInplaceChunk { alpha, x });
            });
        } else {
            scale_inplace_serial(simd, alpha, x);
        }
    }
}

/// `x = alpha·x` on one chunk.
struct ScaleInplaceChunk<'a> {
    alpha: f32,
    x: &'a mut [f32],
}

impl WithSimd for ScaleInplaceChunk<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        scale_inplace_serial(simd, self.alpha, self.x);
    }
}

#[inline(always)]
fn scale_inplace_serial<S: Simd>(simd: S, alpha: f32, x: &mut [f32]) {
    let factor = simd.splat_f32s(alpha);
    let (head, tail) = S::as_mut_simd_f32s(x);
    for v in head.iter_mut() {
        *v = simd.mul_f32s(factor, *v);
    }
    if !tail.is_empty() {
        let v = simd.mul_f32s(factor, simd.partial_load_f32s(tail));
        simd.partial_store_f32s(tail, v);
    }
}

/// `y += alpha·x` over `n` elements (BLAS `saxpy`), one FMA per element on
/// the SIMD paths.
///
/// Errors: `LengthMismatch` if `y.len() != x.len()`.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    check_len("axpy", "y", x.len(), y.len())?;
    dispatch(MapInplace {
        f: AxpyFn(alpha),
        x,
        y,
    });
    Ok(())
}

/// Scalar twin of [`axpy`]: `y[i] = alpha * x[i] + y[i]` (two roundings).
pub fn axpy_ref(alpha: f32, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    check_len("axpy", "y", x.len(), y.len())?;
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
    Ok(())
}

/// `out = a + b` elementwise.
///
/// Errors: `LengthMismatch` if `b` or `out` differ in length from `a`.
pub fn add(a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("add", "b", a.len(), b.len())?;
    check_len("add", "out", a.len(), out.len())?;
    dispatch(MapInto {
        f: AddFn,
        a,
        b,
        out,
    });
    Ok(())
}

/// Scalar twin of [`add`].
pub fn add_ref(a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("add", "b", a.len(), b.len())?;
    check_len("add", "out", a.len(), out.len())?;
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
    Ok(())
}

/// `out = a · b` elementwise (Hadamard product).
///
/// Errors: `LengthMismatch` if `b` or `out` differ in length from `a`.
pub fn mul(a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("mul", "b", a.len(), b.len())?;
    check_len("mul", "out", a.len(), out.len())?;
    dispatch(MapInto {
        f: MulFn,
        a,
        b,
        out,
    });
    Ok(())
}

/// Scalar twin of [`mul`].
pub fn mul_ref(a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("mul", "b", a.len(), b.len())?;
    check_len("mul", "out", a.len(), out.len())?;
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a * b;
    }
    Ok(())
}

/// `out = alpha · x` elementwise.
///
/// Errors: `LengthMismatch` if `out.len() != x.len()`.
pub fn scale(alpha: f32, x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("scale", "out", x.len(), out.len())?;
    dispatch(MapInto {
        f: ScaleFn(alpha),
        a: x,
        b: x,
        out,
    });
    Ok(())
}

/// Scalar twin of [`scale`].
pub fn scale_ref(alpha: f32, x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    check_len("scale", "out", x.len(), out.len())?;
    for (o, &x) in out.iter_mut().zip(x) {
        *o = alpha * x;
    }
    Ok(())
}

/// `x *= alpha` in place.
pub fn scale_inplace(alpha: f32, x: &mut [f32]) {
    dispatch(ScaleInplace { alpha, x });
}

/// Scalar twin of [`scale_inplace`].
pub fn scale_inplace_ref(alpha: f32, x: &mut [f32]) {
    for x in x.iter_mut() {
        *x *= alpha;
    }
}

/// `y += x` in place (the residual add).
///
/// Errors: `LengthMismatch` if `x.len() != y.len()`.
pub fn add_inplace(y: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check_len("add_inplace", "x", y.len(), x.len())?;
    dispatch(MapInplace { f: AddFn, x, y });
    Ok(())
}

/// Scalar twin of [`add_inplace`].
pub fn add_inplace_ref(y: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check_len("add_inplace", "x", y.len(), x.len())?;
    for (y, &x) in y.iter_mut().zip(x) {
        *y += x;
    }
    Ok(())
}

/// `y *= x` in place, elementwise.
///
/// Errors: `LengthMismatch` if `x.len() != y.len()`.
pub fn mul_inplace(y: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check_len("mul_inplace", "x", y.len(), x.len())?;
    dispatch(MapInplace { f: MulFn, x, y });
    Ok(())
}

/// Scalar twin of [`mul_inplace`].
pub fn mul_inplace_ref(y: &mut [f32], x: &[f32]) -> Result<(), KernelError> {
    check_len("mul_inplace", "x", y.len(), x.len())?;
    for (y, &x) in y.iter_mut().zip(x) {
        *y *= x;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

/// `Σ a[i]·b[i]` of one block, four FMA accumulators.
#[inline(always)]
fn dot_block<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let (a_head, a_tail) = S::as_simd_f32s(a);
    let (b_head, b_tail) = S::as_simd_f32s(b);
    let (a4, a1) = pulp::as_arrays::<4, _>(a_head);
    let (b4, b1) = pulp::as_arrays::<4, _>(b_head);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    for (a, b) in a4.iter().zip(b4) {
        for k in 0..4 {
            acc[k] = simd.mul_add_e_f32s(a[k], b[k], acc[k]);
        }
    }
    for (&a, &b) in a1.iter().zip(b1) {
        acc[0] = simd.mul_add_e_f32s(a, b, acc[0]);
    }
    acc[1] = simd.mul_add_e_f32s(
        simd.partial_load_f32s(a_tail),
        simd.partial_load_f32s(b_tail),
        acc[1],
    );
    let acc = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
    simd.reduce_sum_f32s(acc)
}

/// `Σ x[i]` of one block, four accumulators.
#[inline(always)]
fn sum_block<S: Simd>(simd: S, x: &[f32]) -> f32 {
    let (head, tail) = S::as_simd_f32s(x);
    let (x4, x1) = pulp::as_arrays::<4, _>(head);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    for x in x4 {
        for k in 0..4 {
            acc[k] = simd.add_f32s(x[k], acc[k]);
        }
    }
    for &x in x1 {
        acc[0] = simd.add_f32s(x, acc[0]);
    }
    acc[1] = simd.add_f32s(simd.partial_load_f32s(tail), acc[1]);
    let acc = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
    simd.reduce_sum_f32s(acc)
}

/// Blocked dot product (see the module docs for the error bound).
struct Dot<'a> {
    a: &'a [f32],
    b: &'a [f32],
}

impl WithSimd for Dot<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let mut total = 0.0f64;
        for (a, b) in self
            .a
            .chunks(REDUCTION_BLOCK)
            .zip(self.b.chunks(REDUCTION_BLOCK))
        {
            total += f64::from(dot_block(simd, a, b));
        }
        total as f32
    }
}

/// Blocked sum (see the module docs for the error bound).
struct Sum<'a> {
    x: &'a [f32],
}

impl WithSimd for Sum<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let mut total = 0.0f64;
        for x in self.x.chunks(REDUCTION_BLOCK) {
            total += f64::from(sum_block(simd, x));
        }
        total as f32
    }
}

/// Maximum with NaN propagation, four accumulators.
struct Max<'a> {
    x: &'a [f32],
}

impl WithSimd for Max<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let (head, tail) = S::as_simd_f32s(self.x);
        let (x4, x1) = pulp::as_arrays::<4, _>(head);
        let neg_inf = simd.splat_f32s(f32::NEG_INFINITY);
        let mut acc = [neg_inf; 4];
        // Lanes stay "true" while every element seen was ordered (not NaN); the
        // hardware max would silently drop a NaN operand.
        let all_true = simd.equal_f32s(neg_inf, neg_inf);
        let mut ordered = [all_true; 4];
        for x in x4 {
            for k in 0..4 {
                acc[k] = simd.max_f32s(acc[k], x[k]);
                ordered[k] = simd.and_m32s(ordered[k], simd.equal_f32s(x[k], x[k]));
            }
        }
        for &x in x1 {
            acc[0] = simd.max_f32s(acc[0], x);
            ordered[0] = simd.and_m32s(ordered[0], simd.equal_f32s(x, x));
        }
        let acc = simd.max_f32s(simd.max_f32s(acc[0], acc[1]), simd.max_f32s(acc[2], acc[3]));
        let ordered = simd.and_m32s(
            simd.and_m32s(ordered[0], ordered[1]),
            simd.and_m32s(ordered[2], ordered[3]),
        );
        // 0 in every ordered lane, 1 in a lane that saw a NaN.
        let saw_nan = simd.select_f32s(ordered, simd.splat_f32s(0.0), simd.splat_f32s(1.0));
        if simd.reduce_max_f32s(saw_nan) > 0.0 {
            return f32::NAN;
        }
        let mut best = simd.reduce_max_f32s(acc);
        for &x in tail {
            if x.is_nan() {
                return f32::NAN;
            }
            best = best.max(x);
        }
        best
    }
}

/// `Σ a[i]·b[i]`, blocked with four accumulators (see the module docs for the
/// error bound). `dot(&[], &[]) = 0`.
///
/// Errors: `LengthMismatch` if `b.len() != a.len()`.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
    check_len("dot", "b", a.len(), b.len())?;
    Ok(dispatch(Dot { a, b }))
}

/// Scalar twin of [`dot`]: sequential f64 accumulation, rounded once.
pub fn dot_ref(a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
    check_len("dot", "b", a.len(), b.len())?;
    let total: f64 = a
        .iter()
        .zip(b)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    Ok(total as f32)
}

/// `Σ x[i]`, blocked with four accumulators (see the module docs for the error
/// bound). `sum(&[]) = 0`.
pub fn sum(x: &[f32]) -> f32 {
    dispatch(Sum { x })
}

/// Scalar twin of [`sum`]: sequential f64 accumulation, rounded once.
pub fn sum_ref(x: &[f32]) -> f32 {
    x.iter().map(|&x| f64::from(x)).sum::<f64>() as f32
}

/// The largest element: `-inf` for an empty slice, NaN if any element is NaN.
pub fn max(x: &[f32]) -> f32 {
    dispatch(Max { x })
}

/// Scalar twin of [`max`].
pub fn max_ref(x: &[f32]) -> f32 {
    let mut best = f32::NEG_INFINITY;
    for &x in x {
        if x.is_nan() {
            return f32::NAN;
        }
        if x > best {
            best = x;
        }
    }
    best
}
