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

use pulp::Simd;

use super::params::{KC, KC_SMALL_M_MAX, MAX_MR, MAX_NR, MC, NC, NC_SMALL_M};
use super::{Gemm, Transpose};

/// Floats in the per-thread A buffer: the largest packed A block.
const A_BUF_LEN: usize = (MC + MAX_MR) * KC_SMALL_M_MAX;
/// Floats in the per-thread B buffer: the largest packed B block (of either
/// loop order).
const B_BUF_LEN: usize = max(
    (NC + MAX_NR) * KC + NC * PANEL_PAD,
    (NC_SMALL_M + MAX_NR) * KC_SMALL_M_MAX + NC_SMALL_M * PANEL_PAD,
);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}
/// Panels of B packed together per pass over the source rows.
const PANEL_GROUP: usize = 32;
/// Padding (floats) between consecutive packed B panels: one cache line, so
/// that panels `kc·nr·4` bytes apart (a multiple of 4 KiB) do not all map to
/// the same cache sets while packing scatters a source row into them.
const PANEL_PAD: usize = 16;

/// Distance (floats) between consecutive packed B panels of depth `kc`.
#[inline(always)]
pub(super) fn b_panel_stride(kc: usize, nr: usize) -> usize {
    kc * nr + PANEL_PAD
}
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
pub(super) fn pack_b<S: Simd>(
    simd: S,
    g: &Gemm,
    b: &[f32],
    (j0, nc): (usize, usize),
    (p0, kc): (usize, usize),
    dst: &mut [f32],
    nr: usize,
) {
    let panels = nc.div_ceil(nr);
    let stride = b_panel_stride(kc, nr);
    let dst = &mut dst[..panels * stride];
    match g.trans_b {
        Transpose::No => {
            // Source rows outer within groups of `PANEL_GROUP` panels: each
            // source row is read as a contiguous run (prefetcher-friendly),
            // while the scattered panel writes stay few enough not to alias
            // in the cache sets (panels are `kc·nr·4` bytes apart, typically
            // a multiple of 4 KiB).
            for g0 in (0..nc).step_by(nr * PANEL_GROUP) {
                let g_cols = (nr * PANEL_GROUP).min(nc - g0);
                for p in 0..kc {
                    let src = &b[(p0 + p) * g.ldb + j0 + g0..][..g_cols];
                    for (c0, chunk) in (g0..g0 + g_cols).step_by(nr).zip(src.chunks(nr)) {
                        let out = &mut dst[c0 / nr * stride + p * nr..][..nr];
                        if chunk.len() == nr {
                            copy_row::<S>(chunk, out);
                        } else {
                            out[..chunk.len()].copy_from_slice(chunk);
                            out[chunk.len()..].fill(0.0);
                        }
                    }
                }
            }
        }
        Transpose::Yes => {
            for (c0, panel) in (0..nc).step_by(nr).zip(dst.chunks_mut(stride)) {
                let panel = &mut panel[..nr * kc];
                let cols = nr.min(nc - c0);
                let row = |j: usize| &b[(j0 + c0 + j) * g.ldb + p0..][..kc];
                let mut j = 0;
                #[cfg(target_arch = "x86_64")]
                if avx512::is_v4::<S>() {
                    while j + 16 <= cols {
                        let rows: [&[f32]; 16] = core::array::from_fn(|r| row(j + r));
                        // SAFETY: `S` is `V4`, and a `V4` token exists only
                        // when the CPU has AVX-512F.
                        unsafe { avx512::interleave16(rows, &mut panel[j..], nr) };
                        j += 16;
                    }
                }
                while j + 4 <= cols {
                    interleave4(
                        simd,
                        [row(j), row(j + 1), row(j + 2), row(j + 3)],
                        &mut panel[j..],
                        nr,
                    );
                    j += 4;
                }
                for j in j..cols {
                    for (p, &x) in row(j).iter().enumerate() {
                        panel[p * nr + j] = x;
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

/// Copies one full panel row (`nr` floats) with vector moves.
#[inline(always)]
fn copy_row<S: Simd>(src: &[f32], dst: &mut [f32]) {
    let (src_v, src_t) = S::as_simd_f32s(src);
    let (dst_v, dst_t) = S::as_mut_simd_f32s(dst);
    dst_v.copy_from_slice(src_v);
    dst_t.copy_from_slice(src_t);
}

/// `out[p·stride + r] = rows[r][p]` for `r < 4`, `p < kc`: four source rows
/// gathered into 4-float groups (one 16-byte store per depth).
#[inline(always)]
fn interleave4<S: Simd>(_simd: S, rows: [&[f32]; 4], out: &mut [f32], stride: usize) {
    let [r0, r1, r2, r3] = rows;
    for (p, (((&x0, &x1), &x2), &x3)) in r0.iter().zip(r1).zip(r2).zip(r3).enumerate() {
        out[p * stride..][..4].copy_from_slice(&[x0, x1, x2, x3]);
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

#[cfg(target_arch = "x86_64")]
pub(super) use avx512::{is_v4, transpose_16x8};

/// AVX-512 in-register transposes for packing a transposed B (the generic
/// 4-row gather costs ~1 cycle per element; this ~0.2).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    use pulp::Simd;

    /// Whether `S` is the AVX-512 token (a compile-time constant per
    /// monomorphisation).
    #[inline(always)]
    pub(crate) fn is_v4<S: Simd>() -> bool {
        core::any::TypeId::of::<S>() == core::any::TypeId::of::<pulp::x86::V4>()
    }

    /// `out[p·stride + r] = rows[r][p]` for `r < 16`, `p < kc` (all rows `kc`
    /// long): 16×16 blocks transposed in registers, the depth tail gathered.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `out` must hold `(kc-1)·stride + 16`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn interleave16(rows: [&[f32]; 16], out: &mut [f32], stride: usize) {
        let kc = rows[0].len();
        assert!(
            rows.iter().all(|r| r.len() == kc) && (kc == 0 || out.len() >= (kc - 1) * stride + 16)
        );
        let full = kc / 16 * 16;
        for p0 in (0..full).step_by(16) {
            // SAFETY: every row has `p0 + 16 <= kc` floats; the 16 output rows
            // `p0..p0+16` lie within `out` (asserted above).
            unsafe {
                let mut r = [_mm512_setzero_ps(); 16];
                for (reg, row) in r.iter_mut().zip(&rows) {
                    *reg = _mm512_loadu_ps(row.as_ptr().add(p0));
                }
                let w = transpose16(r);
                for (p, v) in w.into_iter().enumerate() {
                    _mm512_storeu_ps(out.as_mut_ptr().add((p0 + p) * stride), v);
                }
            }
        }
        for p in full..kc {
            for (r, row) in rows.iter().enumerate() {
                out[p * stride + r] = row[p];
            }
        }
    }

    /// `out[p·stride + r] = src[r·ld + p]` for `r < 16`, `p < depth ≤ 8`:
    /// sixteen row pieces of `depth` floats become `depth` 16-float panel rows.
    ///
    /// Register use stays at ~12 zmm so it can interleave with a live
    /// 8×32 micro-tile (16 accumulators). Pairs of rows share a register
    /// (`[row i | row i+4]`, `[row 8+i | row 12+i]`), two in-lane steps
    /// transpose 4×4 blocks, one cross-lane shuffle assembles each output:
    /// 32 shuffles per 128 floats. A `depth < 8` (the tail of `k`) reads
    /// with masked loads, which never touch the masked-off floats.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512VL (a `V4` token exists);
    /// `src + r·ld + p` readable and `out + p·stride + r` writable for
    /// `r < 16`, `p < depth`.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    pub(crate) unsafe fn transpose_16x8(
        src: *const f32,
        ld: usize,
        out: *mut f32,
        stride: usize,
        depth: usize,
    ) {
        debug_assert!(depth <= 8);
        // SAFETY: all reads and writes lie in the ranges of the contract.
        unsafe {
            let mut z = [_mm512_setzero_ps(); 8];
            for i in 0..4 {
                z[i] = load_pair(src, ld, i, i + 4, depth);
                z[4 + i] = load_pair(src, ld, 8 + i, 12 + i, depth);
            }
            // v[g][e] lanes: [rows 8g..8g+4 @e, @4+e, rows 8g+4..8g+8 @e, @4+e].
            let mut v = [[_mm512_setzero_ps(); 4]; 2];
            for (g, vg) in v.iter_mut().enumerate() {
                let t0 = _mm512_unpacklo_ps(z[4 * g], z[4 * g + 1]);
                let t1 = _mm512_unpackhi_ps(z[4 * g], z[4 * g + 1]);
                let t2 = _mm512_unpacklo_ps(z[4 * g + 2], z[4 * g + 3]);
                let t3 = _mm512_unpackhi_ps(z[4 * g + 2], z[4 * g + 3]);
                vg[0] = _mm512_shuffle_ps::<0x44>(t0, t2);
                vg[1] = _mm512_shuffle_ps::<0xee>(t0, t2);
                vg[2] = _mm512_shuffle_ps::<0x44>(t1, t3);
                vg[3] = _mm512_shuffle_ps::<0xee>(t1, t3);
            }
            for (e, (&v0, &v1)) in v[0].iter().zip(&v[1]).enumerate() {
                if e < depth {
                    let lo = _mm512_shuffle_f32x4::<0x88>(v0, v1);
                    _mm512_storeu_ps(out.add(e * stride), lo);
                }
                if 4 + e < depth {
                    let hi = _mm512_shuffle_f32x4::<0xdd>(v0, v1);
                    _mm512_storeu_ps(out.add((4 + e) * stride), hi);
                }
            }
        }
    }

    /// `[src row lo, 8 floats | src row hi, 8 floats]` (rows `ld` apart),
    /// only the first `depth` floats of each read (the rest zero).
    ///
    /// # Safety
    /// AVX-512F and VL; both `depth`-float pieces readable.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    unsafe fn load_pair(src: *const f32, ld: usize, lo: usize, hi: usize, depth: usize) -> __m512 {
        // SAFETY: caller contract; masked-off lanes are not accessed.
        unsafe {
            let (lo, hi) = (src.add(lo * ld), src.add(hi * ld));
            let (lo, hi) = if depth == 8 {
                (_mm256_loadu_ps(lo), _mm256_loadu_ps(hi))
            } else {
                let mask = ((1u32 << depth) - 1) as __mmask8;
                (
                    _mm256_maskz_loadu_ps(mask, lo),
                    _mm256_maskz_loadu_ps(mask, hi),
                )
            };
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castps_pd(_mm512_castps256_ps512(lo)),
                _mm256_castps_pd(hi),
            ))
        }
    }

    /// Transposes a 16×16 block: `out[c]` lane `r` = `r_in[r]` lane `c`.
    ///
    /// No closures here: their bodies would not inherit the target feature.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        // t[2i], t[2i+1]: rows 2i, 2i+1 interleaved per 128-bit lane.
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4i+q] lane L = column 4L+q of rows 4i..4i+4.
        let mut u = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            let (t0, t1) = (_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 1]));
            let (t2, t3) = (
                _mm512_castps_pd(t[4 * i + 2]),
                _mm512_castps_pd(t[4 * i + 3]),
            );
            u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
            u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
            u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
            u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
        }
        // v[q] = cols (q, 8+q) rows 0..8; v[q+4] = cols (4+q, 12+q) rows 0..8;
        // v[q+8], v[q+12]: the same for rows 8..16.
        let mut v = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            v[q] = _mm512_shuffle_f32x4::<0x88>(u[q], u[4 + q]);
            v[q + 4] = _mm512_shuffle_f32x4::<0xdd>(u[q], u[4 + q]);
            v[q + 8] = _mm512_shuffle_f32x4::<0x88>(u[8 + q], u[12 + q]);
            v[q + 12] = _mm512_shuffle_f32x4::<0xdd>(u[8 + q], u[12 + q]);
        }
        let mut w = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            w[q] = _mm512_shuffle_f32x4::<0x88>(v[q], v[q + 8]);
            w[q + 8] = _mm512_shuffle_f32x4::<0xdd>(v[q], v[q + 8]);
            w[q + 4] = _mm512_shuffle_f32x4::<0x88>(v[q + 4], v[q + 12]);
            w[q + 12] = _mm512_shuffle_f32x4::<0xdd>(v[q + 4], v[q + 12]);
        }
        w
    }
}
