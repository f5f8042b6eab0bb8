//! The weight formats as one trait, so every kernel is written once.

use half::f16;

use super::blocks::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};

/// Which ggml format a [`QuantWeight`] is (monomorphised `match`es on it cost
/// nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`BlockQ8_0`].
    Q8_0,
    /// [`BlockQ4_0`].
    Q4_0,
    /// [`BlockQ4_1`].
    Q4_1,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BlockQ8_0 {}
    impl Sealed for super::BlockQ4_0 {}
    impl Sealed for super::BlockQ4_1 {}
    impl Sealed for super::BlockQ8_1 {}
}

/// A quantized activation block (the right-hand side of a block dot).
pub trait QuantAct: bytemuck::Pod + Send + Sync + sealed::Sealed {
    /// The scale `d` as f32.
    fn scale(&self) -> f32;
    /// `d·Σq` ([`BlockQ8_1`]); 0 for [`BlockQ8_0`], which does not carry it.
    fn scaled_sum(&self) -> f32;
    /// The 32 quantized values.
    fn values(&self) -> &[i8; QK];
    /// The scale as stored, so SIMD code can convert an f16 itself.
    fn raw_scale(&self) -> RawScale;
}

/// A scale as stored in its block.
#[derive(Clone, Copy, Debug)]
pub enum RawScale {
    /// An f16 scale ([`BlockQ8_0`]).
    F16(f16),
    /// An f32 scale ([`BlockQ8_1`]).
    F32(f32),
}

impl QuantAct for BlockQ8_0 {
    #[inline(always)]
    fn scale(&self) -> f32 {
        self.d.to_f32()
    }
    #[inline(always)]
    fn scaled_sum(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn values(&self) -> &[i8; QK] {
        &self.qs
    }
    #[inline(always)]
    fn raw_scale(&self) -> RawScale {
        RawScale::F16(self.d)
    }
}

impl QuantAct for BlockQ8_1 {
    #[inline(always)]
    fn scale(&self) -> f32 {
        self.d
    }
    #[inline(always)]
    fn scaled_sum(&self) -> f32 {
        self.s
    }
    #[inline(always)]
    fn values(&self) -> &[i8; QK] {
        &self.qs
    }
    #[inline(always)]
    fn raw_scale(&self) -> RawScale {
        RawScale::F32(self.d)
    }
}

/// A quantized weight block and the activation block it is multiplied with.
///
/// A block dot is `d_w·d_x·Σⱼ v[j]·q_x[j] + m·s_x`, with the integer weight
/// `v` of [`QuantWeight::value`] and the offset term only for Q4_1.
pub trait QuantWeight: bytemuck::Pod + Send + Sync + sealed::Sealed {
    /// The activation block type: [`BlockQ8_0`] or [`BlockQ8_1`].
    type Act: QuantAct;
    /// Which format this is.
    const KIND: Kind;
    /// The format's name, e.g. `"q4_0"`.
    const NAME: &'static str;
    /// The scale `d`.
    fn scale(&self) -> f16;
    /// The offset `m` (Q4_1), else 0.
    fn offset(&self) -> f16;
    /// The signed integer weight `j` of the dot product: `q` for Q8_0 and
    /// Q4_1, `q − 8` for Q4_0.
    fn value(&self, j: usize) -> i32;
    /// The packed quantized bytes: 32 `i8` for Q8_0, 16 nibble pairs for Q4.
    fn packed(&self) -> &[u8];
    /// The block's 32 values in f32, as ggml's `dequantize_row_*`.
    fn dequantize_block(&self, out: &mut [f32; QK]);
}

impl QuantWeight for BlockQ8_0 {
    #[inline(always)]
    fn packed(&self) -> &[u8] {
        bytemuck::cast_slice(&self.qs)
    }
    type Act = BlockQ8_0;
    const KIND: Kind = Kind::Q8_0;
    const NAME: &'static str = "q8_0";
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }
    #[inline(always)]
    fn offset(&self) -> f16 {
        f16::ZERO
    }
    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(self.qs[j])
    }
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        for (o, &q) in out.iter_mut().zip(&self.qs) {
            *o = f32::from(q) * d;
        }
    }
}

impl QuantWeight for BlockQ4_0 {
    #[inline(always)]
    fn packed(&self) -> &[u8] {
        &self.qs
    }
    type Act = BlockQ8_0;
    const KIND: Kind = Kind::Q4_0;
    const NAME: &'static str = "q4_0";
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }
    #[inline(always)]
    fn offset(&self) -> f16 {
        f16::ZERO
    }
    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(self.nibble(j)) - 8
    }
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        let (lo, hi) = out.split_at_mut(QK / 2);
        for ((l, h), &b) in lo.iter_mut().zip(hi).zip(&self.qs) {
            *l = f32::from(i16::from(b & 0x0F) - 8) * d;
            *h = f32::from(i16::from(b >> 4) - 8) * d;
        }
    }
}

impl QuantWeight for BlockQ4_1 {
    #[inline(always)]
    fn packed(&self) -> &[u8] {
        &self.qs
    }
    type Act = BlockQ8_1;
    const KIND: Kind = Kind::Q4_1;
    const NAME: &'static str = "q4_1";
    #[inline(always)]
    fn scale(&self) -> f16 {
        self.d
    }
    #[inline(always)]
    fn offset(&self) -> f16 {
        self.m
    }
    #[inline(always)]
    fn value(&self, j: usize) -> i32 {
        i32::from(self.nibble(j))
    }
    #[inline(always)]
    fn dequantize_block(&self, out: &mut [f32; QK]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        let (lo, hi) = out.split_at_mut(QK / 2);
        for ((l, h), &b) in lo.iter_mut().zip(hi).zip(&self.qs) {
            *l = f32::from(b & 0x0F) * d + m;
            *h = f32::from(b >> 4) * d + m;
        }
    }
}

/// The exact integer part of a block dot: `Σⱼ v[j]·q_x[j]`.
#[inline(always)]
pub(crate) fn block_isum<W: QuantWeight>(w: &W, x: &W::Act) -> i32 {
    let xq = x.values();
    (0..QK).map(|j| w.value(j) * i32::from(xq[j])).sum()
}

/// One block dot in f32, the scalar path's order: `(d_w·d_x)·isum + m·s`.
#[inline(always)]
pub(crate) fn block_dot<W: QuantWeight>(w: &W, x: &W::Act) -> f32 {
    let isum = block_isum(w, x) as f32;
    let scale = w.scale().to_f32() * x.scale();
    let dot = scale * isum;
    match W::KIND {
        Kind::Q4_1 => dot + w.offset().to_f32() * x.scaled_sum(),
        _ => dot,
    }
}

/// One block dot in f64 (the oracle's).
#[inline(always)]
pub(crate) fn block_dot_f64<W: QuantWeight>(w: &W, x: &W::Act) -> f64 {
    let isum = f64::from(block_isum(w, x));
    let dot = f64::from(w.scale().to_f32()) * f64::from(x.scale()) * isum;
    match W::KIND {
        Kind::Q4_1 => dot + f64::from(w.offset().to_f32()) * f64::from(x.scaled_sum()),
        _ => dot,
    }
}
