//! The codebook lookups of ggml's grid quantizers (IQ3_S, IQ3_XXS, IQ2_S):
//! the tables of `iq3xs_init_impl` / `iq2xs_init_impl` and their
//! `iq*_find_best_neighbour`, for groups of `N` values on an odd grid
//! `2l + 1` (`l` in `0..=max_l`).
//!
//! A group is keyed by its code, `BITS` bits of `l` per value (value `i` in
//! bits `BITS·i ..`). A code on the grid maps to its index; a code off the
//! grid to its neighbours: the grid points at its `nwant` smallest squared
//! distances, in (distance, index) order (ggml's `qsort` of the pairs).

/// The lookup tables of one grid, built once per format on first use.
pub(super) struct GridTables<const N: usize, const BITS: u32> {
    /// The grid points as the search sees them: `2l + 1` per value.
    points: Vec<[u8; N]>,
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

/// `(Σ w·a·q, Σ w·q²)` with `q = 2l + 1`.
#[inline(always)]
pub(super) fn fit_sums<const M: usize>(w: &[f32; M], a: &[f32; M], l: &[i8; M]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for ((&wi, &ai), &li) in w.iter().zip(a).zip(l) {
        let q = f32::from(2 * li + 1);
        sumqx += wi * ai * q;
        sumq2 += wi * q * q;
    }
    (sumqx, sumq2)
}
