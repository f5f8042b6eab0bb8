//! What the 32-value formats share: the integer weight and activation views
//! their block dots read, the dot in scalar and f64 order, and the choice of
//! SIMD tiles (`x86/blocks32.rs`).
//!
//! A block dot is `d_w·d_x·Σⱼ v[j]·q_x[j] (+ m·s_x)`, with the signed integer
//! weight `v` of [`Block32::value`] and the offset term only for formats with
//! an offset (Q4_1). Each format's module implements [`Block32`] (its
//! unpacking, for the scalar and x86 tiles) and invokes
//! [`weight_format_32!`]; nothing here names a format.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::{__m256i, __m512i};

use half::f16;

use crate::quant::format::{WeightFormat, scalar_tile};
use crate::quant::isa::{Isa, Tile};
use crate::quant::{ActFormat, QK};

/// How the x86 tiles get the unsigned byte operand `u` of `vpdpbusd` and
/// `vpmaddubsw` from a format's weights `v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    /// The unpacked bytes are `u = v + bias` (`0 ≤ u < 64`, so AVX2's
    /// `vpmaddubsw` cannot saturate); the tiles subtract `bias·Σ q_x`.
    Unsigned {
        /// `u − v`.
        bias: u8,
    },
    /// The unpacked bytes are the signed `v` (up to `|v| = 128`, which could
    /// saturate `vpmaddubsw`): AVX2 widens both sides to i16 for `vpmaddwd`,
    /// VNNI takes `u = v ^ 0x80` (bias 128).
    Signed,
}

impl Operand {
    /// `u − v` on VNNI.
    pub(crate) const fn bias(self) -> u8 {
        match self {
            Operand::Unsigned { bias } => bias,
            Operand::Signed => 0x80,
        }
    }
}

/// A 32-value activation block (the right-hand side of a block dot); its 32
/// values are its last 32 bytes (the 512-bit tiles read pairs in place).
pub(crate) trait Act32: ActFormat {
    /// The scale `d` as f32.
    fn scale(&self) -> f32;
    /// `d·Σq` (Q8_1); 0 for Q8_0, which does not carry it.
    fn scaled_sum(&self) -> f32;
    /// The 32 quantized values.
    fn values(&self) -> &[i8; QK];
    /// [`Act32::scale`] with the x86 tiles' instructions (F16C for an f16).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn scale_x86(&self) -> f32;
}

/// A 32-value weight block, as the shared integer kernels read it: the
/// scalar view (`scale`, `offset`, `value`) and the x86 tiles' hooks
/// (constants and `#[inline(always)]` unpackers, resolved at compile time).
pub(crate) trait Block32: WeightFormat<Act: Act32> {
    /// What [`Block32::unpack_256`] gives.
    const OPERAND: Operand;
    /// Whether the dot has the offset term `m·s_x` (Q4_1, Q5_1).
    const OFFSET: bool = false;
    /// The scale `d`: every 32-value ggml weight block (`block_q4_0`,
    /// `block_q4_1`, `block_q5_0`, `block_q5_1`, `block_q8_0`,
    /// `block_iq4_nl`) starts with it, as an f16.
    #[inline(always)]
    fn scale(&self) -> f16 {
        leading_f16(self, 0)
    }
    /// The offset `m` when [`Block32::OFFSET`], else 0: the offset formats
    /// store it as the f16 right after the scale.
    #[inline(always)]
    fn offset(&self) -> f16 {
        if Self::OFFSET {
            leading_f16(self, 1)
        } else {
            f16::ZERO
        }
    }
    /// The signed integer weight `j` of the dot product.
    fn value(&self, j: usize) -> i32;
    /// The 32 weights as bytes, in order ([`Block32::OPERAND`] says which).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn unpack_256(&self) -> __m256i;
    /// The unsigned operand `u = v + OPERAND.bias()` of two consecutive
    /// blocks, in weight order (the first block's 32 bytes, then the
    /// second's), for the 512-bit GEMV (`x86/lanes.rs`).
    ///
    /// # Safety
    /// `pair` points at two consecutive blocks; the CPU must support AVX-512
    /// F/BW/VL/VBMI.
    #[cfg(target_arch = "x86_64")]
    unsafe fn pair_operand_512(pair: *const Self) -> __m512i;
}

/// The `index`-th f16 of a block's leading fields (see [`Block32::scale`]).
#[inline(always)]
fn leading_f16<B: bytemuck::Pod>(block: &B, index: usize) -> f16 {
    let bytes = bytemuck::bytes_of(block);
    f16::from_ne_bytes([bytes[2 * index], bytes[2 * index + 1]])
}

/// [`BlockFormat::dequantize_block`](crate::quant::BlockFormat::dequantize_block)
/// of every 32-value format: `x[j] = v[j]·d (+ m)`, in ggml's order (the
/// product, then the offset; no offset term at all where there is none, so
/// a zero keeps its sign).
#[inline(always)]
pub(super) fn dequantize<W: Block32>(w: &W, out: &mut [f32]) {
    let d = w.scale().to_f32();
    let m = w.offset().to_f32();
    for (j, x) in out[..QK].iter_mut().enumerate() {
        let scaled = w.value(j) as f32 * d;
        *x = if W::OFFSET { scaled + m } else { scaled };
    }
}

/// The exact integer part of a block dot: `Σⱼ v[j]·q_x[j]`.
#[inline(always)]
fn block_isum<W: Block32>(w: &W, x: &W::Act) -> i32 {
    let xq = x.values();
    (0..QK).map(|j| w.value(j) * i32::from(xq[j])).sum()
}

/// One block dot in f32, the scalar path's order: `(d_w·d_x)·isum + m·s`.
#[inline(always)]
pub(crate) fn block_dot<W: Block32>(w: &W, x: &W::Act) -> f32 {
    let isum = block_isum(w, x) as f32;
    let scale = w.scale().to_f32() * x.scale();
    let dot = scale * isum;
    if W::OFFSET {
        dot + w.offset().to_f32() * x.scaled_sum()
    } else {
        dot
    }
}

/// One block dot in f64 (the oracle's).
#[inline(always)]
pub(crate) fn block_dot_f64<W: Block32>(w: &W, x: &W::Act) -> f64 {
    let isum = f64::from(block_isum(w, x));
    let dot = f64::from(w.scale().to_f32()) * f64::from(x.scale()) * isum;
    if W::OFFSET {
        dot + f64::from(w.offset().to_f32()) * f64::from(x.scaled_sum())
    } else {
        dot
    }
}

/// [`WeightFormat::tile`] of every 32-value format.
///
/// # Safety
/// The CPU must support `T`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn tile<T: Tile, W: Block32, const R: usize, const C: usize>(
    w: [&[W]; R],
    x: [&[W::Act]; C],
    ahead: usize,
) -> [[f32; C]; R] {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::quant::x86::blocks32;
        // SAFETY: `T`'s instruction set is our caller's contract.
        unsafe {
            match T::ISA {
                Isa::Avx2 => return blocks32::tile::<blocks32::Avx2, W, R, C>(w, x, ahead),
                Isa::Vnni => return blocks32::tile::<blocks32::Vnni, W, R, C>(w, x, ahead),
                // The 512-bit GEMV and GEMM have their own drivers
                // (`x86/lanes.rs`); a tile here is the 256-bit one.
                Isa::Vnni512 => return blocks32::tile::<blocks32::Vnni, W, R, C>(w, x, ahead),
                Isa::Scalar => {}
            }
        }
    }
    let _ = ahead;
    scalar_tile(w, x)
}

/// [`WeightFormat::gemv_rows`] of every 32-value format: on 512-bit VNNI,
/// a weight row per lane (`x86/lanes.rs`).
///
/// # Safety
/// As [`WeightFormat::gemv_rows`].
#[inline(always)]
pub(crate) unsafe fn gemv_rows<T: Tile, W: Block32>(
    w: &[W],
    x: &[W::Act],
    j0: usize,
    y: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if matches!(T::ISA, Isa::Vnni512) {
        // SAFETY: forwarded from our caller, who guarantees `Vnni512`.
        return unsafe { crate::quant::x86::lanes::gemv_rows(w, x, j0, y) };
    }
    // SAFETY: forwarded from our caller.
    unsafe { crate::quant::isa::gemv_rows::<T, W>(w, x, j0, y) }
}

/// [`WeightFormat::gemm_rect`] of every 32-value format: on 512-bit VNNI,
/// a weight row per lane, repacked once per rectangle (`x86/lanes.rs`).
///
/// # Safety
/// As [`WeightFormat::gemm_rect`].
#[inline(always)]
pub(crate) unsafe fn gemm_rect<T: Tile, W: Block32>(rect: crate::quant::isa::Rect<'_, W>) {
    use crate::quant::isa::{COLS, ROWS};
    #[cfg(target_arch = "x86_64")]
    if matches!(T::ISA, Isa::Vnni512) {
        // SAFETY: forwarded from our caller, who guarantees `Vnni512`.
        return unsafe { crate::quant::x86::lanes::gemm_rect(rect) };
    }
    // SAFETY: forwarded from our caller.
    unsafe { crate::quant::isa::gemm_rect::<T, W, ROWS, COLS>(rect) }
}

/// 32 nibbles into 16 bytes: weight `j < 16` in the low nibble of byte `j`,
/// weight `j + 16` in its high nibble.
#[inline(always)]
pub(super) fn pack_nibbles(q: &[u8; QK]) -> [u8; QK / 2] {
    let mut qs = [0u8; QK / 2];
    for (j, b) in qs.iter_mut().enumerate() {
        *b = q[j] | (q[j + QK / 2] << 4);
    }
    qs
}

/// The nibble of weight `j` (`0..32`), in [`pack_nibbles`]' order.
#[inline(always)]
pub(super) fn unpack_nibble(qs: &[u8; QK / 2], j: usize) -> u8 {
    let byte = qs[j % (QK / 2)];
    if j < QK / 2 { byte & 0x0F } else { byte >> 4 }
}

/// The first value of largest magnitude, with its sign (0 when every value
/// is 0 or NaN): the search of ggml's `quantize_row_q4_0_ref` and
/// `quantize_row_q5_0_ref`, whose scale is this value over `−8` or `−16`.
#[inline(always)]
pub(super) fn first_largest_magnitude(x: &[f32; QK]) -> f32 {
    let mut amax = 0.0f32;
    let mut largest = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            largest = v;
        }
    }
    largest
}

/// The fit of the offset formats (ggml's `quantize_row_q4_1_ref` and
/// `quantize_row_q5_1_ref`): `m = min`, `d = (max − min)/top`, and
/// `q = min(top, trunc((x − m)·(1/d) + 0.5))`; returns `(d, m, q)`. The
/// minimum and maximum start from `±f32::MAX`, so a NaN never wins.
#[inline(always)]
pub(super) fn fit_offset(x: &[f32; QK], top: u8) -> (f32, f32, [u8; QK]) {
    let (min, max) = x.iter().fold((f32::MAX, -f32::MAX), |(min, max), &v| {
        (if v < min { v } else { min }, if v > max { v } else { max })
    });
    let d = (max - min) / f32::from(top);
    let id = super::inv_or_zero(d);
    let q = x.map(|v| (((v - min) * id + 0.5) as i32).clamp(0, i32::from(top)) as u8);
    (d, min, q)
}

/// The first 32 values of `x` as an array (every caller passes whole blocks).
#[inline(always)]
pub(super) fn block_of(x: &[f32]) -> &[f32; QK] {
    x[..QK].try_into().expect("a block is 32 values")
}

/// Implements [`WeightFormat`] for a 32-value format through this module;
/// given the format's name and size, also [`BlockFormat`] (dequantizing
/// through [`dequantize`], quantizing through the block's own
/// `fn quantize(&[f32; 32]) -> Self`) and the checks of its layout.
///
/// [`BlockFormat`]: crate::quant::BlockFormat
macro_rules! weight_format_32 {
    ($block:ty, $name:literal, bytes $bytes:literal, act $act:ty, gemv_rows $rows:expr) => {
        const _: () = assert!(size_of::<$block>() == $bytes);
        const _: () = assert!(align_of::<$block>() == 2);

        impl $crate::quant::BlockFormat for $block {
            const NAME: &'static str = $name;
            const VALUES: usize = $crate::quant::QK;

            #[inline(always)]
            fn dequantize_block(&self, out: &mut [f32]) {
                super::block32::dequantize(self, out);
            }

            #[inline(always)]
            fn quantize_block(x: &[f32]) -> Self {
                Self::quantize(super::block32::block_of(x))
            }
        }

        super::block32::weight_format_32!($block, act $act, gemv_rows $rows);
    };
    ($block:ty, act $act:ty, gemv_rows $rows:expr) => {
        impl $crate::quant::WeightFormat for $block {
            type Act = $act;
            const GEMV_ROWS: usize = $rows;

            #[inline(always)]
            fn dot_block(&self, x: &$act) -> f32 {
                super::block32::block_dot(self, x)
            }

            #[inline(always)]
            fn dot_block_f64(&self, x: &$act) -> f64 {
                super::block32::block_dot_f64(self, x)
            }

            #[inline(always)]
            unsafe fn tile<T: $crate::quant::isa::Tile, const R: usize, const C: usize>(
                w: [&[Self]; R],
                x: [&[$act]; C],
                ahead: usize,
            ) -> [[f32; C]; R] {
                // SAFETY: forwarded from our caller.
                unsafe { super::block32::tile::<T, Self, R, C>(w, x, ahead) }
            }

            #[inline(always)]
            unsafe fn gemv_rows<T: $crate::quant::isa::Tile>(
                w: &[Self],
                x: &[$act],
                j0: usize,
                y: &mut [f32],
            ) {
                // SAFETY: forwarded from our caller.
                unsafe { super::block32::gemv_rows::<T, Self>(w, x, j0, y) }
            }

            #[inline(always)]
            unsafe fn gemm_rect<T: $crate::quant::isa::Tile>(
                rect: $crate::quant::isa::Rect<'_, Self>,
            ) {
                // SAFETY: forwarded from our caller.
                unsafe { super::block32::gemm_rect::<T, Self>(rect) }
            }
        }
    };
}
pub(super) use weight_format_32;
