//! The register-blocked micro-kernel: an `(MR, NR)` tile of `C` with
//! `NR = NV·lanes`, computed as `kc` rank-1 updates held entirely in registers.
//!
//! Per depth step `p` it loads `NV` vectors of the B row `p` (contiguous, `NR`
//! columns), broadcasts `MR` scalars of the A column `p`, and issues `MR·NV`
//! fused multiply-adds. Written once, generic over `S: pulp::Simd`; the tile
//! shape is chosen per path in `blocking`.
//!
//! A is read through strides, so the same code consumes a packed A panel
//! (`rs = 1, cs = MR`, contiguous) and, on the small direct path, `A` in place
//! (`rs = lda, cs = 1`, or `rs = 1, cs = lda` when transposed). B rows are read
//! `b_ks` apart: `NR` for a packed panel, `ldb` directly.

use pulp::Simd;

/// `MR × NV` vectors of accumulators: row `i`, vector `v` holds
/// `C[i, v·lanes .. (v+1)·lanes]`.
pub(super) type Tile<S, const MR: usize, const NV: usize> = [[<S as Simd>::f32s; NV]; MR];

/// Computes `Σₚ A[i,p]·B[p,j]` for the `(MR, NV·lanes)` tile.
///
/// # Safety
/// For every `i < MR`, `p < kc`: `a + i·a_rs + p·a_cs` is readable, and
/// `b + p·b_ks .. + NV·lanes` is readable.
#[inline(always)]
pub(super) unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    kc: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_ks: usize,
) -> Tile<S, MR, NV> {
    let mut acc: Tile<S, MR, NV> = [[simd.splat_f32s(0.0); NV]; MR];
    // SAFETY: forwarded caller contract.
    unsafe { rank1_steps::<S, MR, NV>(simd, &mut acc, kc, a, a_rs, a_cs, b, b_ks) };
    acc
}

/// `acc += Σ_{p < steps} A[·,p]·B[p,·]`: `steps` rank-1 updates of the tile,
/// in increasing `p` (the summation order every caller shares).
///
/// # Safety
/// As [`tile`] with `kc = steps`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rank1_steps<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    acc: &mut Tile<S, MR, NV>,
    steps: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_ks: usize,
) {
    let lanes = S::F32_LANES;
    let mut a = a;
    let mut b = b;
    for _ in 0..steps {
        // SAFETY: row `p` of B has NV·lanes readable floats (caller contract);
        // unaligned reads of a Pod vector type.
        let bv: [S::f32s; NV] = core::array::from_fn(|v| unsafe {
            b.add(v * lanes).cast::<S::f32s>().read_unaligned()
        });
        for (i, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: `a + i·a_rs` at the current depth is readable (caller contract).
            let ai = simd.splat_f32s(unsafe { *a.add(i * a_rs) });
            for (acc_v, &b_v) in acc_row.iter_mut().zip(&bv) {
                *acc_v = simd.mul_add_e_f32s(ai, b_v, *acc_v);
            }
        }
        // SAFETY: stays within (or one step past) the caller's panels.
        unsafe {
            a = a.add(a_cs);
            b = b.add(b_ks);
        }
    }
}

/// [`tile`] for a transposed `B` read in place, packing it on the way: the
/// `(kc, NR)` panel `panel[p·NR + j] = B[j, p]` (`B` stored `(NR, ·)` rows
/// `ldb` apart, the `NR` columns of this tile) is written [`BT_DEPTH_STEP`]
/// depths at a time, each piece just before the rank-1 updates that read it
/// back from L1. Interleaving the transpose (shuffles, stores) with the FMAs
/// lets the out-of-order core overlap the two, where packing the whole panel
/// first serialises them. Later tiles of the same columns reuse `panel`.
/// Same summation order as [`tile`], so the result is bit-identical.
///
/// # Safety
/// As [`tile`] for `a`; `b + j·ldb + p` readable for `j < NR`, `p < kc`;
/// `panel` writable for `kc·NR` floats.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile_packing_bt<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    kc: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    ldb: usize,
    panel: *mut f32,
) -> Tile<S, MR, NV> {
    let nr = NV * S::F32_LANES;
    let mut acc: Tile<S, MR, NV> = [[simd.splat_f32s(0.0); NV]; MR];
    let mut p0 = 0;
    while p0 < kc {
        let steps = BT_DEPTH_STEP.min(kc - p0);
        // SAFETY: rows `j < NR` of B hold depths `p0..p0+steps`; the panel
        // rows `p0..p0+steps` are in range (caller contract).
        unsafe {
            transpose_bt_piece::<S>(b.add(p0), ldb, panel.add(p0 * nr), nr, steps);
            rank1_steps::<S, MR, NV>(
                simd,
                &mut acc,
                steps,
                a.add(p0 * a_cs),
                a_rs,
                a_cs,
                panel.add(p0 * nr),
                nr,
            );
        }
        p0 += steps;
    }
    acc
}

/// Depths of the transposed-B panel written per piece by [`tile_packing_bt`].
pub(super) const BT_DEPTH_STEP: usize = 8;

/// `out[p·nr + j] = src[j·ld + p]` for `j < nr`, `p < steps ≤ BT_DEPTH_STEP`.
///
/// # Safety
/// `src + j·ld + p` readable and `out + p·nr + j` writable for those ranges.
#[inline(always)]
unsafe fn transpose_bt_piece<S: Simd>(
    src: *const f32,
    ld: usize,
    out: *mut f32,
    nr: usize,
    steps: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if nr.is_multiple_of(16) && super::pack::is_v4::<S>() {
        let full = steps / 8 * 8;
        for p in (0..full).step_by(8) {
            for j in (0..nr).step_by(16) {
                // SAFETY: `S` is `V4`, which exists only on CPUs with
                // AVX-512F/VL; the 16 rows × 8 depths and 8 panel rows × 16
                // columns are in range.
                unsafe {
                    super::pack::transpose_16x8(src.add(j * ld + p), ld, out.add(p * nr + j), nr, 8)
                };
            }
        }
        if full < steps {
            for j in (0..nr).step_by(16) {
                // SAFETY: as above, with `steps - full < 8` depths.
                unsafe {
                    super::pack::transpose_16x8(
                        src.add(j * ld + full),
                        ld,
                        out.add(full * nr + j),
                        nr,
                        steps - full,
                    )
                };
            }
        }
        return;
    }
    for p in 0..steps {
        for j in 0..nr {
            // SAFETY: in range by the caller contract.
            unsafe { *out.add(p * nr + j) = *src.add(j * ld + p) };
        }
    }
}

/// How the previous `C` enters the result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Beta {
    /// `C` is write-only.
    Zero,
    /// `C += α·acc`.
    One,
    /// `C = β·C + α·acc`.
    Other(f32),
}

impl Beta {
    pub(super) fn from_f32(beta: f32) -> Beta {
        if beta == 0.0 {
            Beta::Zero
        } else if beta == 1.0 {
            Beta::One
        } else {
            Beta::Other(beta)
        }
    }
}

/// Writes `α·acc + β·C` into the `(mr, nr)` corner of the tile at `c`.
///
/// # Safety
/// `c + i·ldc + j` is writable (and readable unless `beta` is `Zero`) for
/// `i < mr ≤ MR`, `j < nr ≤ NV·lanes`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn store<S: Simd, const MR: usize, const NV: usize>(
    simd: S,
    acc: Tile<S, MR, NV>,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    alpha: f32,
    beta: Beta,
) {
    let lanes = S::F32_LANES;
    if mr == MR && nr == NV * lanes {
        let alpha_v = simd.splat_f32s(alpha);
        for (i, acc_row) in acc.iter().enumerate() {
            for (v, &acc_v) in acc_row.iter().enumerate() {
                // SAFETY: full tile, in bounds by the caller contract.
                let ptr = unsafe { c.add(i * ldc + v * lanes) }.cast::<S::f32s>();
                let scaled = simd.mul_f32s(acc_v, alpha_v);
                // SAFETY: as above; unaligned access of a Pod vector.
                unsafe {
                    let out = match beta {
                        Beta::Zero => scaled,
                        Beta::One => simd.add_f32s(scaled, ptr.read_unaligned()),
                        Beta::Other(beta) => {
                            simd.mul_add_e_f32s(simd.splat_f32s(beta), ptr.read_unaligned(), scaled)
                        }
                    };
                    ptr.write_unaligned(out);
                }
            }
        }
    } else {
        // SAFETY: the tile is MR·NV vectors of `lanes` contiguous f32 each.
        let flat: &[f32] =
            unsafe { core::slice::from_raw_parts(acc.as_ptr().cast::<f32>(), MR * NV * lanes) };
        for i in 0..mr {
            for j in 0..nr {
                let scaled = alpha * flat[i * NV * lanes + j];
                // SAFETY: i < mr, j < nr: in bounds by the caller contract.
                unsafe {
                    let out = c.add(i * ldc + j);
                    *out = match beta {
                        Beta::Zero => scaled,
                        Beta::One => scaled + *out,
                        Beta::Other(beta) => beta * *out + scaled,
                    };
                }
            }
        }
    }
}
