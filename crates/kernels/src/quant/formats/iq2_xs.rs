//! ggml `IQ2_XS`: 256 weights per superblock, 74 bytes; points of 8 values
//! from a 512-entry grid with signs, and 4-bit scales per 16 values:
//! `x = d·(2·sc + 1)/8·s·g` with `g ∈ {8, 25, 43}` and a sign `s`.
//!
//! Layout ([`BlockIq2Xs`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (32 little-endian u16, bytes 2..66): entry `k` covers weights
//!   `8k .. 8k + 8`; its low 9 bits index the grid
//!   (ggml's `iq2xs_grid`, value `j` in byte `j`), its high 7 bits are
//!   the signs of values 0..7 (bit `j` set: negative), the eighth sign being
//!   the one that makes the number of negatives even;
//! - `scales` (bytes 66..74): byte `b` holds the 4-bit scale of weights
//!   `32b .. 32b + 16` in its low nibble, `32b + 16 .. 32b + 32` in its high.
//!
//! Dequantization (ggml's `dequantize_row_iq2_xs`):
//! `((d·(0.5 + sc))·0.25·g)·(±1)`. There is no quantizer here: ggml quantizes
//! IQ2_XS only with an importance matrix.
//!
//! Dot (ggml pairs IQ2_XS with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq2_xs_q8_K_generic`: per superblock the exact
//! `B = Σ_s (2·sc[s] + 1)·Σ_{j ∈ s} s_j·g_j·x_j` over the sixteen sub-blocks of
//! 16, `sumf += (d·d_x)·B` in superblock order, and the result `0.125·sumf`.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grids::IQ2XS_GRID;
use super::{RefFormat, SubBlocks, check_dot, dequantize_blocks};
use crate::KernelError;
use crate::quant::{BlockQ8K, QK_K};

/// An IQ2_XS superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq2Xs {
    /// Superblock scale.
    pub d: f16,
    /// Grid index (low 9 bits) and sign index (high 7 bits) per 8 weights, little-endian.
    pub qs: [u16; QK_K / 8],
    /// 4-bit scales per 16 weights, two per byte.
    pub scales: [u8; QK_K / 32],
}

const _: () = assert!(size_of::<BlockIq2Xs>() == 74);
const _: () = assert!(align_of::<BlockIq2Xs>() == 2);

/// ggml's `ksigns_iq2xs`: 7 stored sign bits plus the eighth that makes the
/// number of set bits even.
#[inline(always)]
pub(crate) const fn even_signs(seven: u8) -> u8 {
    seven | (((seven.count_ones() & 1) as u8) << 7)
}

impl BlockIq2Xs {
    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 16, `q` the signed
    /// grid values (`±8, ±25, ±43`), scales `2·sc + 1` in `1..=31`, and
    /// `d = d_f16/8` (exact; `dmin` and `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<16> {
        let mut q = [0i8; QK_K];
        for (v, &entry) in q.as_chunks_mut::<8>().0.iter_mut().zip(&self.qs) {
            let entry = u16::from_le(entry);
            let grid = IQ2XS_GRID[usize::from(entry & 511)].to_le_bytes();
            let signs = even_signs((entry >> 9) as u8);
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
            scales: std::array::from_fn(|s| {
                (2 * ((self.scales[s / 2] >> (4 * (s % 2))) & 0x0F) + 1) as i8
            }),
            mins: [0; 16],
            q,
        }
    }

    /// The 256 values in f32, as ggml's `dequantize_row_iq2_xs`.
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        for (s, o) in out.as_chunks_mut::<16>().0.iter_mut().enumerate() {
            let sc = (self.scales[s / 2] >> (4 * (s % 2))) & 0x0F;
            let db = d * (0.5 + f32::from(sc)) * 0.25;
            for (o8, &entry) in o
                .as_chunks_mut::<8>()
                .0
                .iter_mut()
                .zip(&self.qs[2 * s..][..2])
            {
                let entry = u16::from_le(entry);
                let grid = IQ2XS_GRID[usize::from(entry & 511)].to_le_bytes();
                let signs = even_signs((entry >> 9) as u8);
                for (j, (o, &g)) in o8.iter_mut().zip(&grid).enumerate() {
                    let sign = if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
                    *o = db * f32::from(g) * sign;
                }
            }
        }
    }
}

impl RefFormat for BlockIq2Xs {
    const NAME: &'static str = "iq2_xs";
    const VALUES: usize = QK_K;
    type Act = BlockQ8K;

    fn dequantize_row(blocks: &[Self], out: &mut [f32]) -> Result<(), KernelError> {
        dequantize_blocks("iq2_xs::dequantize_row", blocks, out, Self::dequantize)
    }

    fn dot_ref(w: &[Self], x: &[BlockQ8K]) -> Result<f32, KernelError> {
        check_dot("iq2_xs::dot_ref", w.len(), x.len())?;
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let v = wb.sub_blocks();
            let bsum: i32 = (0..QK_K)
                .map(|j| i32::from(v.scales[j / 16]) * i32::from(v.q[j]) * i32::from(xb.qs[j]))
                .sum();
            sum += (wb.d.to_f32() * xb.d) * bsum as f32;
        }
        Ok(0.125 * sum)
    }
}
