//! [`GgmlType`]: the tensor element types a GGUF file can declare.
//!
//! Ids follow `enum ggml_type` of ggml (ids 4, 5, 31–33 and 36–38 belong to
//! types that were removed and are rejected). A type is stored as blocks of
//! [`GgmlType::block_size`] elements taking [`GgmlType::type_size`] bytes;
//! plain types (F32, F16, ...) are blocks of one element. Sizes follow the
//! block layouts of ggml's `ggml-common.h`, with `QK_K` = 256 for K-quants.
//!
//! Whether a type can be *loaded* is the model layer's business: this module
//! only describes the bytes.

use std::fmt;

/// Elements per block of the K-quant types (`QK_K`).
pub const QK_K: u64 = 256;
/// Elements per block of the legacy quant types (`QK4_0`, `QK8_0`, ...).
pub const QK_LEGACY: u64 = 32;

/// Declares [`GgmlType`]'s constants and its id / name / size tables from one
/// list, so a type cannot be added without its id and block layout.
macro_rules! ggml_types {
    ($($(#[$doc:meta])* $variant:ident = $id:literal, block $block:expr, bytes $bytes:expr;)*) => {
        /// A tensor element type of GGML / GGUF: an id of ggml's `enum ggml_type`
        /// that this reader knows (built only by [`GgmlType::from_id`] or the
        /// constants). Which of them can be *loaded* is the registry's business
        /// (`smallmind_kernels::DType`); this is the file format's table.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct GgmlType(u32);

        #[allow(non_upper_case_globals)] // The format's own names (Q4_K, IQ2_XXS, ...).
        impl GgmlType {
            $($(#[$doc])* pub const $variant: GgmlType = GgmlType($id);)*

            /// Every type this reader knows, in id order.
            pub const ALL: &'static [GgmlType] = &[$(GgmlType::$variant),*];

            /// The type with this ggml id, or `None` for unknown or removed ids.
            pub fn from_id(id: u32) -> Option<GgmlType> {
                match id {
                    $($id => Some(GgmlType::$variant),)*
                    _ => None,
                }
            }

            /// The ggml id stored in files.
            pub fn id(self) -> u32 {
                self.0
            }

            /// The format's name, e.g. `"Q4_K"`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($id => stringify!($variant),)*
                    _ => unreachable!("GgmlType holds only known ids"),
                }
            }

            /// Elements per block (1 for plain types).
            pub fn block_size(self) -> u64 {
                match self.0 {
                    $($id => $block,)*
                    _ => unreachable!("GgmlType holds only known ids"),
                }
            }

            /// Bytes per block.
            pub fn type_size(self) -> u64 {
                match self.0 {
                    $($id => $bytes,)*
                    _ => unreachable!("GgmlType holds only known ids"),
                }
            }
        }
    };
}

ggml_types! {
    /// IEEE binary32.
    F32 = 0, block 1, bytes 4;
    /// IEEE binary16.
    F16 = 1, block 1, bytes 2;
    /// 32 × 4-bit, one f16 scale: `x = d * (q - 8)`. d (f16) + qs\[16\].
    Q4_0 = 2, block QK_LEGACY, bytes 2 + 16;
    /// 32 × 4-bit, f16 scale and min: `x = d * q + m`. d, m (f16) + qs\[16\].
    Q4_1 = 3, block QK_LEGACY, bytes 2 + 2 + 16;
    /// 32 × 5-bit, one f16 scale. d + qh\[4\] + qs\[16\].
    Q5_0 = 6, block QK_LEGACY, bytes 2 + 4 + 16;
    /// 32 × 5-bit, f16 scale and min. d, m + qh\[4\] + qs\[16\].
    Q5_1 = 7, block QK_LEGACY, bytes 2 + 2 + 4 + 16;
    /// 32 × int8, one f16 scale: `x = d * q`. d + qs\[32\].
    Q8_0 = 8, block QK_LEGACY, bytes 2 + 32;
    /// 32 × int8, f16 scale and f16 sum (activations of Q4_1/Q5_1 dots).
    Q8_1 = 9, block QK_LEGACY, bytes 2 + 2 + 32;
    /// K-quant, 2-bit: scales\[16\] + qs\[64\] + d, dmin (f16).
    Q2_K = 10, block QK_K, bytes 16 + 64 + 4;
    /// K-quant, 3-bit: hmask\[32\] + qs\[64\] + scales\[12\] + d (f16).
    Q3_K = 11, block QK_K, bytes 32 + 64 + 12 + 2;
    /// K-quant, 4-bit: d, dmin (f16) + scales\[12\] (6-bit) + qs\[128\].
    Q4_K = 12, block QK_K, bytes 4 + 12 + 128;
    /// K-quant, 5-bit: d, dmin (f16) + scales\[12\] + qh\[32\] + qs\[128\].
    Q5_K = 13, block QK_K, bytes 4 + 12 + 32 + 128;
    /// K-quant, 6-bit: ql\[128\] + qh\[64\] + scales\[16\] (i8) + d (f16).
    Q6_K = 14, block QK_K, bytes 128 + 64 + 16 + 2;
    /// K-quant, 8-bit (activations of K-quant dots): d (f32) + qs\[256\] + bsums\[16\] (i16).
    Q8_K = 15, block QK_K, bytes 4 + 256 + 32;
    /// i-quant, 2.06 bits per weight.
    IQ2_XXS = 16, block QK_K, bytes 2 + 64;
    /// i-quant, 2.31 bits per weight.
    IQ2_XS = 17, block QK_K, bytes 2 + 64 + 8;
    /// i-quant, 3.06 bits per weight.
    IQ3_XXS = 18, block QK_K, bytes 2 + 96;
    /// i-quant, 1.56 bits per weight.
    IQ1_S = 19, block QK_K, bytes 2 + 32 + 16;
    /// Non-linear 4-bit, blocks of 32.
    IQ4_NL = 20, block QK_LEGACY, bytes 2 + 16;
    /// i-quant, 3.44 bits per weight.
    IQ3_S = 21, block QK_K, bytes 2 + 64 + 8 + 32 + 4;
    /// i-quant, 2.56 bits per weight.
    IQ2_S = 22, block QK_K, bytes 2 + 64 + 8 + 8;
    /// Non-linear 4-bit, super-blocks of 256.
    IQ4_XS = 23, block QK_K, bytes 2 + 2 + 4 + 128;
    /// int8.
    I8 = 24, block 1, bytes 1;
    /// int16.
    I16 = 25, block 1, bytes 2;
    /// int32.
    I32 = 26, block 1, bytes 4;
    /// int64.
    I64 = 27, block 1, bytes 8;
    /// IEEE binary64.
    F64 = 28, block 1, bytes 8;
    /// i-quant, 1.75 bits per weight.
    IQ1_M = 29, block QK_K, bytes 32 + 16 + 8;
    /// bfloat16.
    BF16 = 30, block 1, bytes 2;
    /// Ternary, 1.69 bits per weight.
    TQ1_0 = 34, block QK_K, bytes 48 + 4 + 2;
    /// Ternary, 2.06 bits per weight.
    TQ2_0 = 35, block QK_K, bytes 64 + 2;
    /// Microscaling FP4: E8M0 scale + 32 × E2M1.
    MXFP4 = 39, block QK_LEGACY, bytes 1 + 16;
}

impl GgmlType {
    /// Whether the type is a block-quantized format (block size > 1).
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Bytes taken by `n_elements` elements, or `None` if `n_elements` is not a
    /// whole number of blocks or the size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        if !n_elements.is_multiple_of(self.block_size()) {
            return None;
        }
        (n_elements / self.block_size()).checked_mul(self.type_size())
    }
}

impl fmt::Debug for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for &ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 40, u32::MAX] {
            assert_eq!(GgmlType::from_id(removed), None);
        }
    }

    #[test]
    fn sizes_match_the_format() {
        let expect = [
            (GgmlType::F32, 1, 4),
            (GgmlType::F16, 1, 2),
            (GgmlType::BF16, 1, 2),
            (GgmlType::Q4_0, 32, 18),
            (GgmlType::Q4_1, 32, 20),
            (GgmlType::Q5_0, 32, 22),
            (GgmlType::Q5_1, 32, 24),
            (GgmlType::Q8_0, 32, 34),
            (GgmlType::Q8_1, 32, 36),
            (GgmlType::Q2_K, 256, 84),
            (GgmlType::Q3_K, 256, 110),
            (GgmlType::Q4_K, 256, 144),
            (GgmlType::Q5_K, 256, 176),
            (GgmlType::Q6_K, 256, 210),
            (GgmlType::Q8_K, 256, 292),
            (GgmlType::IQ2_XXS, 256, 66),
            (GgmlType::IQ2_XS, 256, 74),
            (GgmlType::IQ3_XXS, 256, 98),
            (GgmlType::IQ1_S, 256, 50),
            (GgmlType::IQ4_NL, 32, 18),
            (GgmlType::IQ3_S, 256, 110),
            (GgmlType::IQ2_S, 256, 82),
            (GgmlType::IQ4_XS, 256, 136),
            (GgmlType::IQ1_M, 256, 56),
            (GgmlType::TQ1_0, 256, 54),
            (GgmlType::TQ2_0, 256, 66),
            (GgmlType::MXFP4, 32, 17),
        ];
        for (ty, block, size) in expect {
            assert_eq!((ty.block_size(), ty.type_size()), (block, size), "{ty}");
        }
    }

    #[test]
    fn bytes_for_checks_blocks_and_overflow() {
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
        assert_eq!(GgmlType::Q8_0.bytes_for(48), None);
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
    }
}
