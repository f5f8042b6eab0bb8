//! The codebook lookups of ggml's grid quantizers (IQ3_S, IQ3_XXS, IQ2_S):
//! the tables of `iq3xs_init_impl` / `iq2xs_init_impl` and their
//! `iq*_find_best_neighbour`, for groups of `N` values on an odd grid
//! `2l + 1` (`l` in `0..=max_l`).
//!
//! A group is keyed by its code, `BITS` bits of `l` per value (value `i` in
//! bits `BITS·i ..`). A code on the grid maps to its index; a code off the
//! grid to its neighbours: the grid points at its `nwant` smallest squared
//! distances, in (distance, index) order (ggml's `qsort` of the pairs).
//!
//! On these tables, [`GridTables::fit`] is the sub-block scale search the
//! three quantizers share and [`superblock_scale`] their 4-bit scale coding;
//! each format keeps its signs, weights and bit packing.

use half::f16;

use super::search::nearest_int;

/// The lookup tables of one grid, built once per format on first use.
pub(super) struct GridTables<const N: usize, const BITS: u32> {
    /// The grid points as the search sees them: `2l + 1` per value.
    points: Vec<[u8; N]>,
    /// The largest `l` of a grid value.
    max_l: i8,
    /// For each code: its grid index, or `None` when it is not a grid point.
    index: Vec<Option<u16>>,
    /// For each code off the grid whose `l` are all in `0..=max_l` (the only
    /// codes a search makes): its neighbours; empty otherwise.
    neighbours: Vec<Vec<u16>>,
}

impl<const N: usize, const BITS: u32> GridTables<N, BITS> {
    /// The tables of the grid `points` (values `2l + 1`, `l` in `0..=max_l`),
    /// keeping the neighbours at the `nwant` smallest distances (ggml: 3 for
    /// IQ3_S, 2 for IQ3_XXS, 1 for IQ2_S).
    pub(super) fn new(points: Vec<[u8; N]>, max_l: usize, nwant: usize) -> Self {
        let size = 1usize << (BITS as usize * N);
        let l_of = |code: usize, i: usize| (code >> (BITS as usize * i)) & ((1 << BITS) - 1);
        let mut index = vec![None; size];
        for (j, point) in points.iter().enumerate() {
            let l: [i8; N] = point.map(|v| ((v - 1) / 2) as i8);
            index[Self::code(&l)] = Some(j as u16);
        }
        let neighbours = (0..size)
            .map(|code| {
                if index[code].is_some() || (0..N).any(|i| l_of(code, i) > max_l) {
                    return Vec::new();
                }
                let mut dist: Vec<(i32, u16)> = points
                    .iter()
                    .enumerate()
                    .map(|(j, point)| {
                        let d2 = (0..N)
                            .map(|i| (i32::from(point[i]) - (2 * l_of(code, i) as i32 + 1)).pow(2))
                            .sum();
                        (d2, j as u16)
                    })
                    .collect();
                dist.sort_unstable();
                let mut distinct = 1;
                let mut last = dist[0].0;
                let mut out = Vec::new();
                for &(d2, j) in &dist {
                    if d2 > last {
                        if distinct == nwant {
                            break;
                        }
                        last = d2;
                        distinct += 1;
                    }
                    out.push(j);
                }
                out
            })
            .collect();
        GridTables {
            points,
            max_l: max_l as i8,
            index,
            neighbours,
        }
    }

    /// The code of a group of `l` (each below `2^BITS`).
    #[inline(always)]
    pub(super) fn code(l: &[i8; N]) -> usize {
        l.iter().enumerate().fold(0, |c, (i, &v)| {
            c | ((v as usize & ((1 << BITS) - 1)) << (BITS as usize * i))
        })
    }

    /// The grid index of the group `l`, if it is a grid point.
    #[inline(always)]
    pub(super) fn index(&self, l: &[i8; N]) -> Option<u16> {
        self.index[Self::code(l)]
    }

    /// `l` rounded onto the grid: unchanged (with its index) when it is a grid
    /// point, else replaced by the neighbour nearest `a` at `scale` (weights
    /// `w`), ggml's `iq*_find_best_neighbour`. Returns the index and whether
    /// `l` was on the grid. (ggml aborts when every distance is NaN; this takes
    /// the first neighbour.)
    pub(super) fn snap(
        &self,
        l: &mut [i8; N],
        a: &[f32; N],
        w: &[f32; N],
        scale: f32,
    ) -> (u16, bool) {
        let code = Self::code(l);
        if let Some(j) = self.index[code] {
            return (j, true);
        }
        let candidates = &self.neighbours[code];
        let mut best_d2 = f32::MAX;
        let mut best = candidates[0];
        for &j in candidates {
            let mut d2 = 0.0f32;
            for ((&g, &v), &wi) in self.points[usize::from(j)].iter().zip(a).zip(w) {
                let diff = scale * f32::from(g) - v;
                d2 += wi * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                best = j;
            }
        }
        *l = self.points[usize::from(best)].map(|g| ((g - 1) / 2) as i8);
        (best, false)
    }
}

/// The trial scales of [`GridTables::fit`] and what it re-rounds.
pub(super) struct ScaleSearch {
    /// The trials `t = −steps ..= steps`.
    pub(super) steps: i32,
    /// The inverse scale of trial `t` is `(2·max_l + 1 + t·step)/max a`.
    pub(super) step: f32,
    /// Whether the fitted scale re-rounds every group (ggml's IQ3_S) or only
    /// the groups that were off the grid (IQ3_XXS, IQ2_S).
    pub(super) reround_all: bool,
}

impl<const N: usize, const BITS: u32> GridTables<N, BITS> {
    /// The scale search of ggml's `quantize_row_iq3_s_impl`,
    /// `quantize_row_iq3_xxs_impl` and `quantize_row_iq2_s_impl` on one
    /// sub-block of `M` values `a ≥ 0` (signs taken out, `max a = max > 0`)
    /// with weights `w`, as groups of `N`: for each trial inverse scale `id`
    /// each group rounds `(id·a − 1)/2` to `l` in `0..=max_l` and [`snap`]s to
    /// the grid (weights `√w`, scale `1/id`); the trial with the largest
    /// `(Σ w·a·q)²/Σ w·q²` (`q = 2l + 1`) wins, with scale `Σ w·a·q/Σ w·q²`.
    /// If a group was off the grid (with `reround_all`: or no trial won), the
    /// groups `search` names are re-rounded and snapped at that scale and the
    /// scale re-fitted. Returns the `l` of every value and the scale.
    ///
    /// [`snap`]: GridTables::snap
    pub(super) fn fit<const M: usize>(
        &self,
        a: &[f32; M],
        w: &[f32; M],
        max: f32,
        search: &ScaleSearch,
    ) -> ([i8; M], f32) {
        let groups = M / N;
        let w_sqrt = w.map(f32::sqrt);
        let a_n = a.as_chunks::<N>().0;
        let w_n = w_sqrt.as_chunks::<N>().0;
        let max_q = f32::from(2 * self.max_l + 1);
        let round = |id: f32, k: usize| -> [i8; N] {
            a_n[k].map(|v| nearest_int(0.5 * (id * v - 1.0)).clamp(0, i32::from(self.max_l)) as i8)
        };

        let mut l = [0i8; M];
        // Bit `k` set: group `k` of `l` was off the grid.
        let mut off_grid: u32 = if search.reround_all {
            (1 << groups) - 1
        } else {
            0
        };
        let mut best = 0.0f32;
        let mut scale = max / max_q;
        for t in -search.steps..=search.steps {
            let id = (max_q + t as f32 * search.step) / max;
            let this_scale = 1.0 / id;
            let mut trial = [0i8; M];
            let mut trial_off_grid = 0u32;
            for (k, g) in trial.as_chunks_mut::<N>().0.iter_mut().enumerate() {
                *g = round(id, k);
                let (_, on_grid) = self.snap(g, &a_n[k], &w_n[k], this_scale);
                trial_off_grid |= u32::from(!on_grid) << k;
            }
            let (sumqx, sumq2) = fit_sums(w, a, &trial);
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                l = trial;
                off_grid = trial_off_grid;
            }
        }
        if off_grid != 0 && scale > 0.0 {
            let id = 1.0 / scale;
            for (k, g) in l.as_chunks_mut::<N>().0.iter_mut().enumerate() {
                if search.reround_all || off_grid & (1 << k) != 0 {
                    *g = round(id, k);
                    self.snap(g, &a_n[k], &w_n[k], scale);
                }
            }
            let (sumqx, sumq2) = fit_sums(w, a, &l);
            if sumq2 > 0.0 {
                scale = sumqx / sumq2;
            }
        }
        (l, scale)
    }
}

/// The superblock scale of ggml's IQ3_S, IQ3_XXS and IQ2_S quantizers from
/// the sub-block scales (`None`: a sub-block left zero): `d = max scale/31`,
/// stored as `d·bias` (f16), and each sub-block's 4-bit
/// `ls = clamp(round((scale/d − 1)/2), 0, 15)` (with the unstored `d`; 0 for
/// a sub-block left zero). `None` when the largest scale is 0.
pub(super) fn superblock_scale<const S: usize>(
    scales: [Option<f32>; S],
    bias: f32,
) -> Option<(f16, [u8; S])> {
    let max = (scales.iter().flatten()).fold(0.0f32, |m, &s| if m > s { m } else { s });
    if max == 0.0 {
        return None;
    }
    let d = max / 31.0;
    let id = 1.0 / d;
    let ls = scales.map(|s| nearest_int(0.5 * (id * s.unwrap_or(0.0) - 1.0)).clamp(0, 15) as u8);
    Some((f16::from_f32(d * bias), ls))
}

/// `M` values split into `|x|` and sign bits (bit `i % 8` of byte `i / 8`
/// set: `x_i` is negative; `B = M/8` bytes), as ggml's IQ3_S and IQ2_S
/// quantizers take them out before the search.
pub(super) fn split_signs<const M: usize, const B: usize>(x: &[f32; M]) -> ([f32; M], [u8; B]) {
    let mut signs = [0u8; B];
    let mut a = [0.0f32; M];
    for (i, (ai, &v)) in a.iter_mut().zip(x).enumerate() {
        if v >= 0.0 {
            *ai = v;
        } else {
            *ai = -v;
            signs[i / 8] |= 1 << (i % 8);
        }
    }
    (a, signs)
}

/// `(Σ w·a·q, Σ w·q²)` with `q = 2l + 1`.
#[inline(always)]
fn fit_sums<const M: usize>(w: &[f32; M], a: &[f32; M], l: &[i8; M]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for ((&wi, &ai), &li) in w.iter().zip(a).zip(l) {
        let q = f32::from(2 * li + 1);
        sumqx += wi * ai * q;
        sumq2 += wi * q * q;
    }
    (sumqx, sumq2)
}
