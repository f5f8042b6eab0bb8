//! Packing of `op(A)` and `op(B)` blocks into micro-panels, and the per-thread
//! packing buffers.
//!
//! - A block `(mc, kc)` → `ceil(mc/MR)` panels, each `(kc, MR)` row-major:
//!   panel element `(p, i)` = `op(A)[i0 + r0 + i, p0 + p]`, rows past `mc`
//!   zero-filled.
//! - B block `(kc, nc)` → `ceil(nc/NR)` panels, each `(kc, NR)` row-major:
//!   panel element `(p, j)` = `op(B)[p0 + p, j0 + c0 + j]`, columns past `nc`
//!   zero-filled.
//!
//! Transposition is absorbed here: a non-transposed B row and a transposed A
//! column are contiguous copies; the other two cases interleave several source
//! rows (a gather transpose). The micro-kernel therefore sees one layout.
//!
//! Buffers are thread-local, 64-byte aligned, allocated once on a thread's
//! first GEMM at their fixed maximum size (`MC·KC` and `NC·KC` floats plus
//! padding, from [`super::params`]) and reused for the thread's life.

use std::cell::RefCell;

use super::params::{KC, MAX_MR, MAX_NR, MC, NC};
use super::{Gemm, Transpose};

/// Floats in the per-thread A buffer: the largest packed A block.
const A_BUF_LEN: usize = (MC + MAX_MR) * KC;
/// Floats in the per-thread B buffer: the largest packed B block.
const B_BUF_LEN: usize = (NC + MAX_NR) * KC;
/// 64-byte alignment in floats.
const ALIGN_FLOATS: usize = 16;

/// A heap buffer handed out 64-byte aligned, allocated once at a fixed length.
struct AlignedBuf {
    raw: Vec<f32>,
}

impl AlignedBuf {
    const fn new() -> Self {
        AlignedBuf { raw: Vec::new() }
    }

    /// The aligned `len`-float window, allocating on first use only.
    fn get(&mut self, len: usize) -> &mut [f32] {
        if self.raw.len() < len + ALIGN_FLOATS {
            self.raw = vec![0.0; len + ALIGN_FLOATS];
        }
        let offset = self.raw.as_ptr().align_offset(64).min(ALIGN_FLOATS);
        &mut self.raw[offset..offset + len]
    }
}

/// The two packing buffers of one thread.
struct PackBuffers {
    a: AlignedBuf,
    b: AlignedBuf,
}

thread_local! {
    static BUFFERS: RefCell<PackBuffers> =
        const { RefCell::new(PackBuffers { a: AlignedBuf::new(), b: AlignedBuf::new() }) };
}

/// This thread's packing buffers, `(a, b)` with `A_BUF_LEN` and `B_BUF_LEN`
/// floats, 64-byte aligned, exclusively borrowed until the guard drops.
///
/// Returns `None` if the buffers are already borrowed on this thread (a
/// re-entrant call, which the GEMM itself never makes) or the thread is being
/// torn down.
///
/// This hands out a guard rather than taking a closure so that the caller's
/// SIMD code stays inside its `#[target_feature]` context (a closure body would
/// be compiled as a separate function without the features).
#[inline(always)]
pub(super) fn borrow_buffers() -> Option<BuffersGuard> {
    let cell: *const RefCell<PackBuffers> = BUFFERS.try_with(|cell| cell as *const _).ok()?;
    // SAFETY: a thread-local lives until its thread exits, and the guard is
    // `!Send` (it holds a `RefMut`), so it cannot outlive this thread.
    let cell: &'static RefCell<PackBuffers> = unsafe { &*cell };
    Some(BuffersGuard(cell.try_borrow_mut().ok()?))
}

/// Exclusive access to one thread's packing buffers.
pub(super) struct BuffersGuard(std::cell::RefMut<'static, PackBuffers>);

impl BuffersGuard {
    /// The `(a, b)` buffers, allocated on the thread's first call only.
    #[inline(always)]
    pub(super) fn split(&mut self) -> (&mut [f32], &mut [f32]) {
        let PackBuffers { a, b } = &mut *self.0;
        (a.get(A_BUF_LEN), b.get(B_BUF_LEN))
    }
}

/// Packs rows `i0..i0+mc`, depths `p0..p0+kc` of `op(A)` into `MR`-row panels
/// at the start of `dst`.
#[inline(always)]
pub(super) fn pack_a<const MR: usize>(
    g: &Gemm,
    a: &[f32],
    (i0, mc): (usize, usize),
    (p0, kc): (usize, usize),
    dst: &mut [f32],
) {
    for (r0, panel) in (0..mc).step_by(MR).zip(dst.chunks_exact_mut(MR * kc)) {
        let rows = MR.min(mc - r0);
        match g.trans_a {
            Transpose::No => {
                let src: [&[f32]; MR] = core::array::from_fn(|i| {
                    let row = i0 + r0 + i.min(rows - 1);
                    &a[row * g.lda + p0..][..kc]
                });
                interleave_rows::<MR>(&src, rows, panel);
            }
            Transpose::Yes => {
                for (p, out) in panel.chunks_exact_mut(MR).enumerate() {
                    let src = &a[(p0 + p) * g.lda + i0 + r0..][..rows];
                    out[..rows].copy_from_slice(src);
                    out[rows..].fill(0.0);
                }
            }
        }
    }
}

/// Packs depths `p0..p0+kc`, columns `j0..j0+nc` of `op(B)` into `nr`-column
/// panels at the start of `dst`.
#[inline(always)]
pub(super) fn pack_b(
    g: &Gemm,
    b: &[f32],
    (j0, nc): (usize, usize),
    (p0, kc): (usize, usize),
    dst: &mut [f32],
    nr: usize,
) {
    for (c0, panel) in (0..nc).step_by(nr).zip(dst.chunks_exact_mut(nr * kc)) {
        let cols = nr.min(nc - c0);
        match g.trans_b {
            Transpose::No => {
                for (p, out) in panel.chunks_exact_mut(nr).enumerate() {
                    let src = &b[(p0 + p) * g.ldb + j0 + c0..][..cols];
                    out[..cols].copy_from_slice(src);
                    out[cols..].fill(0.0);
                }
            }
            Transpose::Yes => {
                for j in 0..cols {
                    let src = &b[(j0 + c0 + j) * g.ldb + p0..][..kc];
                    for (out, &x) in panel[j..].iter_mut().step_by(nr).zip(src) {
                        *out = x;
                    }
                }
                if cols < nr {
                    for out in panel.chunks_exact_mut(nr) {
                        out[cols..].fill(0.0);
                    }
                }
            }
        }
    }
}

/// `out[p·R + r] = src[r][p]` for `r < live`, zero for `live <= r < R`: the
/// gather transpose of `R` rows of equal length into one `(kc, R)` panel.
#[inline(always)]
fn interleave_rows<const R: usize>(src: &[&[f32]; R], live: usize, out: &mut [f32]) {
    let kc = src[0].len();
    for (p, out_p) in out.chunks_exact_mut(R).take(kc).enumerate() {
        for (r, dst) in out_p.iter_mut().enumerate() {
            *dst = if r < live { src[r][p] } else { 0.0 };
        }
    }
}
