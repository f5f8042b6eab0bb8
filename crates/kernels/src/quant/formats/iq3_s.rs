//! ggml `IQ3_S`: 256 weights per superblock, 110 bytes; points of 4 values
//! from a 512-entry grid with explicit signs, and 4-bit scales per 32 values:
//! `x = d·(1 + 2·sc)·s·g` with `g` odd in `1..=15` and a sign `s`.
//!
//! Layout ([`BlockIq3S`], alignment 2):
//! - `d` (f16, bytes 0..2);
//! - `qs` (bytes 2..66) and `qh` (bytes 66..74): the 9-bit grid index of
//!   weights `4k .. 4k + 4` is `qs[k]` plus bit `k % 8` of `qh[k / 8]` as bit 8
//!   (ggml's `iq3s_grid`, value `j` in byte `j`);
//! - `signs` (bytes 74..106): bit `j % 8` of `signs[j / 8]` set means weight
//!   `j` is negative;
//! - `scales` (bytes 106..110): byte `b` holds the 4-bit scale of sub-block
//!   `2b` (32 weights) in its low nibble and of `2b + 1` in its high nibble.
//!
//! Dequantization (ggml's `dequantize_row_iq3_s`): `((d·(1 + 2·sc))·g)·(±1)`.
//! ggml's quantizer (a neighbourhood search over the grid) is not ported yet.
//!
//! Dot (ggml pairs IQ3_S with Q8_K activations), as ggml's
//! `ggml_vec_dot_iq3_s_q8_K_generic`: per superblock the exact
//! `B = Σ_s (1 + 2·sc[s])·Σ_{j ∈ s} s_j·g_j·x_j` over the eight sub-blocks of
//! 32, and `sumf += (d·d_x)·B` in superblock order.

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::grids::IQ3S_GRID;
use super::{RefFormat, SubBlocks, check_dot, dequantize_blocks};
use crate::KernelError;
use crate::quant::{BlockQ8K, QK_K};

/// An IQ3_S superblock (see the module docs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIq3S {
    /// Superblock scale.
    pub d: f16,
    /// Low 8 bits of the grid index per 4 weights.
    pub qs: [u8; QK_K / 4],
    /// Bit 8 of the grid indices, one bit per 4 weights.
    pub qh: [u8; QK_K / 32],
    /// One sign bit per weight.
    pub signs: [u8; QK_K / 8],
    /// 4-bit scales per 32 weights, two per byte.
    pub scales: [u8; QK_K / 64],
}

const _: () = assert!(size_of::<BlockIq3S>() == 110);
const _: () = assert!(align_of::<BlockIq3S>() == 2);

impl BlockIq3S {
    /// The grid values of weights `4k .. 4k + 4` (unsigned).
    #[inline(always)]
    fn grid(&self, k: usize) -> [u8; 4] {
        let high = usize::from((self.qh[k / 8] >> (k % 8)) & 1);
        IQ3S_GRID[usize::from(self.qs[k]) | (high << 8)].to_le_bytes()
    }

    /// Whether weight `j` is negative.
    #[inline(always)]
    fn negative(&self, j: usize) -> bool {
        self.signs[j / 8] & (1 << (j % 8)) != 0
    }

    /// The integer scale `1 + 2·sc` (in `1..=31`) of sub-block `s` (32 weights).
    #[inline(always)]
    fn scale(&self, s: usize) -> u8 {
        1 + 2 * ((self.scales[s / 2] >> (4 * (s % 2))) & 0x0F)
    }

    /// The integer view: `x = d·scales[s]·q`, sub-blocks of 32, `q` the signed
    /// grid values (odd, `−15..=15`), scales `1 + 2·sc` in `1..=31` (`dmin` and
    /// `mins` are 0).
    pub fn sub_blocks(&self) -> SubBlocks<8> {
        let mut q = [0i8; QK_K];
        for (k, v) in q.as_chunks_mut::<4>().0.iter_mut().enumerate() {
            for (i, (v, g)) in v.iter_mut().zip(self.grid(k)).enumerate() {
                *v = if self.negative(4 * k + i) {
                    -(g as i8)
                } else {
                    g as i8
                };
            }
        }
        SubBlocks {
            d: self.d.to_f32(),
            dmin: 0.0,
            scales: std::array::from_fn(|s| self.scale(s) as i8),
            mins: [0; 8],
            q,
        }
    }

    /// The 256 values in f32, as ggml's `dequantize_row_iq3_s`.
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        for (k, o) in out.as_chunks_mut::<4>().0.iter_mut().enumerate() {
            let db = d * f32::from(self.scale(k / 8));
            for (i, (o, g)) in o.iter_mut().zip(self.grid(k)).enumerate() {
                let sign = if self.negative(4 * k + i) { -1.0 } else { 1.0 };
                *o = db * f32::from(g) * sign;
            }
        }
    }
}

impl RefFormat for BlockIq3S {
    const NAME: &'static str = "iq3_s";
    const VALUES: usize = QK_K;
    type Act = BlockQ8K;

    fn dequantize_row(blocks: &[Self], out: &mut [f32]) -> Result<(), KernelError> {
        dequantize_blocks("iq3_s::dequantize_row", blocks, out, Self::dequantize)
    }

    fn dot_ref(w: &[Self], x: &[BlockQ8K]) -> Result<f32, KernelError> {
        check_dot("iq3_s::dot_ref", w.len(), x.len())?;
        let mut sum = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let v = wb.sub_blocks();
            let bsum: i32 = (0..QK_K)
                .map(|j| i32::from(v.scales[j / 32]) * i32::from(v.q[j]) * i32::from(xb.qs[j]))
                .sum();
            sum += (v.d * xb.d) * bsum as f32;
        }
        Ok(sum)
    }
}
