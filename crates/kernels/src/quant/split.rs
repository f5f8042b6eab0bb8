//! How the quantized GEMVs and GEMMs (block and K-quant formats alike) share
//! their outputs among workers, planned by [`crate::parallel::plan`].
//!
//! - A GEMV splits its `n` output rows into runs of whole tiles
//!   ([`gemv_split`]); a worker joins per `min_bytes / 2` of weights, so the
//!   format's threshold is where a second worker starts to pay.
//! - A GEMM cuts `y (m, n)` into rectangles of at most `RECT_ROWS`
//!   activation rows × a run of weight rows ([`for_each_rect`]).
//!
//! Every output is computed by one part in a fixed order, so results do not
//! depend on the thread count or the split.

use crate::parallel::{Split, for_each_part, plan};

/// Weight rows per part come in multiples of this: whole 16-row groups of
/// the 512-bit kernels (`x86/lanes.rs`), and so whole 4-row tiles of the
/// others.
const PART_ROWS: usize = 16;

/// Parts per worker of a GEMV (more parts even out a core shared with
/// other work).
const PARTS_PER_WORKER: usize = 8;

/// Weight-row runs per worker of a GEMM: fewer and wider than a GEMV's, as
/// each rectangle pays once for its activation rows' block terms and its
/// repacking (`x86/lanes.rs`), and stealing evens out the rest.
const GEMM_RUNS_PER_WORKER: usize = 2;

/// Activation rows per GEMM rectangle (bounds the activations one part
/// re-reads).
const RECT_ROWS: usize = 64;

/// The split of a GEMV of `n` rows of `row_bytes` each: serial below
/// `min_bytes` of weights (at two workers).
pub(super) fn gemv_split(n: usize, row_bytes: usize, min_bytes: usize) -> Split {
    plan(
        n,
        PART_ROWS,
        n.saturating_mul(row_bytes),
        min_bytes / 2,
        PARTS_PER_WORKER,
    )
}

/// Runs `rect(rows, cols)` over disjoint rectangles that tile `y (m, n)`:
/// activation rows `rows.0 .. rows.1` × weight rows `cols.0 .. cols.1`. The
/// weight rows are split by `macs` (multiply-adds in all) against
/// `min_macs` (the two-worker crossover).
pub(super) fn for_each_rect(
    m: usize,
    n: usize,
    (macs, min_macs): (usize, usize),
    rect: impl Fn((usize, usize), (usize, usize)) + Sync,
) {
    let cols = plan(n, PART_ROWS, macs, min_macs / 2, GEMM_RUNS_PER_WORKER);
    if cols.parts <= 1 {
        rect((0, m), (0, n));
        return;
    }
    let row_chunks = m.div_ceil(RECT_ROWS);
    let rects = Split {
        len: row_chunks * cols.parts,
        part_len: 1,
        parts: row_chunks * cols.parts,
        workers: cols.workers,
    };
    // Rectangles are numbered down each run of weight rows first, so the
    // contiguous shares of the team's workers ([`for_each_part`]) are runs of
    // weight rows: each worker streams its own rows of `W` once.
    for_each_part(rects, |t| {
        let (ci, ri) = (t / row_chunks, t % row_chunks);
        let rows = (ri * RECT_ROWS, ((ri + 1) * RECT_ROWS).min(m));
        let cols = cols.range(ci);
        rect(rows, (cols.start, cols.end));
    });
}

/// `y`'s base pointer, shared by the rectangles of one GEMM.
#[derive(Clone, Copy)]
pub(super) struct OutPtr(pub(super) *mut f32);

impl OutPtr {
    /// The pointer (a method, so closures capture the `Sync` wrapper).
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the rectangles of `for_each_rect` write disjoint elements of `y`,
// and `y` outlives the parallel loop, which joins before the GEMM returns.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}
