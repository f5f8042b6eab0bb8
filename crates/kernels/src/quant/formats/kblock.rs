//! What the 256-value K-quant weight formats share: the exact integer sums of
//! a superblock dot against [`BlockQ8K`], the dot in scalar and f64 order, and
//! the choice of SIMD tiles (`x86/kquants.rs`).
//!
//! With `x = d_x·q_x` (one Q8_K block):
//! - Q4_K: `dot = d·d_x·Σ_s sc[s]·Σ_{j∈s} q_j·q_x[j] − dmin·d_x·Σ_s mn[s]·(bsums[2s] + bsums[2s+1])`
//!   over the eight sub-blocks `s` of 32 (the min term needs only the
//!   activation block sums, which is why Q8_K carries `bsums`);
//! - Q6_K: `dot = d·d_x·(Σ_s sc[s]·Σ_{j∈s} q_j·q_x[j] − 32·Σ_s sc[s]·bsums[s])`
//!   over the sixteen sub-blocks of 16, with the unsigned 6-bit `q` (the
//!   `−32` offset folded into the block sums).
//!
//! Each K-quant is one module implementing [`KBlock`]: its integer sums
//! and scales (the scalar dot and the oracle), the order of its scalar row
//! dot, how the block sums enter, and `unpack` for the x86 tiles; this module
//! and `x86/kquants.rs` hold only what they share. The codebook formats
//! (IQ2_*, IQ3_*) get their impl from their layout hooks (`grid_block`). Each module's docs give
//! its dot and the largest integer sum, all exact in i32 (Q4_K/Q6_K: at most
//! `|q_x| ≤ 127·256` times 63 or 128 per superblock, about 2²⁸). So, as for
//! the 32-value formats, only the f32 scaling and summation order differ
//! between paths: within `(t·nb + 8)·2⁻²³·Σ_b (|d·d_x·I_b| + |dmin·d_x·M_b|)`
//! of the f64 oracles, `I_b`/`M_b` the two integer sums of superblock `b` and
//! `t` the f32 terms per superblock of the scalar order (1, or 8 for IQ4_XS,
//! whose ggml dot scales each sub-block; the SIMD tiles have `t = 1`).

use super::q8_k::BlockQ8K;
use crate::quant::format::WeightFormat;
use crate::quant::isa::{Isa, Tile};
#[cfg(target_arch = "x86_64")]
use crate::quant::x86::kquants::{KIntOps, Unpacked};

/// How the Q8_K block sums (`bsums`, one per 16 activations) enter a
/// K-quant's dot, with `B = Σ_i bsums[i]·sums_by[i]` over the sixteen
/// multipliers the format unpacks (`x86/kquants.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BsumsTerm {
    /// Sub-block mins: `dot = d·d_x·I − dmin·d_x·B` (`sums_by` the mins).
    Mins,
    /// Quants stored as `q + o`, unsigned: `dot = d·d_x·(I' − o·B)` with `I'`
    /// the sum over the stored quants (`sums_by` the sub-block scales).
    /// `Offset(0)` is no block-sum term (signed quants, [`KBlock::SIGNED`]):
    /// the product by a zero constant compiles away.
    Offset(i32),
}

/// A K-quant weight superblock with an integer dot against Q8_K: the
/// per-format hooks of the shared dot, oracle and SIMD tiles. Every hook is
/// `#[inline(always)]` or a constant, so the shared code compiles to one
/// straight kernel per format.
pub(crate) trait KBlock: WeightFormat<Act = BlockQ8K> {
    /// How the block sums enter the SIMD dot.
    const BSUMS: BsumsTerm;
    /// Whether [`KBlock::unpack`] gives signed quants (see `x86/kquants.rs`).
    const SIGNED: bool = false;

    /// The exact integer sums `(I, M)` of the module docs, from the values
    /// (not the block sums): `dot = d·d_x·I − dmin·d_x·M` (`M = 0` without
    /// mins).
    fn isums(&self, x: &BlockQ8K) -> (i32, i32);

    /// `(d, dmin)` in f32 (`dmin = 0` without mins).
    fn scales(&self) -> (f32, f32);

    /// One superblock dot in f32 ([`WeightFormat::dot_block`]): by default
    /// `(d·d_x)·I − (dmin·d_x)·M`; formats override it with ggml's order.
    #[inline(always)]
    fn block_dot(&self, x: &BlockQ8K) -> f32 {
        superblock_dot(self, x)
    }

    /// The dot of a row of superblocks in the scalar path's order: by
    /// default `0 + dot_0 + dot_1 + …` over the block dots (ggml's order for
    /// the formats whose generic dot sums one f32 per superblock); formats
    /// whose ggml dot keeps other sums across superblocks override it.
    #[inline(always)]
    fn row_dot(w: &[Self], x: &[BlockQ8K]) -> f32 {
        w.iter()
            .zip(x)
            .fold(0.0, |acc, (wb, xb)| acc + wb.block_dot(xb))
    }

    /// The superblock unpacked for the x86 tiles (`x86/kquants.rs`).
    ///
    /// # Safety
    /// The CPU must support `O`'s instruction set (AVX2, FMA and F16C at
    /// least).
    #[cfg(target_arch = "x86_64")]
    unsafe fn unpack<O: KIntOps>(&self) -> Unpacked;
}

/// One superblock dot in f32, the scalar path's order.
#[inline(always)]
pub(crate) fn superblock_dot<B: KBlock>(w: &B, x: &BlockQ8K) -> f32 {
    let (isum, msum) = w.isums(x);
    let (d, dmin) = w.scales();
    (d * x.d) * isum as f32 - (dmin * x.d) * msum as f32
}

/// One superblock dot in f64 (the oracle's).
#[inline(always)]
pub(crate) fn superblock_dot_f64<B: KBlock>(w: &B, x: &BlockQ8K) -> f64 {
    let (isum, msum) = w.isums(x);
    let (d, dmin) = w.scales();
    let dx = f64::from(x.d);
    f64::from(d) * dx * f64::from(isum) - f64::from(dmin) * dx * f64::from(msum)
}

/// [`WeightFormat::tile`] of every K-quant (the 512-bit path runs the
/// 256-bit VNNI tiles for now).
///
/// # Safety
/// The CPU must support `T`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn tile<T: Tile, B: KBlock, const R: usize, const C: usize>(
    w: [&[B]; R],
    x: [&[BlockQ8K]; C],
    ahead: usize,
) -> [[f32; C]; R] {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::quant::x86::kquants;
        // SAFETY: `T`'s instruction set is our caller's contract.
        unsafe {
            match T::ISA {
                Isa::Avx2 => return kquants::tile::<kquants::Avx2, B, R, C>(w, x, ahead),
                Isa::Vnni | Isa::Vnni512 => {
                    return kquants::tile::<kquants::Vnni, B, R, C>(w, x, ahead);
                }
                Isa::Scalar => {}
            }
        }
    }
    let _ = ahead;
    let mut out = [[0.0f32; C]; R];
    for (out_r, w_r) in out.iter_mut().zip(w) {
        for (o, x_c) in out_r.iter_mut().zip(x) {
            *o = B::row_dot(w_r, x_c);
        }
    }
    out
}

/// Implements [`WeightFormat`] for a K-quant through this module, and `Default` as the
/// all-zero block. With `via sub_blocks` or `via grid` (which also writes the codebook
/// format's `sub_blocks` view), also the checks of its layout and
/// [`BlockFormat`]: quantizing through its own `fn quantize(&[f32]) -> Self`, and
/// dequantizing through the block's generic [`SubBlocks`](super::SubBlocks) view
/// (`fn sub_blocks(&self)`, ggml's `(d·sc)·q − dmin·mn` order) or, for a codebook format,
/// its [`GridBlock`](super::GridBlock) hooks.
///
/// [`BlockFormat`]: crate::quant::BlockFormat
macro_rules! weight_format_k {
    ($block:ty, $name:literal, bytes $bytes:literal, via sub_blocks) => {
        super::kblock::weight_format_k!(@block $block, $name, $bytes, |b: &$block, out| {
            b.sub_blocks().dequantize(out)
        });
    };
    ($block:ty, $name:literal, bytes $bytes:literal, via grid, sub_blocks $s:literal) => {
        super::kblock::weight_format_k!(@block $block, $name, $bytes, |b: &$block, out| {
            super::grid_block::dequantize(b, out)
        });

        impl super::grid_block::GridScale for $block {
            #[inline(always)]
            fn d(&self) -> half::f16 {
                self.d
            }
        }

        impl $block {
            /// The integer view (`grid_block` module docs): `x = d·scales[s]·q`, `q` the
            /// signed grid values, `scales` the odd `2·ls + 1` in `1..=31`, and
            /// `d = d_f16·ROW_SCALE` (exact; `dmin` and `mins` are 0).
            pub fn sub_blocks(&self) -> super::SubBlocks<$s> {
                super::grid_block::sub_blocks(self)
            }
        }
    };
    (@block $block:ty, $name:literal, $bytes:literal, $dequantize:expr) => {
        const _: () = assert!(size_of::<$block>() == $bytes);
        const _: () = assert!(align_of::<$block>() == 2);

        impl $crate::quant::BlockFormat for $block {
            const NAME: &'static str = $name;
            const VALUES: usize = $crate::quant::QK_K;

            #[inline(always)]
            fn dequantize_block(&self, out: &mut [f32]) {
                ($dequantize)(self, out);
            }

            fn quantize_block(x: &[f32]) -> Self {
                Self::quantize(x)
            }
        }

        super::kblock::weight_format_k!($block);
    };
    ($block:ty) => {
        impl $crate::quant::WeightFormat for $block {
            type Act = super::q8_k::BlockQ8K;

            #[inline(always)]
            fn dot_block(&self, x: &super::q8_k::BlockQ8K) -> f32 {
                super::kblock::KBlock::block_dot(self, x)
            }

            #[inline(always)]
            fn dot_block_f64(&self, x: &super::q8_k::BlockQ8K) -> f64 {
                super::kblock::superblock_dot_f64(self, x)
            }

            #[inline(always)]
            unsafe fn tile<T: $crate::quant::isa::Tile, const R: usize, const C: usize>(
                w: [&[Self]; R],
                x: [&[super::q8_k::BlockQ8K]; C],
                ahead: usize,
            ) -> [[f32; C]; R] {
                // SAFETY: forwarded from our caller.
                unsafe { super::kblock::tile::<T, Self, R, C>(w, x, ahead) }
            }
        }

        /// The all-zero block.
        impl Default for $block {
            fn default() -> Self {
                bytemuck::Zeroable::zeroed()
            }
        }
    };
}
pub(super) use weight_format_k;
