//! The integer instruction sets of the block dot products, and the row/tile
//! drivers written once over them.
//!
//! [`Isa`] is chosen once per kernel call, inside the single
//! [`dispatch`](crate::dispatch) of that call, from the pulp token it got:
//! - `V4` with AVX-512 VNNI and VBMI → [`Isa::Vnni512`] (`vpdpbusd` on
//!   512-bit vectors, two blocks each, arranged by `vpermb`);
//! - `V4` with AVX-512 VNNI only → [`Isa::Vnni`] (`vpdpbusd` on 256 bits);
//! - `V4` without VNNI, or `V3` → [`Isa::Avx2`] (`vpmaddubsw` + `vpmaddwd`);
//! - anything else → [`Isa::Scalar`].
//!
//! An `Isa` other than `Scalar` only exists after the CPU features it needs
//! were detected at run time, which is what makes calling its
//! `#[target_feature]` entry points sound.

use std::cell::Cell;

use pulp::Simd;

use super::format::{Kind, QuantWeight, block_dot};

/// Weight row groups: GEMV tiles are `ROWS × 1`, GEMM tiles `ROWS × COLS`.
pub(crate) const ROWS: usize = 4;
/// Activation rows per GEMM tile.
pub(crate) const COLS: usize = 4;

/// How to compute an `R × C` tile of block-row dot products.
pub(crate) trait Tiles {
    /// `out[r][c] = Σ_b dot(w[r][b], x[c][b])`; every slice has the same
    /// length. `ahead` (bytes, 0 for none) is how far past `w[r]`'s current
    /// block to prefetch.
    ///
    /// # Safety
    /// The CPU must support the implementation's instruction set.
    unsafe fn tile<W: QuantWeight, const R: usize, const C: usize>(
        w: [&[W]; R],
        x: [&[W::Act]; C],
        ahead: usize,
    ) -> [[f32; C]; R];
}

/// Portable integer loops (also the `Neon` path for now).
pub(crate) struct ScalarTiles;

impl Tiles for ScalarTiles {
    #[inline(always)]
    unsafe fn tile<W: QuantWeight, const R: usize, const C: usize>(
        w: [&[W]; R],
        x: [&[W::Act]; C],
        _ahead: usize,
    ) -> [[f32; C]; R] {
        let mut out = [[0.0f32; C]; R];
        for (out_r, w_r) in out.iter_mut().zip(w) {
            for (o, x_c) in out_r.iter_mut().zip(x) {
                *o = w_r.iter().zip(x_c).map(|(wb, xb)| block_dot(wb, xb)).sum();
            }
        }
        out
    }
}

/// The integer dot-product instruction set of one kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain integer loops.
    Scalar,
    /// AVX2 + FMA + F16C (`vpmaddubsw`/`vpmaddwd`).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 VL + VNNI (`vpdpbusd` on 256 bits), plus everything `Avx2`
    /// needs.
    #[cfg(target_arch = "x86_64")]
    Vnni,
    /// `Vnni` plus AVX-512 VBMI (`vpermb`): two blocks per 512-bit vector.
    #[cfg(target_arch = "x86_64")]
    Vnni512,
}

impl Isa {
    /// The instruction set to use under the pulp token `S`.
    #[inline(always)]
    pub(crate) fn of<S: Simd>() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::any::TypeId;
            let s = TypeId::of::<S>();
            if s == TypeId::of::<pulp::x86::V4>() {
                return match (vnni_detected(), vbmi_detected() && !NARROW.with(Cell::get)) {
                    (true, true) => Isa::Vnni512,
                    (true, false) => Isa::Vnni,
                    (false, _) => Isa::Avx2,
                };
            }
            if s == TypeId::of::<pulp::x86::V3>() {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// Output rows `j0 .. j0 + y.len()` of a GEMV: `y[j] = Σ_b dot(w[j0 + j], x)`.
    /// `w` holds whole rows of `x.len()` blocks.
    #[inline]
    pub(crate) fn gemv_rows<W: QuantWeight>(self, w: &[W], x: &[W::Act], j0: usize, y: &mut [f32]) {
        match self {
            // SAFETY: the scalar tiles use no special instructions.
            Isa::Scalar => unsafe { gemv_rows::<ScalarTiles, W>(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2` is only built after V3 (AVX2, FMA, F16C)
            // was detected.
            Isa::Avx2 => unsafe { super::x86::gemv_rows_avx2(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Vnni` is only built after V4 and AVX-512 VNNI
            // were detected.
            Isa::Vnni => unsafe { super::x86::gemv_rows_vnni(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Vnni512` is only built after V4, AVX-512 VNNI and
            // VBMI were detected.
            Isa::Vnni512 => unsafe { super::x86::gemv_rows_vnni512(w, x, j0, y) },
        }
    }

    /// A GEMM rectangle (see [`gemm_rect`]).
    ///
    /// # Safety
    /// `rect.y` must be valid for writes over the rectangle, which no other
    /// thread may access meanwhile (the CPU features are `self`'s).
    #[inline]
    pub(crate) unsafe fn gemm_rect<W: QuantWeight>(self, rect: Rect<'_, W>) {
        match self {
            // SAFETY: the scalar tiles use no special instructions; `rect`'s
            // invariants are our caller's.
            Isa::Scalar => unsafe { gemm_rect::<ScalarTiles, W, ROWS, COLS>(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `gemv_rows`.
            Isa::Avx2 => unsafe { super::x86::gemm_rect_avx2(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `gemv_rows`.
            Isa::Vnni => unsafe { super::x86::gemm_rect_vnni(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `gemv_rows`.
            Isa::Vnni512 => unsafe { super::x86::gemm_rect_vnni512(rect) },
        }
    }
}

/// AVX-512 VNNI, probed once (std caches the answer).
#[cfg(target_arch = "x86_64")]
fn vnni_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512vnni")
}

/// AVX-512 VBMI (`vpermb`), probed once.
#[cfg(target_arch = "x86_64")]
fn vbmi_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512vbmi")
}

thread_local! {
    /// Set by [`with_narrow_vnni`].
    static NARROW: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the quantized kernels called from this thread limited to
/// 256-bit VNNI on the V4 path (as on a CPU without AVX-512 VBMI), so tests
/// cover that code on CPUs that have VBMI. Not for production use.
#[doc(hidden)]
pub fn with_narrow_vnni<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            NARROW.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(NARROW.with(|c| c.replace(true)));
    f()
}

/// Software-prefetch distance in the weight stream, as a whole number of
/// `ROWS`-row groups (see [`crate::prefetch`]).
const PREFETCH_BYTES: usize = 8 * 1024;

/// Weight rows per GEMV tile for format `kind`. Q8_0 streams one row at a
/// time: its dot is cheap, so decode waits on memory, and one sequential
/// stream (plus the software prefetch) sustains about 1.6× the bandwidth of
/// four interleaved ones (36 vs 21 GB/s on one Zen 5 core, 40 vs 33 GB/s on
/// two; `docs/performance.md`). The 4-bit formats unpack more per byte, so
/// sharing each activation pair over four rows wins for them.
const fn gemv_tile_rows(kind: Kind) -> usize {
    match kind {
        Kind::Q8_0 => 1,
        Kind::Q4_0 | Kind::Q4_1 => ROWS,
    }
}

/// See [`Isa::gemv_rows`].
///
/// # Safety
/// The CPU must support `T`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn gemv_rows<T: Tiles, W: QuantWeight>(
    w: &[W],
    x: &[W::Act],
    j0: usize,
    y: &mut [f32],
) {
    // SAFETY: forwarded from our caller.
    unsafe {
        match gemv_tile_rows(W::KIND) {
            1 => gemv_tiles::<T, W, 1>(w, x, j0, y),
            _ => gemv_tiles::<T, W, ROWS>(w, x, j0, y),
        }
    }
}

/// [`gemv_rows`] with `R × 1` tiles.
///
/// # Safety
/// The CPU must support `T`'s instruction set.
#[inline(always)]
unsafe fn gemv_tiles<T: Tiles, W: QuantWeight, const R: usize>(
    w: &[W],
    x: &[W::Act],
    j0: usize,
    y: &mut [f32],
) {
    let nb = x.len();
    let n = y.len();
    let row = |j: usize| &w[(j0 + j) * nb..][..nb];
    let ahead = crate::prefetch::groups_ahead(R * nb * size_of::<W>(), PREFETCH_BYTES);
    let mut j = 0;
    while j < n {
        // A short last group repeats its last row; the extra sums are dropped.
        let rows: [&[W]; R] = std::array::from_fn(|r| row((j + r).min(n - 1)));
        // SAFETY: forwarded from our caller.
        let out = unsafe { T::tile::<W, R, 1>(rows, [x], ahead) };
        for (yj, o) in y[j..].iter_mut().zip(out) {
            *yj = o[0];
        }
        j += R;
    }
}

/// A rectangle of a quantized GEMM `y (m, n) = x (m, k) · Wᵀ`: outputs
/// `rows × cols`, written through a raw pointer so rectangles of one `y` can
/// run on several threads.
pub(crate) struct Rect<'a, W: QuantWeight> {
    /// All weights, `(n, nb)` blocks.
    pub w: &'a [W],
    /// All activations, `(m, nb)` blocks.
    pub x: &'a [W::Act],
    /// Blocks per row.
    pub nb: usize,
    /// Activation rows `rows.0 .. rows.1`.
    pub rows: (usize, usize),
    /// Weight rows (output columns) `cols.0 .. cols.1`.
    pub cols: (usize, usize),
    /// `y`'s base pointer; row stride `n`.
    pub y: *mut f32,
    /// Output columns (`y`'s row stride).
    pub n: usize,
}

/// Computes one [`Rect`]: for each group of `ROWS` weight rows (kept in L1),
/// every group of `COLS` activation rows.
///
/// # Safety
/// The CPU must support `T`'s instruction set; `rect.y` must be valid for
/// writes at `i·n + j` for every `(i, j)` in the rectangle, and no other
/// thread may access those elements meanwhile.
#[inline(always)]
pub(crate) unsafe fn gemm_rect<T: Tiles, W: QuantWeight, const R: usize, const C: usize>(
    rect: Rect<'_, W>,
) {
    let Rect {
        w,
        x,
        nb,
        rows: (i0, i1),
        cols: (j0, j1),
        y,
        n,
    } = rect;
    let w_row = |j: usize| &w[j * nb..][..nb];
    let x_row = |i: usize| &x[i * nb..][..nb];
    let mut j = j0;
    while j < j1 {
        let ws: [&[W]; R] = std::array::from_fn(|r| w_row((j + r).min(j1 - 1)));
        let mut i = i0;
        while i < i1 {
            let xs: [&[W::Act]; C] = std::array::from_fn(|c| x_row((i + c).min(i1 - 1)));
            // SAFETY: forwarded from our caller.
            let out = unsafe { T::tile::<W, R, C>(ws, xs, 0) };
            // SAFETY: the tile at `(i, j)` lies in the rectangle, clipped to
            // `(i1, j1)`; our caller lets us write it.
            unsafe { store_tile(&out, y, n, (i, j), (i1, j1)) };
            i += C;
        }
        j += R;
    }
}

/// Writes tile `out` (`out[r][c]` is output `(i + c, j + r)`) into `y`
/// (row stride `n`), dropping the rows and columns at or past `end`.
///
/// # Safety
/// `y` must be valid for writes at `(i + c)·n + j + r` for every kept
/// `(r, c)`, and no other thread may access those elements meanwhile.
#[inline(always)]
pub(crate) unsafe fn store_tile<const R: usize, const C: usize>(
    out: &[[f32; C]; R],
    y: *mut f32,
    n: usize,
    (i, j): (usize, usize),
    (i_end, j_end): (usize, usize),
) {
    for (r, out_r) in out.iter().enumerate().take(j_end - j) {
        for (c, &v) in out_r.iter().enumerate().take(i_end - i) {
            // SAFETY: `(i + c, j + r)` is a kept element (our caller's contract).
            unsafe { *y.add((i + c) * n + j + r) = v };
        }
    }
}
