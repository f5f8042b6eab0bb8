//! [`DType`], the registry of element formats: one line per format, read by
//! every layer above (tensor storage, the linear and embedding ops, the GGUF
//! and safetensors loaders, `smallmind quantize`).
//!
//! Every format is described as *blocks*: [`DType::block_size`] numbers in
//! [`DType::block_bytes`] bytes. The float types are blocks of one number
//! (f32: 1 number in 4 bytes); ggml's Q8_0 is 32 numbers in 34 bytes, Q4_K 256
//! in 144. A block-quantized format is a [`WeightFormat`] with its own module
//! in `quant/formats`; [`DType::visit_quantized`] hands its Rust type to
//! generic code, so nothing above this crate matches on the list of formats.
//!
//! Adding a format: its module in `quant/formats`, plus one line in the
//! `registry!` call below (name, block type, ggml type id).

use half::{bf16, f16};

use crate::quant::{
    BlockFormat, BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs, BlockIq4Nl,
    BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K,
    BlockQ6K, BlockQ8_0, WeightFormat,
};

/// Generic code run on the Rust type of a block-quantized [`DType`].
pub trait QuantVisitor {
    /// What the visit returns.
    type Output;
    /// Runs with `W` the format's block type.
    fn visit<W: WeightFormat>(self) -> Self::Output;
}

/// The traits of every block format, floats included (a float is a block of
/// one number).
macro_rules! float_block {
    ($ty:ty, $name:literal, $to:expr, $from:expr) => {
        impl BlockFormat for $ty {
            const NAME: &'static str = $name;
            const VALUES: usize = 1;

            #[inline(always)]
            fn dequantize_block(&self, out: &mut [f32]) {
                out[0] = $to(*self);
            }

            #[inline(always)]
            fn quantize_block(x: &[f32]) -> Self {
                $from(x[0])
            }
        }
    };
}

float_block!(f32, "f32", |v: f32| v, |v: f32| v);
float_block!(f16, "f16", f16::to_f32, f16::from_f32);
float_block!(bf16, "bf16", bf16::to_f32, bf16::from_f32);

/// Declares [`DType`] and every per-format `match` from the one list.
macro_rules! registry {
    (
        floats { $($fvariant:ident => $fty:ty, ggml $fid:literal, $fdoc:literal;)* }
        quantized { $($qvariant:ident => $qty:ty, ggml $qid:literal, $qdoc:literal;)* }
    ) => {
        /// The element type of a tensor: a float type or a block-quantized
        /// format (see the [module docs](self)).
        #[allow(non_camel_case_types)] // ggml's names: Q4_K, Q6_K
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum DType {
            $(#[doc = $fdoc] $fvariant,)*
            $(#[doc = $qdoc] $qvariant,)*
        }

        impl DType {
            /// Every dtype, floats first, in registry order.
            pub const ALL: &'static [DType] = &[$(DType::$fvariant,)* $(DType::$qvariant,)*];

            /// Short lowercase name, as ggml and our files spell it: `"f32"`,
            /// `"bf16"`, `"q4_k"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(DType::$fvariant => <$fty as BlockFormat>::NAME,)*
                    $(DType::$qvariant => <$qty as BlockFormat>::NAME,)*
                }
            }

            /// Numbers per storage block: 1 for the float types, 32 or 256 for
            /// block-quantized formats.
            pub const fn block_size(self) -> usize {
                match self {
                    $(DType::$fvariant => <$fty as BlockFormat>::VALUES,)*
                    $(DType::$qvariant => <$qty as BlockFormat>::VALUES,)*
                }
            }

            /// Bytes per storage block.
            pub const fn block_bytes(self) -> usize {
                match self {
                    $(DType::$fvariant => size_of::<$fty>(),)*
                    $(DType::$qvariant => size_of::<$qty>(),)*
                }
            }

            /// Alignment, in bytes, that the start of this dtype's data needs
            /// before it can be viewed as typed elements (or blocks).
            pub const fn align(self) -> usize {
                match self {
                    $(DType::$fvariant => align_of::<$fty>(),)*
                    $(DType::$qvariant => align_of::<$qty>(),)*
                }
            }

            /// The id of this type in ggml's `enum ggml_type` (GGUF files).
            pub const fn ggml_id(self) -> u32 {
                match self {
                    $(DType::$fvariant => $fid,)*
                    $(DType::$qvariant => $qid,)*
                }
            }

            /// The dtype with ggml type id `id`, if this registry has it.
            pub const fn from_ggml_id(id: u32) -> Option<DType> {
                match id {
                    $($fid => Some(DType::$fvariant),)*
                    $($qid => Some(DType::$qvariant),)*
                    _ => None,
                }
            }

            /// Runs `visitor` with this format's block type; `None` for the
            /// float types.
            pub fn visit_quantized<V: QuantVisitor>(self, visitor: V) -> Option<V::Output> {
                match self {
                    $(DType::$fvariant => None,)*
                    $(DType::$qvariant => Some(visitor.visit::<$qty>()),)*
                }
            }
        }
    };
}

registry! {
    floats {
        F32 => f32, ggml 0, "IEEE 754 binary32.";
        F16 => f16, ggml 1, "IEEE 754 binary16 (`half::f16`).";
        BF16 => bf16, ggml 30, "bfloat16: the top 16 bits of an f32 (`half::bf16`).";
    }
    quantized {
        Q8_0 => BlockQ8_0, ggml 8, "ggml Q8_0: blocks of 32 ([`BlockQ8_0`], 34 bytes).";
        Q4_0 => BlockQ4_0, ggml 2, "ggml Q4_0: blocks of 32 ([`BlockQ4_0`], 18 bytes).";
        Q4_1 => BlockQ4_1, ggml 3, "ggml Q4_1: blocks of 32 ([`BlockQ4_1`], 20 bytes).";
        Q4_K => BlockQ4K, ggml 12, "ggml Q4_K: superblocks of 256 ([`BlockQ4K`], 144 bytes).";
        Q6_K => BlockQ6K, ggml 14, "ggml Q6_K: superblocks of 256 ([`BlockQ6K`], 210 bytes).";
        Q5_0 => BlockQ5_0, ggml 6, "ggml Q5_0: blocks of 32 ([`BlockQ5_0`], 22 bytes).";
        Q5_1 => BlockQ5_1, ggml 7, "ggml Q5_1: blocks of 32 ([`BlockQ5_1`], 24 bytes).";
        IQ4_NL => BlockIq4Nl, ggml 20, "ggml IQ4_NL: blocks of 32 on a non-linear grid ([`BlockIq4Nl`], 18 bytes).";
        Q5_K => BlockQ5K, ggml 13, "ggml Q5_K: superblocks of 256 ([`BlockQ5K`], 176 bytes).";
        Q3_K => BlockQ3K, ggml 11, "ggml Q3_K: superblocks of 256 ([`BlockQ3K`], 110 bytes).";
        Q2_K => BlockQ2K, ggml 10, "ggml Q2_K: superblocks of 256 ([`BlockQ2K`], 84 bytes).";
        IQ4_XS => BlockIq4Xs, ggml 23, "ggml IQ4_XS: superblocks of 256 on the IQ4_NL grid ([`BlockIq4Xs`], 136 bytes).";
        IQ3_S => BlockIq3S, ggml 21, "ggml IQ3_S: superblocks of 256 on a 512-point grid ([`BlockIq3S`], 110 bytes).";
        IQ2_XS => BlockIq2Xs, ggml 17, "ggml IQ2_XS: superblocks of 256 on a 512-point grid ([`BlockIq2Xs`], 74 bytes).";
        IQ3_XXS => BlockIq3Xxs, ggml 18, "ggml IQ3_XXS: superblocks of 256 on a 256-point grid ([`BlockIq3Xxs`], 98 bytes).";
        IQ2_XXS => BlockIq2Xxs, ggml 16, "ggml IQ2_XXS: superblocks of 256 on a 256-point grid ([`BlockIq2Xxs`], 66 bytes).";
        IQ2_S => BlockIq2S, ggml 22, "ggml IQ2_S: superblocks of 256 on a 1024-point grid ([`BlockIq2S`], 82 bytes).";
    }
}

impl DType {
    /// The dtype whose block type is `B`, if the registry lists it.
    pub fn of<B: BlockFormat>() -> Option<DType> {
        DType::ALL.iter().copied().find(|d| d.name() == B::NAME)
    }

    /// `true` for block-quantized formats (`block_size() > 1`).
    pub const fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes per element, or `None` for block-quantized formats, whose
    /// elements have no whole-byte size (use [`DType::checked_byte_size`]).
    pub const fn size_in_bytes(self) -> Option<usize> {
        if self.block_size() == 1 {
            Some(self.block_bytes())
        } else {
            None
        }
    }

    /// Bytes taken by `numel` elements: `numel / block_size * block_bytes`.
    ///
    /// `None` if `numel` is not a whole number of blocks or the result exceeds
    /// `isize::MAX` (the largest size any allocation or slice can have).
    pub const fn checked_byte_size(self, numel: usize) -> Option<usize> {
        if !numel.is_multiple_of(self.block_size()) {
            return None;
        }
        match (numel / self.block_size()).checked_mul(self.block_bytes()) {
            Some(bytes) if bytes <= isize::MAX as usize => Some(bytes),
            _ => None,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ggml_ids_round_trip_and_names_are_unique() {
        for &d in DType::ALL {
            assert_eq!(DType::from_ggml_id(d.ggml_id()), Some(d));
            assert_eq!(
                DType::ALL.iter().filter(|e| e.name() == d.name()).count(),
                1
            );
            assert_eq!(d.visit_quantized(Values).is_some(), d.is_quantized());
        }
    }

    struct Values;
    impl QuantVisitor for Values {
        type Output = usize;
        fn visit<W: WeightFormat>(self) -> usize {
            W::VALUES
        }
    }
}
