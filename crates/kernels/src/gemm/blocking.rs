//! The GEMM driver: tile-shape choice per SIMD path, the split among
//! workers ([`crate::parallel`]), and the
//! BLIS loop nest (see the module docs of [`super`]) including the small
//! direct path.
//!
//! Determinism: every element of `C` is summed in an order that depends only
//! on the problem (shape, transposes, SIMD path), never on the number of
//! workers, so a 1-worker and a 2-worker team give bit-identical
//! results. Each element is one accumulator chain over the depth blocks
//! `pc` (`C = α·acc + β·C` for the first block, `C += α·acc` after), so only
//! the depth partition matters: windows are cut on the global `MR` / `NR`
//! tile grid, and the partition is chosen from the whole product (see
//! `small_m_depth_block`), never from a window's size.
//!
//! Parallelism: above [`PARALLEL_MIN_FLOPS`] the output is cut into one
//! contiguous range per worker — along `n` in multiples of NR when `n`
//! has enough tiles, else along `m` in multiples of MR — and each range runs
//! the whole loop nest with its own thread-local packing buffers. No buffer
//! is shared, so no synchronisation is needed beyond the final join; the
//! price is that each thread packs its own copy of the shared operand's block
//! (`A` for an `n` split), which is `O(m·k)` against `O(m·n·k/threads)` work.

use core::ops::Range;

use pulp::{Simd, WithSimd};

use super::microkernel::{Beta, store, tile, tile_packing_bt};
use super::pack::{b_panel_stride, borrow_buffers, pack_a, pack_b};
use super::params::{
    DIRECT_MAX_MNK, KC, KC_SMALL_M_MAX, MC, MR_V4, NC, NC_SMALL_M, NV_V4, PARALLEL_MIN_FLOPS,
};
use super::reference::gemm_ref_unchecked;
use super::{Gemm, Transpose};
use crate::parallel::{available_workers, for_each_part, plan};

/// One validated GEMM call with `m, n, k ≥ 1` and `α ≠ 0`, ready to dispatch.
pub(super) struct GemmOp<'a> {
    pub(super) g: &'a Gemm,
    pub(super) a: &'a [f32],
    pub(super) b: &'a [f32],
    pub(super) c: &'a mut [f32],
}

impl WithSimd for GemmOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match S::F32_LANES {
            16 => run::<S, MR_V4, NV_V4>(simd, self),
            8 => run::<S, 6, 2>(simd, self),
            4 => run::<S, 8, 3>(simd, self),
            _ => run::<S, 4, 4>(simd, self),
        }
    }
}

/// A raw `C` pointer that the parts may share: each task writes a disjoint
/// `(rows, cols)` window of `C`.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);
// SAFETY: tasks write disjoint windows of one live `&mut [f32]` (see `run`).
unsafe impl Send for CPtr {}
// SAFETY: as above.
unsafe impl Sync for CPtr {}

/// The `C` window one task computes, and how.
#[derive(Clone, Copy)]
struct Window<'a> {
    g: &'a Gemm,
    a: &'a [f32],
    b: &'a [f32],
    c: CPtr,
    direct: bool,
}

/// Chooses serial or parallel and runs the loop nest with an `(MR, NV·lanes)` tile.
#[inline(always)]
fn run<S: Simd, const MR: usize, const NV: usize>(simd: S, op: GemmOp<'_>) {
    let GemmOp { g, a, b, c } = op;
    let nr = NV * S::F32_LANES;
    let direct = g.m.saturating_mul(g.n).saturating_mul(g.k) <= DIRECT_MAX_MNK;
    let win = Window {
        g,
        a,
        b,
        c: CPtr(c.as_mut_ptr()),
        direct,
    };
    let n_tiles = g.n.div_ceil(nr);
    let m_tiles = g.m.div_ceil(MR);
    let split_n = n_tiles >= available_workers() * 2 || n_tiles >= m_tiles;
    let (unit, len) = if split_n { (nr, g.n) } else { (MR, g.m) };
    // One contiguous range per worker; a worker joins per half the measured
    // two-worker crossover.
    let flops = g.flops().min(usize::MAX as f64) as usize;
    let split = plan(len, unit, flops, (PARALLEL_MIN_FLOPS / 2.0) as usize, 1);
    if split.parts <= 1 {
        // SAFETY: the whole of `C` was validated against (m, n, ldc).
        unsafe { compute_window::<S, MR, NV>(simd, win, 0..g.m, 0..g.n) };
        return;
    }
    for_each_part(split, |t| {
        let range = split.range(t);
        let (rows, cols) = if split_n {
            (0..g.m, range)
        } else {
            (range, 0..g.n)
        };
        simd.vectorize(WindowTask::<MR, NV> { win, rows, cols });
    });
}

/// One part: a window of `C`, re-entering the SIMD context with the
/// token already chosen (no second dispatch).
struct WindowTask<'a, const MR: usize, const NV: usize> {
    win: Window<'a>,
    rows: Range<usize>,
    cols: Range<usize>,
}

impl<const MR: usize, const NV: usize> WithSimd for WindowTask<'_, MR, NV> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // SAFETY: `run` hands each task a disjoint window inside validated `C`.
        unsafe { compute_window::<S, MR, NV>(simd, self.win, self.rows, self.cols) }
    }
}

/// Computes `C[rows, cols]` with this thread's packing buffers.
///
/// # Safety
/// `win.c` points at a `C` validated for `(m, n, ldc)`, `rows ⊆ 0..m`,
/// `cols ⊆ 0..n`, and no other thread accesses this window concurrently.
#[inline(always)]
unsafe fn compute_window<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    win: Window<'_>,
    rows: Range<usize>,
    cols: Range<usize>,
) {
    if let Some(mut guard) = borrow_buffers() {
        let (a_buf, b_buf) = guard.split();
        // SAFETY: forwarded caller contract; the buffers have their full sizes.
        unsafe { loop_nest::<S, MR, NV>(simd, win, rows, cols, a_buf, b_buf) };
    } else {
        // Re-entrant use of the buffers (never happens from this crate): fall
        // back to the allocation-free oracle on this window.
        let g = Gemm {
            m: rows.len(),
            n: cols.len(),
            ..*win.g
        };
        let a_off = match g.trans_a {
            Transpose::No => rows.start * g.lda,
            Transpose::Yes => rows.start,
        };
        let b_off = match g.trans_b {
            Transpose::No => cols.start,
            Transpose::Yes => cols.start * g.ldb,
        };
        let c_off = rows.start * g.ldc + cols.start;
        let c_len = if g.m == 0 || g.n == 0 {
            0
        } else {
            (g.m - 1) * g.ldc + g.n
        };
        // SAFETY: the window lies inside validated `C` and is ours alone.
        let c = unsafe { core::slice::from_raw_parts_mut(win.c.0.add(c_off), c_len) };
        gemm_ref_unchecked(
            &g,
            &win.a[a_off.min(win.a.len())..],
            &win.b[b_off.min(win.b.len())..],
            c,
        );
    }
}

/// The BLIS loop nest over `C[rows, cols]`.
///
/// # Safety
/// As [`compute_window`]; `a_buf`, `b_buf` hold at least `MC·KC`, `NC·KC` floats.
#[inline(always)]
unsafe fn loop_nest<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    win: Window<'_>,
    rows: Range<usize>,
    cols: Range<usize>,
    a_buf: &mut [f32],
    b_buf: &mut [f32],
) {
    let Window { g, a, b, c, direct } = win;
    let nr = NV * S::F32_LANES;
    let mc_blk = MC / MR * MR;
    let nc_blk = NC / nr * nr;
    if !direct && rows.len() <= mc_blk {
        // SAFETY: forwarded caller contract.
        unsafe { small_m_nest::<S, MR, NV>(simd, win, rows, cols, a_buf, b_buf) };
        return;
    }
    // Direct path with a transposed B on AVX-512: the first row tile of each
    // full column panel transposes B in place while it computes
    // (`tile_packing_bt`), and the later row tiles read the panel it wrote.
    let fused_bt = direct && g.trans_b == Transpose::Yes && bt_fusable::<S>(nr);
    let pack_all_a = !direct;
    let pack_all_b = !direct || (g.trans_b == Transpose::Yes && !fused_bt);
    let panels_b = pack_all_b || fused_bt;
    let beta0 = Beta::from_f32(g.beta);
    for jc in cols.clone().step_by(nc_blk) {
        let nc = nc_blk.min(cols.end - jc);
        let nc_full = nc / nr * nr;
        for pc in (0..g.k).step_by(KC) {
            let kc = KC.min(g.k - pc);
            let b_stride = b_panel_stride(kc, nr);
            let beta = if pc == 0 { beta0 } else { Beta::One };
            if pack_all_b {
                pack_b(simd, g, b, (jc, nc), (pc, kc), b_buf, nr);
            } else if nc_full < nc {
                // Direct path: only the ragged last column panel is packed
                // (after the full panels when those are packed too).
                let at = if fused_bt { nc_full / nr * b_stride } else { 0 };
                pack_b(
                    simd,
                    g,
                    b,
                    (jc + nc_full, nc - nc_full),
                    (pc, kc),
                    &mut b_buf[at..],
                    nr,
                );
            }
            // One raw base for the packed B panels: the fused kernel writes
            // panels that later tiles read through pointers derived from it.
            let b_base = b_buf.as_mut_ptr();
            for ic in rows.clone().step_by(mc_blk) {
                let mc = mc_blk.min(rows.end - ic);
                let mc_full = mc / MR * MR;
                if pack_all_a {
                    pack_a::<MR>(g, a, (ic, mc), (pc, kc), a_buf);
                } else if mc_full < mc {
                    pack_a::<MR>(g, a, (ic + mc_full, mc - mc_full), (pc, kc), a_buf);
                }
                for jr in (0..nc).step_by(nr) {
                    let nr_eff = nr.min(nc - jr);
                    // SAFETY: panel `jr / nr` starts inside `b_buf`.
                    let panel = unsafe { b_base.add(jr / nr * b_stride) };
                    let (b_ptr, b_ks) = if panels_b {
                        (panel.cast_const(), nr)
                    } else if nr_eff == nr {
                        (b[pc * g.ldb + jc + jr..].as_ptr(), g.ldb)
                    } else {
                        (b_base.cast_const(), nr)
                    };
                    for ir in (0..mc).step_by(MR) {
                        let mr_eff = MR.min(mc - ir);
                        let (a_ptr, a_rs, a_cs) = if pack_all_a {
                            (a_buf[ir / MR * kc * MR..].as_ptr(), 1, MR)
                        } else if mr_eff == MR {
                            match g.trans_a {
                                Transpose::No => (a[(ic + ir) * g.lda + pc..].as_ptr(), g.lda, 1),
                                Transpose::Yes => (a[pc * g.lda + ic + ir..].as_ptr(), 1, g.lda),
                            }
                        } else {
                            (a_buf.as_ptr(), 1, MR)
                        };
                        let transpose_here =
                            fused_bt && ic == rows.start && ir == 0 && nr_eff == nr;
                        // SAFETY: packed panels hold kc·MR / kc·NR floats; the
                        // direct operands were validated for their full shapes
                        // and (ic+ir+MR, pc+kc) / (pc+kc, jc+jr+nr) are in range
                        // (for a transposed B: rows jc+jr..+nr, depths pc..+kc).
                        let acc = unsafe {
                            if transpose_here {
                                let b_src = b[(jc + jr) * g.ldb + pc..].as_ptr();
                                tile_packing_bt::<S, MR, NV>(
                                    simd, kc, a_ptr, a_rs, a_cs, b_src, g.ldb, panel,
                                )
                            } else {
                                tile::<S, MR, NV>(simd, kc, a_ptr, a_rs, a_cs, b_ptr, b_ks)
                            }
                        };
                        // SAFETY: the tile corner (mr_eff, nr_eff) lies in this window.
                        unsafe {
                            let c_tile = c.0.add((ic + ir) * g.ldc + jc + jr);
                            store::<S, MR, NV>(
                                simd, acc, c_tile, g.ldc, mr_eff, nr_eff, g.alpha, beta,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Depth block of [`small_m_nest`]: the whole depth when the *product* (not
/// this window) has at most one A block of rows and `k ≤ KC_SMALL_M_MAX`,
/// else `KC` as in the general nest.
///
/// Deciding on the whole product keeps the depth partition, and with it
/// every element's summation order, independent of the rayon split: a
/// product taller than one A block runs the general nest (`KC` blocks) on
/// one thread, and when two threads split it along `m` into windows short
/// enough for this nest, those windows must use `KC` blocks too.
#[inline(always)]
fn small_m_depth_block<const MR: usize>(g: &Gemm) -> usize {
    if g.m <= MC / MR * MR && g.k <= KC_SMALL_M_MAX {
        g.k
    } else {
        KC
    }
}

/// Whether the fused transpose-while-computing kernel applies on this path
/// (AVX-512, panels a multiple of 16 columns).
#[inline(always)]
fn bt_fusable<S: Simd>(nr: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::pack::is_v4::<S>() && nr.is_multiple_of(16)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = nr;
        false
    }
}

/// The loop order for a window whose rows fit one A block (`m ≤ MC`):
///
/// ```text
/// for pc in 0..k step kc            // kc = k when k ≤ KC_SMALL_M_MAX
///   pack op(A)[rows, pc..]          // once: (m, kc) stays in L2
///   for jc in cols step NC_SMALL_M  // B chunk (kc, NC_SMALL_M) packed just in time
///     for ir, jr: micro-kernel      // A micro-panel in L1, B chunk in L2
/// ```
///
/// Compared with the general nest, `A` is packed once instead of once per
/// `NC` columns, the packed `B` chunk never leaves L2 (it is written and
/// read back while hot, instead of a multi-MiB block round-tripping through
/// L3), and with `kc = k` each `C` tile is stored once instead of once per
/// `KC` (at 128×576×49152 that is one pass over the 25 MB `C` instead of
/// three).
///
/// # Safety
/// As [`loop_nest`].
#[inline(always)]
unsafe fn small_m_nest<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    win: Window<'_>,
    rows: Range<usize>,
    cols: Range<usize>,
    a_buf: &mut [f32],
    b_buf: &mut [f32],
) {
    let Window { g, a, b, c, .. } = win;
    let nr = NV * S::F32_LANES;
    let kc_blk = small_m_depth_block::<MR>(g);
    let nc_blk = NC_SMALL_M / nr * nr;
    let beta0 = Beta::from_f32(g.beta);
    let m = rows.len();
    for pc in (0..g.k).step_by(kc_blk) {
        let kc = kc_blk.min(g.k - pc);
        let beta = if pc == 0 { beta0 } else { Beta::One };
        pack_a::<MR>(g, a, (rows.start, m), (pc, kc), a_buf);
        for jc in cols.clone().step_by(nc_blk) {
            let nc = nc_blk.min(cols.end - jc);
            pack_b(simd, g, b, (jc, nc), (pc, kc), b_buf, nr);
            // One A micro-panel (kc, MR) stays in L1 while the B chunk
            // streams from L2.
            for ir in (0..m).step_by(MR) {
                let mr_eff = MR.min(m - ir);
                for jr in (0..nc).step_by(nr) {
                    let nr_eff = nr.min(nc - jr);
                    let b_ptr = b_buf[jr / nr * b_panel_stride(kc, nr)..].as_ptr();
                    // SAFETY: the packed panels hold kc·MR and kc·NR floats.
                    let acc = unsafe {
                        tile::<S, MR, NV>(
                            simd,
                            kc,
                            a_buf[ir / MR * kc * MR..].as_ptr(),
                            1,
                            MR,
                            b_ptr,
                            nr,
                        )
                    };
                    // SAFETY: the tile corner (mr_eff, nr_eff) lies in this window.
                    unsafe {
                        let c_tile = c.0.add((rows.start + ir) * g.ldc + jc + jr);
                        store::<S, MR, NV>(simd, acc, c_tile, g.ldc, mr_eff, nr_eff, g.alpha, beta);
                    }
                }
            }
        }
    }
}
