//! The integer instruction sets of the block dot products, and the row/tile
//! drivers written once over every [`WeightFormat`].
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
//! `#[target_feature]` entry points sound. Inside them, the marker types
//! ([`Tile`]: [`Scalar`], [`Avx2`], [`Vnni`], [`Vnni512`]) name the
//! instruction set at compile time, so each format's
//! [`WeightFormat::tile`] picks its code with a `match` that costs nothing.

use std::cell::Cell;

use pulp::Simd;

use super::format::WeightFormat;

/// Weight row groups: GEMV tiles are `ROWS × 1` (or `1 × 1`, see
/// [`WeightFormat::GEMV_ROWS`]), GEMM tiles `ROWS × COLS`.
pub(crate) const ROWS: usize = 4;
/// Activation rows per GEMM tile.
pub(crate) const COLS: usize = 4;

/// An instruction set named at compile time (a marker type).
pub trait Tile {
    /// Which one.
    const ISA: Isa;
}

/// Plain integer loops (also the `Neon` path for now).
pub(crate) struct Scalar;
/// AVX2 + FMA + F16C.
pub(crate) struct Avx2;
/// AVX-512 VL + VNNI on 256-bit vectors.
pub(crate) struct Vnni;
/// AVX-512 VNNI + VBMI on 512-bit vectors.
pub(crate) struct Vnni512;

impl Tile for Scalar {
    const ISA: Isa = Isa::Scalar;
}
#[cfg(target_arch = "x86_64")]
impl Tile for Avx2 {
    const ISA: Isa = Isa::Avx2;
}
#[cfg(target_arch = "x86_64")]
impl Tile for Vnni {
    const ISA: Isa = Isa::Vnni;
}
#[cfg(target_arch = "x86_64")]
impl Tile for Vnni512 {
    const ISA: Isa = Isa::Vnni512;
}

/// The integer dot-product instruction set of one kernel call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Plain integer loops.
    Scalar,
    /// AVX2 + FMA + F16C (`vpmaddubsw`/`vpmaddwd`).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 VL + VNNI (`vpdpbusd` on 256 bits), plus everything `Avx2`
    /// needs.
    #[cfg(target_arch = "x86_64")]
    Vnni,
    /// `Vnni` plus AVX-512 VBMI (`vpermb`): 512-bit vectors (for the 32-value
    /// formats, a weight row per lane: `x86/lanes.rs`).
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
    pub(crate) fn gemv_rows<W: WeightFormat>(
        self,
        w: &[W],
        x: &[W::Act],
        j0: usize,
        y: &mut [f32],
    ) {
        match self {
            // SAFETY: the scalar tiles use no special instructions.
            Isa::Scalar => unsafe { W::gemv_rows::<Scalar>(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2` is only built after V3 (AVX2, FMA, F16C)
            // was detected.
            Isa::Avx2 => unsafe { x86::gemv_rows_avx2(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Vnni` is only built after V4 and AVX-512 VNNI
            // were detected.
            Isa::Vnni => unsafe { x86::gemv_rows_vnni(w, x, j0, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Vnni512` is only built after V4, AVX-512 VNNI and
            // VBMI were detected.
            Isa::Vnni512 => unsafe { x86::gemv_rows_vnni512(w, x, j0, y) },
        }
    }

    /// A GEMM rectangle (see [`gemm_rect`]).
    ///
    /// # Safety
    /// `rect.y` must be valid for writes over the rectangle, which no other
    /// thread may access meanwhile (the CPU features are `self`'s).
    #[inline]
    pub(crate) unsafe fn gemm_rect<W: WeightFormat>(self, rect: Rect<'_, W>) {
        match self {
            // SAFETY: the scalar tiles use no special instructions; `rect`'s
            // invariants are our caller's.
            Isa::Scalar => unsafe { W::gemm_rect::<Scalar>(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `gemv_rows`.
            Isa::Avx2 => unsafe { x86::gemm_rect_avx2(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `gemv_rows`.
            Isa::Vnni => unsafe { x86::gemm_rect_vnni(rect) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `gemv_rows`.
            Isa::Vnni512 => unsafe { x86::gemm_rect_vnni512(rect) },
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

/// See [`Isa::gemv_rows`].
///
/// # Safety
/// The CPU must support `T`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn gemv_rows<T: Tile, W: WeightFormat>(
    w: &[W],
    x: &[W::Act],
    j0: usize,
    y: &mut [f32],
) {
    // SAFETY: forwarded from our caller.
    unsafe {
        match W::GEMV_ROWS {
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
unsafe fn gemv_tiles<T: Tile, W: WeightFormat, const R: usize>(
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
        let out = unsafe { W::tile::<T, R, 1>(rows, [x], ahead) };
        for (yj, o) in y[j..].iter_mut().zip(out) {
            *yj = o[0];
        }
        j += R;
    }
}

/// A rectangle of a quantized GEMM `y (m, n) = x (m, k) · Wᵀ`: outputs
/// `rows × cols`, written through a raw pointer so rectangles of one `y` can
/// run on several threads.
pub struct Rect<'a, W: WeightFormat> {
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
pub(crate) unsafe fn gemm_rect<T: Tile, W: WeightFormat, const R: usize, const C: usize>(
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
            let out = unsafe { W::tile::<T, R, C>(ws, xs, 0) };
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

/// The `#[target_feature]` entry points: each enables its instruction set and
/// runs the generic driver, so the format's tiles inline with those features.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Avx2, Rect, Vnni, Vnni512};
    use crate::quant::WeightFormat;

    /// [`WeightFormat::gemv_rows`] on AVX2.
    #[target_feature(enable = "avx,avx2,fma,f16c")]
    pub(super) fn gemv_rows_avx2<W: WeightFormat>(w: &[W], x: &[W::Act], j0: usize, y: &mut [f32]) {
        // SAFETY: this function's target features are all `Avx2` needs.
        unsafe { W::gemv_rows::<Avx2>(w, x, j0, y) }
    }

    /// [`WeightFormat::gemv_rows`] with AVX-512 VNNI.
    #[target_feature(enable = "avx,avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    pub(super) fn gemv_rows_vnni<W: WeightFormat>(w: &[W], x: &[W::Act], j0: usize, y: &mut [f32]) {
        // SAFETY: this function's target features are all `Vnni` needs.
        unsafe { W::gemv_rows::<Vnni>(w, x, j0, y) }
    }

    /// [`WeightFormat::gemv_rows`] with AVX-512 VNNI + VBMI.
    #[target_feature(
        enable = "avx,avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi"
    )]
    pub(super) fn gemv_rows_vnni512<W: WeightFormat>(
        w: &[W],
        x: &[W::Act],
        j0: usize,
        y: &mut [f32],
    ) {
        // SAFETY: this function's target features are all `Vnni512` needs.
        unsafe { W::gemv_rows::<Vnni512>(w, x, j0, y) }
    }

    /// [`WeightFormat::gemm_rect`] on AVX2.
    ///
    /// # Safety
    /// As [`super::gemm_rect`], minus the CPU features (enabled here).
    #[target_feature(enable = "avx,avx2,fma,f16c")]
    pub(super) unsafe fn gemm_rect_avx2<W: WeightFormat>(rect: Rect<'_, W>) {
        // SAFETY: this function's target features are all `Avx2` needs; the
        // rectangle's contract is our caller's.
        unsafe { W::gemm_rect::<Avx2>(rect) }
    }

    /// [`WeightFormat::gemm_rect`] with AVX-512 VNNI.
    ///
    /// # Safety
    /// As [`super::gemm_rect`], minus the CPU features (enabled here).
    #[target_feature(enable = "avx,avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    pub(super) unsafe fn gemm_rect_vnni<W: WeightFormat>(rect: Rect<'_, W>) {
        // SAFETY: as in `gemm_rect_avx2`, for `Vnni`.
        unsafe { W::gemm_rect::<Vnni>(rect) }
    }

    /// [`WeightFormat::gemm_rect`] with AVX-512 VNNI + VBMI.
    ///
    /// # Safety
    /// As [`super::gemm_rect`], minus the CPU features (enabled here).
    #[target_feature(
        enable = "avx,avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi"
    )]
    pub(super) unsafe fn gemm_rect_vnni512<W: WeightFormat>(rect: Rect<'_, W>) {
        // SAFETY: as in `gemm_rect_avx2`, for `Vnni512`.
        unsafe { W::gemm_rect::<Vnni512>(rect) }
    }
}
