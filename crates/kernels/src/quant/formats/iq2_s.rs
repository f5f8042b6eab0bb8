//! ggml `IQ2_S`: 256 weights per superblock, 82 bytes; points of 8 values
//! from a 1024-entry grid with explicit signs, and 4-bit scales per 16
//! values: `x = d·(2·sc + 1)/8·s·g` with `g ∈ {8, 25, 43}` and a sign `s`.
//!
//! Layout ([`BlockIq2S`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (bytes 2..66): byte `k < 32` is the low 8 bits of the grid index of
//!   weights `8k .. 8k + 8` (ggml's `iq2s_grid`, value `j` in byte `j`), and
//!   byte `32 + k` their signs (bit `j` set: weight `8k + j` is negative);
//! - `qh` (bytes 66..74): bits `2(k % 4) .. 2(k % 4) + 2` of `qh[k / 4]` are
//!   bits 8..10 of the grid index of group `k`;
//! - `scales` (bytes 74..82): byte `b` holds the 4-bit scale of weights
//!   `32b .. 32b + 16` in its low nibble, `32b + 16 .. 32b + 32` in its high.
//!
//! Dequantization (ggml's `dequantize_row_iq2_s`):
//! `((d·(0.5 + sc))·0.25·g)·(±1)`.
//!
//! Quantizer (ggml's `quantize_iq2_s` without an importance matrix, which is
//! also its `quantize_row_iq2_s_ref`), per sub-block of 16 with weights
//! `w = σ²/4 + x²` (`σ² = 2·Σx²/256` over the superblock): signs are taken
//! out (`a = |x|`); for the 19 inverse scales `id = (5 + 0.1·t)/max a`
//! (`t = −9 ..= 9`) each group of 8 rounds `(id·a − 1)/2` to `l` in `0..=2`
//! (grid value `2l + 1`, stored as 8, 25, 43); a group that is not a grid
//! point takes, among the grid points at the smallest distance, the one
//! nearest `a` at scale `1/id` (weights `√w`). The candidate with the largest
//! `(Σ w·a·q)²/Σ w·q²` wins, with scale `Σ w·a·q/Σ w·q²`; the groups that
//! were off the grid are re-rounded once at that scale and the scale
//! re-fitted. A sub-block whose `max a` is below 10⁻⁸ is left zero. Then
//! `d = max scale/31`, stored as `d·0.9875` (f16), and each sub-block's
//! `sc = clamp(round((scale/d − 1)/2), 0, 15)` (with the unstored `d`).
//! Bit-exact with ggml. (`llama-quantize` asks for an importance matrix for
//! the IQ2_S file types; ggml's quantizer itself does not need one.)
//!
//! Dot (ggml pairs IQ2_S with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq2_s_q8_K_generic`: per superblock the exact
//! `B = Σ_s (2·sc[s] + 1)·Σ_{j ∈ s} s_j·g_j·x_j` over the sixteen sub-blocks of
//! 16, `sumf += (d·d_x)·B` in superblock order, and the result `0.125·sumf`:
//! the scalar path's row dot (bit-exact with ggml); the oracle is
//! `(d/8)·d_x·B` in f64.
//!
//! SIMD tiles (`x86/kquants.rs`): the `vpmaddubsw` operand is the unsigned
//! `u = 43 + s·g` (`0..=86`, `2·86·127 < 2¹⁵`, no saturation) and the offset
//! comes back from the Q8_K block sums: `B = Σ_s (2·sc[s] + 1)·(Σ_{j∈s} u_j·x_j
//! − 43·bsums[s])`. `|Σ (2·sc + 1)·u·x| ≤ 31·86·127·256 < 2²⁷`: exact in i32.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::SubBlocks;
use super::grid_search::{GridTables, fit_sums};
use super::grids::IQ2S_GRID;
use super::kblock::{BsumsTerm, KBlock, weight_format_k};
use super::search::nearest_int;
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};
use crate::quant::{BlockFormat, BlockQ8K, QK_K};

/// An IQ2_S superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq2S {
    /// Superblock scale.
    pub d: f16,
    /// Low 8 bits of the grid index per 8 weights, then their sign bytes.
    pub qs: [u8; QK_K / 4],
    /// Bits 8..10 of the grid indices, four per byte.
    pub qh: [u8; QK_K / 32],
    /// 4-bit scales per 16 weights, two per byte.
    pub scales: [u8; QK_K / 32],
}

const _: () = assert!(size_of::<BlockIq2S>() == 82);
const _: () = assert!(align_of::<BlockIq2S>() == 2);

impl BlockIq2S {
    /// The grid values (unsigned) and sign bits of weights `8k .. 8k + 8`.
    #[inline(always)]
    fn group(&self, k: usize) -> ([u8; 8], u8) {
        let high = usize::from((self.qh[k / 4] >> (2 * (k % 4))) & 3) << 8;
        let grid = IQ2S_GRID[usize::from(self.qs[k]) | high].to_le_bytes();
        (grid, self.qs[QK_K / 8 + k])
    }

    /// The 4-bit scale of sub-block `s` (16 weights).
    #[inline(always)]
    fn sc(&self, s: usize) -> u8 {
        (self.scales[s / 2] >> (4 * (s % 2))) & 0x0F
    }

    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 16, `q` the signed
    /// grid values (`±8, ±25, ±43`), scales `2·sc + 1` in `1..=31`, and
    /// `d = d_f16/8` (exact; `dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<16> {
        let mut q = [0i8; QK_K];
        for (k, v) in q.as_chunks_mut::<8>().0.iter_mut().enumerate() {
            let (grid, signs) = self.group(k);
            for (j, (v, &g)) in v.iter_mut().zip(&grid).enumerate() {
                *v = if signs & (1 << j) != 0 {
                    -(g as i8)
                } else {
                    g as i8
                };
            }
        }
        SubBlocks {
            d: self.d.to_f32() * 0.125,
            dmin: 0.0,
            scales: std::array::from_fn(|s| (2 * self.sc(s) + 1) as i8),
            mins: [0; 16],
            q,
        }
    }
}

/// Values per grid point.
const GROUP: usize = 8;

/// The search tables of the 1024-point grid, as `2l + 1` per value
/// (`8, 25, 43` → `l = 0, 1, 2`).
fn tables() -> &'static GridTables<GROUP, 2> {
    static TABLES: OnceLock<GridTables<GROUP, 2>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let l_of = |g: u8| match g {
            8 => 0,
            25 => 1,
            _ => 2,
        };
        let points = IQ2S_GRID
            .iter()
            .map(|p| p.to_le_bytes().map(|g| 2 * l_of(g) + 1))
            .collect();
        GridTables::new(points, 2, 1)
    })
}

/// ggml's `GROUP_MAX_EPS_IQ2_S`: a sub-block whose largest `a` is below this
/// is left zero.
const GROUP_MAX_EPS: f32 = 1e-8;

/// One quantized sub-block of 16: grid indices, sign bytes and scale.
struct SubBlock {
    grid: [u16; 2],
    signs: [u8; 2],
    scale: f32,
}

/// The sub-block search of ggml's `quantize_row_iq2_s_impl` (module docs);
/// `None` below [`GROUP_MAX_EPS`].
fn quantize_sub_block(x: &[f32; 16], sigma2: f32) -> Option<SubBlock> {
    let t = tables();
    let w = x.map(|v| 0.25 * sigma2 + v * v);
    let w_sqrt = w.map(f32::sqrt);
    let mut signs = [0u8; 2];
    let mut a = [0.0f32; 16];
    for (i, (ai, &v)) in a.iter_mut().zip(x).enumerate() {
        if v >= 0.0 {
            *ai = v;
        } else {
            *ai = -v;
            signs[i / 8] |= 1 << (i % 8);
        }
    }
    let max = a[1..].iter().fold(a[0], |m, &v| if m > v { m } else { v });
    if max < GROUP_MAX_EPS {
        return None;
    }
    let groups = |v: &[f32; 16]| -> [[f32; GROUP]; 2] {
        std::array::from_fn(|k| std::array::from_fn(|i| v[GROUP * k + i]))
    };
    let (a8, w8) = (groups(&a), groups(&w_sqrt));
    let round = |id: f32, k: usize| -> [i8; GROUP] {
        a8[k].map(|v| nearest_int(0.5 * (id * v - 1.0)).clamp(0, 2) as i8)
    };

    let mut l = [0i8; 16];
    let mut on_grid = [true; 2];
    let mut best = 0.0f32;
    let mut scale = max / 5.0;
    for step in -9..=9 {
        let id = (5.0 + step as f32 * 0.1) / max;
        let this_scale = 1.0 / id;
        let mut trial = [0i8; 16];
        let mut trial_on_grid = [true; 2];
        for (k, g) in trial.as_chunks_mut::<GROUP>().0.iter_mut().enumerate() {
            *g = round(id, k);
            trial_on_grid[k] = t.snap(g, &a8[k], &w8[k], this_scale).1;
        }
        let (sumqx, sumq2) = fit_sums(&w, &a, &trial);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            l = trial;
            on_grid = trial_on_grid;
        }
    }
    if on_grid.contains(&false) && scale > 0.0 {
        let id = 1.0 / scale;
        for (k, g) in l.as_chunks_mut::<GROUP>().0.iter_mut().enumerate() {
            if !on_grid[k] {
                *g = round(id, k);
                t.snap(g, &a8[k], &w8[k], scale);
            }
        }
        let (sumqx, sumq2) = fit_sums(&w, &a, &l);
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    if scale < 0.0 {
        // Never expected (ggml's comment on IQ3 says the same); the scale is stored unsigned.
        scale = -scale;
        signs = signs.map(|s| !s);
    }
    // Every group is a grid point now (ggml aborts otherwise; 0 here).
    let grid = std::array::from_fn(|k| t.index(&l.as_chunks::<GROUP>().0[k]).unwrap_or(0));
    Some(SubBlock { grid, signs, scale })
}

impl BlockFormat for BlockIq2S {
    const NAME: &'static str = "iq2_s";
    const VALUES: usize = QK_K;

    /// ggml's `dequantize_row_iq2_s`: `((d·(0.5 + sc))·0.25·g)·(±1)`.
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (k, o) in out.chunks_exact_mut(8).enumerate() {
            let db = d * (0.5 + f32::from(self.sc(k / 2))) * 0.25;
            let (grid, signs) = self.group(k);
            for (j, (o, &g)) in o.iter_mut().zip(&grid).enumerate() {
                let sign = if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
                *o = db * f32::from(g) * sign;
            }
        }
    }

    /// ggml's `quantize_iq2_s` without importance matrix.
    fn quantize_block(x: &[f32]) -> Self {
        let mut block = Self::zeroed();
        let sumx2 = x.iter().fold(0.0f32, |s, &v| s + v * v);
        let sigma2 = 2.0 * sumx2 / QK_K as f32;
        let mut scales = [0.0f32; 16];
        let mut max_scale = 0.0f32;
        for (ib, xb) in x.as_chunks::<16>().0.iter().enumerate() {
            let Some(sub) = quantize_sub_block(xb, sigma2) else {
                continue;
            };
            for (k, (&index, &signs)) in sub.grid.iter().zip(&sub.signs).enumerate() {
                let group = 2 * ib + k;
                block.qs[group] = (index & 255) as u8;
                block.qh[group / 4] |= ((index >> 8) as u8) << (2 * (group % 4));
                block.qs[QK_K / 8 + group] = signs;
            }
            scales[ib] = sub.scale;
            max_scale = if max_scale > sub.scale {
                max_scale
            } else {
                sub.scale
            };
        }
        if max_scale == 0.0 {
            return block;
        }
        let d = max_scale / 31.0;
        block.d = f16::from_f32(d * 0.9875);
        let id = 1.0 / d;
        let code = |scale: f32| nearest_int(0.5 * (id * scale - 1.0)).clamp(0, 15) as u8;
        for (b, pair) in block.scales.iter_mut().zip(scales.as_chunks::<2>().0) {
            *b = code(pair[0]) | (code(pair[1]) << 4);
        }
        block
    }
}

weight_format_k!(BlockIq2S);

impl KBlock for BlockIq2S {
    /// The SIMD tiles take the unsigned `43 + s·g` (`0..=86`).
    const BSUMS: BsumsTerm = BsumsTerm::Offset(43);

    #[inline(always)]
    fn isums(&self, x: &BlockQ8K) -> (i32, i32) {
        let v = self.sub_blocks();
        let isum = v.scaled_isum(&x.qs);
        (isum, 0)
    }

    /// `d/8` (exact) and 0.
    #[inline(always)]
    fn scales(&self) -> (f32, f32) {
        (self.d.to_f32() * 0.125, 0.0)
    }

    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        Self::row_dot(std::slice::from_ref(self), std::slice::from_ref(x))
    }

    /// ggml's `ggml_vec_dot_iq2_s_q8_K_generic` order (module docs).
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let (isum, _) = wb.isums(xb);
            sum += (wb.d.to_f32() * xb.d) * isum as f32;
        }
        0.125 * sum
    }

    /// Vector `v` holds `43 + s·g` of weights `32v ..` (grid groups
    /// `4v .. 4v + 4`, `_mm256_set_epi64x` of table reads, with their sign
    /// bytes); its halves are sub-blocks `2v` and `2v + 1`. The block sums
    /// multiply the sixteen scales `2·sc + 1`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked {
        use crate::quant::x86::kquants::{bit_masks, f16_to_f32, load};
        use core::arch::x86_64::*;
        // SAFETY: the table reads index `IQ2S_GRID` below 1024 (8 + 2 bits);
        // the load reads the 16 i16 of `sums_by`; AVX2 and F16C are the
        // caller's contract.
        unsafe {
            let offset = _mm256_set1_epi8(43);
            let scales: [i16; 16] = std::array::from_fn(|s| 2 * i16::from(self.sc(s)) + 1);
            let mut q = [_mm256_setzero_si256(); 8];
            let mut sc = [_mm256_setzero_si256(); 8];
            for v in 0..8 {
                let point = |i: usize| {
                    let k = 4 * v + i;
                    let high = usize::from((self.qh[k / 4] >> (2 * (k % 4))) & 3) << 8;
                    IQ2S_GRID[usize::from(self.qs[k]) | high] as i64
                };
                let grid = _mm256_set_epi64x(point(3), point(2), point(1), point(0));
                let signs = &self.qs[QK_K / 8 + 4 * v..][..4];
                let neg = bit_masks(u32::from_le_bytes([signs[0], signs[1], signs[2], signs[3]]));
                let signed = _mm256_sub_epi8(_mm256_xor_si256(grid, neg), neg);
                q[v] = _mm256_add_epi8(signed, offset);
                sc[v] = O::scale_vec(i32::from(scales[2 * v]), i32::from(scales[2 * v + 1]));
            }
            Unpacked {
                q,
                sc,
                sums_by: load(scales.as_ptr().cast()),
                d: f16_to_f32(self.d) * 0.125,
                dmin: 0.0,
            }
        }
    }
}
