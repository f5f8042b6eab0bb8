//! AVX-512 VNNI kernels of the 32-value formats with one weight row per i32
//! lane: the GEMV and the GEMM of [`Isa::Vnni512`](crate::quant::isa::Isa).
//!
//! Both compute every output as the same sum. Per block `b`, the exact
//! integer `isum_b = Σⱼ v[j]·q_x[j]`; then in f32, block after block from
//! `acc = 0`: `acc = fma(f32(isum_b), d_w·d_x, acc)`, and for the offset
//! formats `acc = fma(m, s_x, acc)`. Integer sums are exact in any order, so
//! the kernels get them differently and still agree bit for bit: a row's
//! result does not depend on how many activation rows share the call, on
//! the rows beside it, or on the split (batch invariance).
//!
//! - **GEMV** ([`gemv_rows`]): 16 weight rows in the file's layout. Each
//!   row's pair of blocks meets the activation pair in one `vpdpbusd` (8
//!   partial sums per block), then a transposing reduction (unpacks,
//!   128-bit shuffles, adds) turns the 16 rows' partials into one vector of
//!   block sums per block, a row per lane.
//! - **GEMM** ([`gemm_rect`]): 16 weight rows are repacked, once per
//!   rectangle and 32-block slice of `k`, into *slabs*: slab `(b, t)` holds
//!   bytes `4t .. 4t + 4` of block `b` of each of the 16 rows (unsigned, as
//!   `vpdpbusd` takes them). One `vpdpbusd` of a slab with the activation's
//!   dword `t` broadcast adds four products to every row, so the inner loop
//!   does nothing but multiply: 8 instructions per block and activation row
//!   for 16 rows, where the unpacking tiles spent about 20.
//!
//! The weight operand is `u = v + bias` ([`Block32::OPERAND`]); the
//! activation side carries the correction `−bias·Σ q_x`.

use core::arch::x86_64::*;
use std::array::from_fn;
use std::mem::MaybeUninit;

use super::blocks32::{IntOps, Vnni, act_pair};
use crate::prefetch::{groups_ahead, prefetch};
use crate::quant::formats::{Act32, Block32};
use crate::quant::isa::Rect;

/// Weight rows per tile: one per i32 lane of a 512-bit vector.
pub(crate) const LANES: usize = 16;

/// Software-prefetch distance of the GEMV's weight stream, rounded to whole
/// 16-row groups.
const PREFETCH_BYTES: usize = 8 * 1024;

/// A cache line.
const LINE: usize = 64;

/// Blocks of `k` per packed slice: 16 rows × 32 blocks of slabs is 16 KiB
/// (plus 4 KiB of scales and offsets), which stays in L1 on every AVX-512
/// core while the activation rows pass.
const SLICE_BLOCKS: usize = 32;

/// Activation rows whose per-block terms ([`ActTerms`]) are kept at once.
const CHUNK_ROWS: usize = 64;

/// Activation rows per GEMM tile (8 accumulators and 16 integer sums).
const TILE_ROWS: usize = 8;

/// Rectangles with fewer activation rows than this run the GEMV on each row:
/// repacking 16 rows of weights costs about as much as two activation rows'
/// products. Measured (`examples/quant_gemm`, one worker, AMD EPYC Zen 5):
/// repacking is 0.77–1.0× the GEMV's speed at 2 rows, 1.16–1.54× at 3.
const PACK_MIN_ROWS: usize = 3;

/// `acc + f32(isum)·(d·dx) (+ m·sx)`: the f32 step of one block, shared by
/// both kernels so their order cannot drift apart.
///
/// # Safety
/// The CPU must support AVX-512 F.
#[inline(always)]
unsafe fn add_block<W: Block32>(
    acc: __m512,
    isum: __m512i,
    (d, m): (__m512, __m512),
    (dx, sx): (f32, f32),
) -> __m512 {
    // SAFETY: register operations; AVX-512 F is the caller's contract.
    unsafe {
        let scale = _mm512_mul_ps(d, _mm512_set1_ps(dx));
        let acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc);
        if W::OFFSET {
            _mm512_fmadd_ps(m, _mm512_set1_ps(sx), acc)
        } else {
            acc
        }
    }
}

/// The scales `d` (and offsets `m`) of block `b` of each of the 16 rows, in
/// f32, a row per lane: every 32-value block starts with `d` (then `m`) as
/// f16, so one dword per row holds both. (A masked broadcast per row
/// measured no slower than one `vpgatherdd`, and needs no offsets.)
///
/// # Safety
/// Every row has more than `b` blocks; the CPU must support AVX-512 F and
/// F16C.
#[inline(always)]
unsafe fn lane_scales<W: Block32>(rows: &[&[W]; LANES], b: usize) -> (__m512, __m512) {
    // SAFETY: block `b` of each row is in bounds (our caller's contract) and
    // at least 18 bytes, so its first 4 are readable; the features are our
    // caller's contract.
    unsafe {
        let mut words = _mm512_setzero_si512();
        for (r, row) in rows.iter().enumerate() {
            let word = row.as_ptr().add(b).cast::<i32>().read_unaligned();
            words = _mm512_mask_set1_epi32(words, 1 << r, word);
        }
        let d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(words));
        let m = if W::OFFSET {
            _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(words)))
        } else {
            _mm512_setzero_ps()
        };
        (d, m)
    }
}

/// The block sums of 16 rows from their partials: `partials[r]` holds row
/// `r`'s 8 partial sums of block `b` (lanes 0–7) and of block `b + 1`
/// (lanes 8–15); returns `(Σ of block b, Σ of block b + 1)`, row `r` in lane
/// `r`.
///
/// # Safety
/// The CPU must support AVX-512 F.
#[inline(always)]
unsafe fn block_sums(p: [__m512i; LANES]) -> (__m512i, __m512i) {
    // SAFETY: register operations; AVX-512 F is the caller's contract.
    unsafe {
        // Rows 2k, 2k+1: per 128-bit lane [r₀+r₂, s₀+s₂, r₁+r₃, s₁+s₃].
        let s1: [__m512i; 8] = from_fn(|k| {
            let (a, b) = (p[2 * k], p[2 * k + 1]);
            _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
        });
        // Rows 4k .. 4k+4: per 128-bit lane, each row's sum of its four.
        let s2: [__m512i; 4] = from_fn(|k| {
            let (a, b) = (s1[2 * k], s1[2 * k + 1]);
            _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
        });
        // 128-bit lanes 0, 1 hold block b's dwords 0–3 and 4–7, lanes 2, 3
        // block b + 1's: add them pairwise, for rows 8k .. 8k+8:
        // [b: rows 0–3, b+1: rows 0–3, b: rows 4–7, b+1: rows 4–7].
        let s3: [__m512i; 2] = from_fn(|k| {
            let (a, b) = (s2[2 * k], s2[2 * k + 1]);
            _mm512_add_epi32(
                _mm512_shuffle_i32x4::<0b10_00_10_00>(a, b),
                _mm512_shuffle_i32x4::<0b11_01_11_01>(a, b),
            )
        });
        (
            _mm512_shuffle_i32x4::<0b10_00_10_00>(s3[0], s3[1]),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(s3[0], s3[1]),
        )
    }
}

/// The mask of the first `len.min(16)` lanes.
#[inline(always)]
fn first_lanes(len: usize) -> __mmask16 {
    if len >= LANES { !0 } else { (1u16 << len) - 1 }
}

/// Output rows `j0 .. j0 + y.len()` of a GEMV: `y[j] = Σ_b dot(w[j0 + j], x)`
/// in the order of the module docs, 16 rows at a time.
///
/// # Safety
/// `w` holds whole rows of `x.len()` blocks through row `j0 + y.len()`; the
/// CPU must support AVX-512 F/BW/VL/VNNI/VBMI, AVX2, FMA and F16C.
#[inline(always)]
pub(crate) unsafe fn gemv_rows<W: Block32>(w: &[W], x: &[W::Act], j0: usize, y: &mut [f32]) {
    let nb = x.len();
    let n = y.len();
    let mut j = 0;
    while j < n {
        // A short last group repeats its last row; the extra sums are dropped.
        let rows: [&[W]; LANES] = from_fn(|r| &w[(j0 + (j + r).min(n - 1)) * nb..][..nb]);
        // SAFETY: every row has `nb` blocks, as `x`; the features are our
        // caller's contract; the store keeps to `y[j ..]`.
        unsafe {
            let out = gemv_tile(&rows, x);
            _mm512_mask_storeu_ps(y.as_mut_ptr().add(j), first_lanes(n - j), out);
        }
        j += LANES;
    }
}

/// 16 rows against one activation row (see [`gemv_rows`]): per pair of
/// blocks, each row's partial sums, then the block sums and their f32 steps.
///
/// # Safety
/// Every row has `x.len()` blocks; the CPU supports `Vnni512`.
#[inline(always)]
unsafe fn gemv_tile<W: Block32>(rows: &[&[W]; LANES], x: &[W::Act]) -> __m512 {
    let nb = x.len();
    // The 16 rows are one run of memory: ask for the run `ahead` bytes on
    // (whole groups) in order, a share of its lines at each pair.
    let group = LANES * nb * size_of::<W>();
    let ahead = groups_ahead(group, PREFETCH_BYTES);
    let lines_per_pair = (group / LINE).div_ceil((nb / 2).max(1));
    // SAFETY: pairs start below `nb − 1` and the odd block is `nb − 1`, so
    // every access is inside the rows and `x`; the features are our
    // caller's contract.
    unsafe {
        let mut acc = _mm512_setzero_ps();
        let mut b = 0;
        while b + 2 <= nb {
            let next = rows[0].as_ptr().cast::<u8>();
            let next = next.wrapping_add(ahead + b / 2 * lines_per_pair * LINE);
            for line in 0..lines_per_pair {
                prefetch(next.wrapping_add(line * LINE));
            }
            let xs = act_pair::<W>(x.as_ptr().add(b));
            let partials: [__m512i; LANES] = from_fn(|r| {
                let u = W::pair_operand_512(rows[r].as_ptr().add(b));
                _mm512_dpbusd_epi32(xs.start, u, xs.x)
            });
            let (first, second) = block_sums(partials);
            for (isum, bb) in [(first, b), (second, b + 1)] {
                let xb = x.get_unchecked(bb);
                let terms = (xb.scale_x86(), xb.scaled_sum());
                acc = add_block::<W>(acc, isum, lane_scales(rows, bb), terms);
            }
            b += 2;
        }
        if b < nb {
            let xb = x.get_unchecked(b);
            let xv = _mm256_loadu_si256(xb.values().as_ptr().cast());
            let start = Vnni::start::<W>(xv);
            let partials: [__m512i; LANES] = from_fn(|r| {
                let u = Vnni::unpack(rows[r].get_unchecked(b));
                _mm512_zextsi256_si512(Vnni::isum::<W>(u, xv, start))
            });
            let (isum, _) = block_sums(partials);
            let terms = (xb.scale_x86(), xb.scaled_sum());
            acc = add_block::<W>(acc, isum, lane_scales(rows, b), terms);
        }
        acc
    }
}

/// 16 weight rows of one slice of `k`, repacked for the GEMM's tiles.
#[repr(C, align(64))]
struct Packed {
    /// `slabs[b][t]`: bytes `4t .. 4t + 4` of block `b` of each row (`u`).
    slabs: [[__m512i; 8]; SLICE_BLOCKS],
    /// The rows' scales per block.
    d: [__m512; SLICE_BLOCKS],
    /// The rows' offsets per block (offset formats).
    m: [__m512; SLICE_BLOCKS],
}

/// What a tile needs of one activation block besides its values.
#[derive(Clone, Copy)]
struct ActTerms {
    /// `−bias·Σ q_x`, the start of the integer sum.
    corr: i32,
    /// The scale `d_x`.
    dx: f32,
    /// `d_x·Σ q_x` (offset formats).
    sx: f32,
}

/// One rectangle of a GEMM (see the module docs): per chunk of activation
/// rows and slice of `k`, each group of 16 weight rows is repacked once and
/// every tile of [`TILE_ROWS`] activation rows runs against it; the partial
/// sums of a slice wait in `y` for the next.
///
/// # Safety
/// As the `isa` module's `gemm_rect`; the CPU must support `Vnni512`.
#[inline(always)]
pub(crate) unsafe fn gemm_rect<W: Block32>(rect: Rect<'_, W>) {
    let Rect {
        w,
        x,
        nb,
        rows: (i0, i1),
        cols: (j0, j1),
        y,
        n,
    } = rect;
    if i1 - i0 < PACK_MIN_ROWS {
        for i in i0..i1 {
            // SAFETY: row `i`, columns `j0 .. j1` of `y` are inside the
            // rectangle, ours alone (our caller's contract).
            unsafe {
                let y_row = std::slice::from_raw_parts_mut(y.add(i * n + j0), j1 - j0);
                gemv_rows(w, &x[i * nb..][..nb], j0, y_row);
            }
        }
        return;
    }
    // On the stack (20 KiB + 24 KiB): the hot path does not allocate.
    let mut packed = MaybeUninit::<Packed>::uninit();
    let packed = packed.as_mut_ptr();
    let mut terms = [[ActTerms {
        corr: 0,
        dx: 0.0,
        sx: 0.0,
    }; SLICE_BLOCKS]; CHUNK_ROWS];
    for ic in (i0..i1).step_by(CHUNK_ROWS) {
        let ie = (ic + CHUNK_ROWS).min(i1);
        for b0 in (0..nb).step_by(SLICE_BLOCKS) {
            let kb = (nb - b0).min(SLICE_BLOCKS);
            for (t, i) in terms.iter_mut().zip(ic..ie) {
                // SAFETY: F16C is our caller's contract.
                unsafe { act_terms::<W>(&x[i * nb + b0..][..kb], t) };
            }
            for j in (j0..j1).step_by(LANES) {
                let rows: [&[W]; LANES] = from_fn(|r| &w[(j + r).min(j1 - 1) * nb + b0..][..kb]);
                // SAFETY: `packed` is ours; the rows have `kb` blocks; the
                // tiles read what `pack` wrote and write inside the
                // rectangle (our caller's contract), as do the stores.
                unsafe {
                    pack(&rows, &mut *packed);
                    let packed = &*packed;
                    for i in (ic..ie).step_by(TILE_ROWS) {
                        let pick = |c: usize| (i + c).min(ie - 1);
                        let xs: [*const W::Act; TILE_ROWS] =
                            from_fn(|c| x.as_ptr().add(pick(c) * nb + b0));
                        let ts: [&[ActTerms; SLICE_BLOCKS]; TILE_ROWS] =
                            from_fn(|c| &terms[pick(c) - ic]);
                        let keep = first_lanes(j1 - j);
                        let outs: [*mut f32; TILE_ROWS] = from_fn(|c| y.add(pick(c) * n + j));
                        let acc: [__m512; TILE_ROWS] = from_fn(|c| {
                            if b0 == 0 {
                                _mm512_setzero_ps()
                            } else {
                                _mm512_maskz_loadu_ps(keep, outs[c])
                            }
                        });
                        let acc = tile::<W>(packed, kb, xs, ts, acc);
                        for c in 0..TILE_ROWS.min(ie - i) {
                            _mm512_mask_storeu_ps(outs[c], keep, acc[c]);
                        }
                    }
                }
            }
        }
    }
}

/// The [`ActTerms`] of blocks `x` into `out`.
///
/// # Safety
/// The CPU must support F16C (for an f16 scale).
#[inline(always)]
unsafe fn act_terms<W: Block32>(x: &[W::Act], out: &mut [ActTerms; SLICE_BLOCKS]) {
    let bias = i32::from(W::OPERAND.bias());
    for (t, xb) in out.iter_mut().zip(x) {
        let sum: i32 = xb.values().iter().map(|&v| i32::from(v)).sum();
        *t = ActTerms {
            corr: -bias * sum,
            // SAFETY: F16C is our caller's contract.
            dx: unsafe { xb.scale_x86() },
            sx: xb.scaled_sum(),
        };
    }
}

/// Repacks 16 rows of up to [`SLICE_BLOCKS`] blocks into `packed`.
///
/// # Safety
/// Every row has the same length, at most `SLICE_BLOCKS`; the CPU supports
/// `Vnni512`.
#[inline(always)]
unsafe fn pack<W: Block32>(rows: &[&[W]; LANES], packed: &mut Packed) {
    // SAFETY: `b` is inside every row; the features are our caller's.
    unsafe {
        for b in 0..rows[0].len() {
            let u: [__m256i; LANES] = from_fn(|r| Vnni::unpack(rows[r].get_unchecked(b)));
            packed.slabs[b] = slabs(u);
            (packed.d[b], packed.m[b]) = lane_scales(rows, b);
        }
    }
}

/// The 8 slabs of one block from its 16 rows' operand bytes: a 16 × 8
/// transpose of dwords (rows `r` and `r + 8` share a vector, then the 8 × 8
/// transposes of both 256-bit halves run side by side).
///
/// # Safety
/// The CPU must support AVX-512 F.
#[inline(always)]
unsafe fn slabs(u: [__m256i; LANES]) -> [__m512i; 8] {
    // SAFETY: register operations; AVX-512 F is the caller's contract.
    unsafe {
        let z: [__m512i; 8] =
            from_fn(|r| _mm512_inserti64x4::<1>(_mm512_castsi256_si512(u[r]), u[r + 8]));
        // Per 128-bit lane, rows 2k, 2k+1 interleaved: dwords 0, 1 (`lo`) and
        // 2, 3 (`hi`) of the lane.
        let t: [__m512i; 8] = from_fn(|i| {
            let (a, b) = (z[i / 2 * 2], z[i / 2 * 2 + 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_epi32(a, b)
            } else {
                _mm512_unpackhi_epi32(a, b)
            }
        });
        // Per 128-bit lane, dword `e` of four rows (`e` = 0..4 from rows
        // 0–3 and 8–11 in `tt[e]`, rows 4–7 and 12–15 in `tt[e + 4]`).
        let tt: [__m512i; 8] = from_fn(|i| {
            let base = if i < 4 { 0 } else { 4 };
            let e = i % 4;
            let (a, b) = (t[base + e / 2], t[base + 2 + e / 2]);
            if e % 2 == 0 {
                _mm512_unpacklo_epi64(a, b)
            } else {
                _mm512_unpackhi_epi64(a, b)
            }
        });
        let low = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
        let high = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
        from_fn(|t| {
            let idx = if t < 4 { low } else { high };
            _mm512_permutex2var_epi64(tt[t % 4], idx, tt[t % 4 + 4])
        })
    }
}

/// [`TILE_ROWS`] activation rows against the 16 packed rows of a slice of
/// `kb` blocks, continuing the sums `acc`.
///
/// # Safety
/// `x[c]` points at `kb` activation blocks; `packed` holds `kb` blocks; the
/// CPU supports `Vnni512`.
#[inline(always)]
unsafe fn tile<W: Block32>(
    packed: &Packed,
    kb: usize,
    x: [*const W::Act; TILE_ROWS],
    terms: [&[ActTerms; SLICE_BLOCKS]; TILE_ROWS],
    mut acc: [__m512; TILE_ROWS],
) -> [__m512; TILE_ROWS] {
    // SAFETY: blocks `b < kb` of `x` and `packed` (our caller's contract);
    // the dword reads stay inside each block's 32 values.
    unsafe {
        for b in 0..kb {
            let values: [*const i32; TILE_ROWS] =
                from_fn(|c| (*x[c].add(b)).values().as_ptr().cast::<i32>());
            // Two integer chains per row (dwords 0–3 and 4–7), exact either way.
            let mut lo: [__m512i; TILE_ROWS] =
                from_fn(|c| _mm512_set1_epi32(terms[c].get_unchecked(b).corr));
            let mut hi = [_mm512_setzero_si512(); TILE_ROWS];
            let slabs = packed.slabs.get_unchecked(b);
            for t in 0..4 {
                for c in 0..TILE_ROWS {
                    let xl = _mm512_set1_epi32(values[c].add(t).read_unaligned());
                    let xh = _mm512_set1_epi32(values[c].add(t + 4).read_unaligned());
                    lo[c] = _mm512_dpbusd_epi32(lo[c], slabs[t], xl);
                    hi[c] = _mm512_dpbusd_epi32(hi[c], slabs[t + 4], xh);
                }
            }
            let scales = (*packed.d.get_unchecked(b), *packed.m.get_unchecked(b));
            for c in 0..TILE_ROWS {
                let t = terms[c].get_unchecked(b);
                let isum = _mm512_add_epi32(lo[c], hi[c]);
                acc[c] = add_block::<W>(acc[c], isum, scales, (t.dx, t.sx));
            }
        }
        acc
    }
}
