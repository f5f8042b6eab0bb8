//! How the quantized GEMVs and GEMMs (block and K-quant formats alike) share
//! their outputs among rayon tasks.
//!
//! - A GEMV splits its `n` output rows into contiguous runs of
//!   [`gemv_task_rows`] (a multiple of the tile height), about
//!   `TASKS_PER_THREAD` per thread, once its weights reach the format's
//!   threshold.
//! - A GEMM cuts `y (m, n)` into rectangles of at most `RECT_ROWS`
//!   activation rows × a run of weight rows ([`for_each_rect`]).
//!
//! Every output is computed by one task in a fixed order, so results do not
//! depend on the thread count.

use rayon::prelude::*;

use super::isa::ROWS;

/// Rayon tasks per thread wanted (more tasks even out a core shared with
/// other work).
const TASKS_PER_THREAD: usize = 8;

/// Activation rows per GEMM rectangle (bounds the activations one task
/// re-reads).
const RECT_ROWS: usize = 64;

/// Task rows for a GEMV of `n` rows of `row_bytes` each: `None` (serial)
/// below `min_bytes` of weights or on one thread.
pub(super) fn gemv_task_rows(n: usize, row_bytes: usize, min_bytes: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    if n.saturating_mul(row_bytes) < min_bytes || threads <= 1 {
        return None;
    }
    Some(
        n.div_ceil(threads * TASKS_PER_THREAD)
            .next_multiple_of(ROWS),
    )
}

/// Runs `rect(rows, cols)` over disjoint rectangles that tile `y (m, n)`:
/// activation rows `rows.0 .. rows.1` × weight rows `cols.0 .. cols.1`; one
/// rectangle covering everything when `parallel` is false or the pool has
/// one thread.
pub(super) fn for_each_rect(
    m: usize,
    n: usize,
    parallel: bool,
    rect: impl Fn((usize, usize), (usize, usize)) + Sync,
) {
    let threads = rayon::current_num_threads();
    if !parallel || threads <= 1 {
        rect((0, m), (0, n));
        return;
    }
    let row_chunks = m.div_ceil(RECT_ROWS);
    let want_col_chunks = (threads * TASKS_PER_THREAD).div_ceil(row_chunks);
    let col_chunk = n.div_ceil(want_col_chunks).next_multiple_of(ROWS);
    let col_chunks = n.div_ceil(col_chunk);
    (0..row_chunks * col_chunks).into_par_iter().for_each(|t| {
        let (ri, ci) = (t / col_chunks, t % col_chunks);
        let rows = (ri * RECT_ROWS, ((ri + 1) * RECT_ROWS).min(m));
        let cols = (ci * col_chunk, ((ci + 1) * col_chunk).min(n));
        rect(rows, cols);
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
