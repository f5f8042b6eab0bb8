//! f32 matrix-vector product for the decode step: [`gemm`](crate::gemm::gemm)
//! with `m = 1`, i.e. `c = α·x·op(B) + β·c` where `x = op(A)` is `(1, k)`,
//! `op(B)` is `(k, n)` and `c` is `(1, n)`.
//!
//! GEMV reads every element of `B` once and does 2 flops with it, so it is
//! bound by memory bandwidth; the kernel's job is to stream `B` at full speed
//! from both cores:
//! - `B` transposed (`(n, k)`, the HF `[out, in]` weight layout): each output
//!   is a dot product over a contiguous row. Four rows are processed together
//!   so each `x` vector load feeds four rows, with two accumulators per row
//!   (8 independent FMA chains), reduced horizontally at the end.
//! - `B` as stored (`(k, n)`): `c` is built in L1-resident blocks of
//!   `AXPY_COLS` columns; every row `p` of `B` adds `x[p]·B[p, block]` (axpy
//!   style, four rows per pass), so each row segment streams contiguously.
//!
//! Above [`GEMV_PARALLEL_MIN_BYTES`] the outputs are split into contiguous
//! blocks shared by the workers ([`crate::parallel`]); each part re-enters the SIMD context with
//! the token chosen by the single dispatch of the call.
//!
//! Results are bit-identical for any number of threads: each output is
//! computed by one task in an order fixed by `k`, and task boundaries are
//! multiples of [`GEMV_PART_ALIGN`] columns. With `B` transposed a row's dot
//! product is the same arithmetic alone or in a group of four; with `B` as
//! stored, a column is in the vector body or the scalar tail of its block as
//! in a serial run, because every boundary is a multiple of every vector
//! width (checked by `tests/gemm_threads.rs`).
//!
//! A strided `x` (`A` transposed with `lda > 1`) is gathered in chunks of
//! `X_CHUNK` into a stack buffer. Accuracy: as the GEMM, a length-`k` f32 dot
//! product with FMAs (`|err| ≲ k·2⁻²⁴·Σ|x||b|`).

use pulp::{Simd, WithSimd};

use crate::KernelError;
use crate::gemm::{Gemm, Transpose, scale_c, validate};
use crate::parallel::{for_each_part_mut, plan};
use crate::prefetch::{groups_ahead, prefetch_stream};

/// Weight bytes (`k·n·4`) from which the product is split over two workers
/// (a worker joins per half of it).
///
/// Measured on the worker team (AMD EPYC Zen 5, `B` transposed, weights in
/// L3 as a small model's are, best of 15 rounds, 1 worker against 2 with the
/// split forced): 64 KiB 0.74×, 128 KiB 0.95×, 256 KiB 1.20× (512×128) and
/// 1.37× (128×512), 512 KiB 1.53×, 1 MiB 1.68–1.91×. The split starts at
/// 256 KiB, the first size where two workers win. (With the rayon pool the
/// team replaced, the first winning size had been 512 KiB.)
pub const GEMV_PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// Rayon tasks per thread when parallel and `B` is transposed: more tasks
/// let work stealing even out a core shared with other work.
///
/// Measured (`GEMV_QUICK=1 cargo bench -p smallmind-kernels --bench gemm_tune`,
/// 1×576×49152, 2 threads, the other core partly busy, median of 60
/// interleaved rounds as % of the 2-thread plain read): 4 tasks per thread
/// 108–110%, 16: 113–115%, 64: 114–116%.
const TASKS_PER_THREAD_BT: usize = 16;
/// Rayon tasks per thread when `B` is not transposed. Here a task reads each
/// row of `B` as a segment of its column range, so fewer, wider tasks mean
/// longer contiguous runs for the hardware prefetcher. Measured as above
/// (other core busy): 1 task per thread 97–98%, 2: 96–98%, 4: 95–97%, 16:
/// 86–89%; with the other core idle, 16 gave 85–88% where Bᵀ gave 101–103%.
const TASKS_PER_THREAD_B: usize = 4;
/// Output columns per task are a multiple of this: of every vector width
/// (16 floats at most) and of the four-row groups. (It was 256, which left a
/// 256-output matrix such as M-medium's MLP projection on one worker.)
pub const GEMV_PART_ALIGN: usize = 64;
/// Output columns accumulated together when `B` is not transposed (16 KiB of
/// stack, L1-resident).
const AXPY_COLS: usize = 4096;
/// Output columns below which the `B` form uses a 1 KiB accumulator instead.
const SMALL_AXPY_COLS: usize = 256;
/// Software-prefetch distance in the weight stream when `B` is transposed
/// (see [`crate::prefetch`]): the whole number of row groups nearest it.
const PREFETCH_BYTES: usize = 10 * 1024;
/// Weight bytes (`n·k·4`, `B` transposed) from which rows are read one at a
/// time instead of four at a time.
///
/// Four rows share each load of `x`, which wins while the weights sit in
/// cache (M-medium decode, 1 MiB matrices: 5.5–6.2k vs 4.1–4.8k tok/s). A
/// matrix this large streams from memory on every decode step, and there one
/// sequential stream plus the software prefetch keeps more bytes in flight
/// than four interleaved ones: SmolLM2-135M f32 decode, one thread, 54–62 vs
/// 49–52 tok/s (`smallmind bench -p 1 -n 64 -t 1`, six interleaved runs).
/// The same holds for the 16-bit and Q8_0 GEMVs.
pub const STREAM_ROWS_MIN_BYTES: usize = 1536 * 1024;
/// Floats of a strided `x` gathered at once.
const X_CHUNK: usize = 512;

/// `c = α·x·op(B) + β·c` for `m == 1` (see [`Gemm`] for layouts).
///
/// # Errors
/// [`KernelError::InvalidDimension`] if `m != 1`, and the validation errors of
/// [`crate::gemm::gemm`] naming the operand.
pub fn gemv(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), KernelError> {
    check_m("gemv", g)?;
    validate("gemv", g, a, b, c)?;
    if g.n == 0 {
        return Ok(());
    }
    if g.k == 0 || g.alpha == 0.0 {
        scale_c(g, c);
        return Ok(());
    }
    crate::dispatch::dispatch(GemvOp {
        g,
        a,
        b,
        c: &mut c[..g.n],
    });
    Ok(())
}

/// Scalar twin of [`gemv`]: f64 dot products.
///
/// # Errors
/// As [`gemv`].
pub fn gemv_ref(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<(), KernelError> {
    check_m("gemv_ref", g)?;
    validate("gemv_ref", g, a, b, c)?;
    crate::gemm::gemm_ref_unchecked(g, a, b, c);
    Ok(())
}

fn check_m(op: &'static str, g: &Gemm) -> Result<(), KernelError> {
    if g.m == 1 {
        Ok(())
    } else {
        Err(KernelError::InvalidDimension {
            op,
            dim: "m",
            value: g.m,
            reason: "gemv needs m == 1",
        })
    }
}

/// One validated call with `n, k ≥ 1`, `α ≠ 0`; `c` is exactly `n` long.
struct GemvOp<'a> {
    g: &'a Gemm,
    a: &'a [f32],
    b: &'a [f32],
    c: &'a mut [f32],
}

impl WithSimd for GemvOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let GemvOp { g, a, b, c } = self;
        let x_contiguous = g.trans_a == Transpose::No || g.lda == 1 || g.k == 1;
        if x_contiguous {
            run(
                simd,
                Part {
                    g,
                    x: &a[..g.k],
                    b,
                    k: g.k,
                    beta: g.beta,
                },
                c,
            );
            return;
        }
        // Strided x: C = β·C once, then accumulate chunk by chunk.
        scale_c(g, c);
        let mut x_buf = [0.0f32; X_CHUNK];
        for p0 in (0..g.k).step_by(X_CHUNK) {
            let kc = X_CHUNK.min(g.k - p0);
            for (p, x) in x_buf[..kc].iter_mut().enumerate() {
                *x = a[(p0 + p) * g.lda];
            }
            let b_part = match g.trans_b {
                Transpose::No => &b[p0 * g.ldb..],
                Transpose::Yes => &b[p0..],
            };
            run(
                simd,
                Part {
                    g,
                    x: &x_buf[..kc],
                    b: b_part,
                    k: kc,
                    beta: 1.0,
                },
                c,
            );
        }
    }
}

/// `c = α·x·op(B) + beta·c` over depth `k` (a chunk of the full product).
#[derive(Clone, Copy)]
struct Part<'a> {
    g: &'a Gemm,
    x: &'a [f32],
    b: &'a [f32],
    k: usize,
    beta: f32,
}

/// Serial or parallel over output blocks.
#[inline(always)]
fn run<S: Simd>(simd: S, part: Part<'_>, c: &mut [f32]) {
    let bytes = part.k.saturating_mul(c.len()).saturating_mul(4);
    // About `TASKS_PER_THREAD_BT` / `_B` blocks per worker (for balance when
    // a core is shared), each a multiple of `GEMV_PART_ALIGN` columns.
    let tasks_per_thread = match part.g.trans_b {
        Transpose::Yes => TASKS_PER_THREAD_BT,
        Transpose::No => TASKS_PER_THREAD_B,
    };
    let split = plan(
        c.len(),
        GEMV_PART_ALIGN,
        bytes,
        GEMV_PARALLEL_MIN_BYTES / 2,
        tasks_per_thread,
    );
    for_each_part_mut(split, c, |cols, block| {
        simd.vectorize(BlockTask {
            part,
            j0: cols.start,
            c: block,
        });
    });
}

/// One part: output columns `j0 .. j0 + c.len()`.
struct BlockTask<'a, 'c> {
    part: Part<'a>,
    j0: usize,
    c: &'c mut [f32],
}

impl WithSimd for BlockTask<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        columns(simd, self.part, self.j0, self.c);
    }
}

/// Computes output columns `j0 .. j0 + c.len()`.
#[inline(always)]
fn columns<S: Simd>(simd: S, part: Part<'_>, j0: usize, c: &mut [f32]) {
    match part.g.trans_b {
        Transpose::Yes => rows_dot(simd, part, j0, c),
        // Narrow outputs (decode attention's P·V: one head's D columns) use a
        // small accumulator, so the call does not clear 16 KiB of stack.
        Transpose::No if c.len() <= SMALL_AXPY_COLS => {
            rows_axpy::<S, SMALL_AXPY_COLS>(simd, part, j0, c)
        }
        Transpose::No => rows_axpy::<S, AXPY_COLS>(simd, part, j0, c),
    }
}

/// `c[j] ← α·s + β·c[j]`, with `β = 0` never reading `c`.
#[inline(always)]
fn finish(out: &mut f32, s: f32, alpha: f32, beta: f32) {
    *out = if beta == 0.0 {
        alpha * s
    } else {
        alpha * s + beta * *out
    };
}

/// `B` is `(n, k)`: output `j` is `dot(x, B[j, ..k])`, four rows at a time,
/// or one at a time for a matrix of [`STREAM_ROWS_MIN_BYTES`] or more.
#[inline(always)]
fn rows_dot<S: Simd>(simd: S, part: Part<'_>, j0: usize, c: &mut [f32]) {
    let Part { g, x, b, k, beta } = part;
    let row = |j: usize| &b[(j0 + j) * g.ldb..][..k];
    if g.n.saturating_mul(k).saturating_mul(4) >= STREAM_ROWS_MIN_BYTES {
        let ahead = groups_ahead(4 * k, PREFETCH_BYTES);
        for (j, out) in c.iter_mut().enumerate() {
            finish(out, dot1(simd, x, row(j), ahead), g.alpha, beta);
        }
        return;
    }
    let mut outs = c.chunks_exact_mut(4);
    let mut j = 0;
    for out in &mut outs {
        let sums = dot4(simd, x, [row(j), row(j + 1), row(j + 2), row(j + 3)]);
        for (o, s) in out.iter_mut().zip(sums) {
            finish(o, s, g.alpha, beta);
        }
        j += 4;
    }
    for out in outs.into_remainder() {
        finish(out, dot1(simd, x, row(j), 0), g.alpha, beta);
        j += 1;
    }
}

/// Four dot products against one `x`, two accumulators per row.
#[inline(always)]
fn dot4<S: Simd>(simd: S, x: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    let (xv, xt) = S::as_simd_f32s(x);
    let rv = rows.map(|r| S::as_simd_f32s(r).0);
    let zero = simd.splat_f32s(0.0);
    let mut acc0 = [zero; 4];
    let mut acc1 = [zero; 4];
    let pairs = xv.len() / 2;
    let ahead = groups_ahead(4 * 4 * x.len(), PREFETCH_BYTES);
    let vec_bytes = size_of::<S::f32s>();
    for i in 0..pairs {
        let (x0, x1) = (xv[2 * i], xv[2 * i + 1]);
        for row in &rows {
            prefetch_stream(row.as_ptr().cast(), 2 * i * vec_bytes, 2 * vec_bytes, ahead);
        }
        for r in 0..4 {
            acc0[r] = simd.mul_add_e_f32s(x0, rv[r][2 * i], acc0[r]);
            acc1[r] = simd.mul_add_e_f32s(x1, rv[r][2 * i + 1], acc1[r]);
        }
    }
    if xv.len() % 2 == 1 {
        let i = xv.len() - 1;
        for r in 0..4 {
            acc0[r] = simd.mul_add_e_f32s(xv[i], rv[r][i], acc0[r]);
        }
    }
    // Explicit loops, no closures: a closure body would be compiled outside
    // the SIMD target-feature context and call the intrinsics out of line.
    let tail_at = xv.len() * S::F32_LANES;
    let mut sums = [0.0f32; 4];
    for r in 0..4 {
        let mut s = simd.reduce_sum_f32s(simd.add_f32s(acc0[r], acc1[r]));
        for (&xt, &bt) in xt.iter().zip(&rows[r][tail_at..]) {
            s += xt * bt;
        }
        sums[r] = s;
    }
    sums
}

/// One dot product, two accumulators; prefetching `ahead` bytes down the
/// row's stream (0: no prefetch).
#[inline(always)]
pub(crate) fn dot1<S: Simd>(simd: S, x: &[f32], row: &[f32], ahead: usize) -> f32 {
    let (xv, xt) = S::as_simd_f32s(x);
    let (rv, rt) = S::as_simd_f32s(row);
    let zero = simd.splat_f32s(0.0);
    let (mut acc0, mut acc1) = (zero, zero);
    let vec_bytes = size_of::<S::f32s>();
    let pairs = xv.len() / 2;
    for i in 0..pairs {
        if ahead > 0 {
            prefetch_stream(row.as_ptr().cast(), 2 * i * vec_bytes, 2 * vec_bytes, ahead);
        }
        acc0 = simd.mul_add_e_f32s(xv[2 * i], rv[2 * i], acc0);
        acc1 = simd.mul_add_e_f32s(xv[2 * i + 1], rv[2 * i + 1], acc1);
    }
    if xv.len() % 2 == 1 {
        let i = xv.len() - 1;
        acc0 = simd.mul_add_e_f32s(xv[i], rv[i], acc0);
    }
    let mut s = simd.reduce_sum_f32s(simd.add_f32s(acc0, acc1));
    for (&xt, &bt) in xt.iter().zip(rt) {
        s += xt * bt;
    }
    s
}

/// `B` is `(k, n)`: `c[block] = Σₚ x[p]·B[p, block]` over column blocks of
/// `COLS`, accumulated in an L1-resident stack buffer while the rows of
/// `B` stream through four at a time (each row segment read contiguously).
#[inline(always)]
fn rows_axpy<S: Simd, const COLS: usize>(simd: S, part: Part<'_>, j0: usize, c: &mut [f32]) {
    let Part { g, x, b, k, beta } = part;
    let mut acc_buf = [0.0f32; COLS];
    for (blk, c_blk) in c.chunks_mut(COLS).enumerate() {
        let cols = c_blk.len();
        let col0 = j0 + blk * COLS;
        let acc = &mut acc_buf[..cols];
        acc.fill(0.0);
        let row = |p: usize| &b[p * g.ldb + col0..][..cols];
        let mut p = 0;
        while p + 4 <= k {
            axpy4(
                simd,
                [x[p], x[p + 1], x[p + 2], x[p + 3]],
                [row(p), row(p + 1), row(p + 2), row(p + 3)],
                acc,
            );
            p += 4;
        }
        for (p, &xp) in x.iter().enumerate().skip(p) {
            axpy4(
                simd,
                [xp, 0.0, 0.0, 0.0],
                [row(p), row(p), row(p), row(p)],
                acc,
            );
        }
        for (out, &s) in c_blk.iter_mut().zip(acc.iter()) {
            finish(out, s, g.alpha, beta);
        }
    }
}

/// `acc += Σᵣ xs[r]·rows[r]` elementwise (all slices `acc.len()` long).
#[inline(always)]
fn axpy4<S: Simd>(simd: S, xs: [f32; 4], rows: [&[f32]; 4], acc: &mut [f32]) {
    let xv = [
        simd.splat_f32s(xs[0]),
        simd.splat_f32s(xs[1]),
        simd.splat_f32s(xs[2]),
        simd.splat_f32s(xs[3]),
    ];
    let (acc_v, acc_t) = S::as_mut_simd_f32s(acc);
    let rv = rows.map(|r| S::as_simd_f32s(r));
    for (i, a) in acc_v.iter_mut().enumerate() {
        let mut t = simd.mul_add_e_f32s(xv[0], rv[0].0[i], *a);
        t = simd.mul_add_e_f32s(xv[1], rv[1].0[i], t);
        t = simd.mul_add_e_f32s(xv[2], rv[2].0[i], t);
        *a = simd.mul_add_e_f32s(xv[3], rv[3].0[i], t);
    }
    for (i, a) in acc_t.iter_mut().enumerate() {
        *a += xs[0] * rv[0].1[i] + xs[1] * rv[1].1[i] + xs[2] * rv[2].1[i] + xs[3] * rv[3].1[i];
    }
}
