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

/// A tensor element type of GGML / GGUF.
#[allow(non_camel_case_types)] // The format's own names (Q4_K, IQ2_XXS, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GgmlType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// 32 × 4-bit, one f16 scale: `x = d * (q - 8)`.
    Q4_0,
    /// 32 × 4-bit, f16 scale and min: `x = d * q + m`.
    Q4_1,
    /// 32 × 5-bit, one f16 scale.
    Q5_0,
    /// 32 × 5-bit, f16 scale and min.
    Q5_1,
    /// 32 × int8, one f16 scale: `x = d * q`.
    Q8_0,
    /// 32 × int8, f16 scale and f16 sum (activation format of Q4_1/Q5_1 dots).
    Q8_1,
    /// K-quant, 2-bit.
    Q2_K,
    /// K-quant, 3-bit.
    Q3_K,
    /// K-quant, 4-bit (super-blocks of 8 × 32, 6-bit scales and mins).
    Q4_K,
    /// K-quant, 5-bit.
    Q5_K,
    /// K-quant, 6-bit (super-blocks of 16 × 16, int8 scales).
    Q6_K,
    /// K-quant, 8-bit (activation format of K-quant dots; f32 scale).
    Q8_K,
    /// i-quant, 2.0625 bits per weight.
    IQ2_XXS,
    /// i-quant, 2.31 bits per weight.
    IQ2_XS,
    /// i-quant, 3.06 bits per weight.
    IQ3_XXS,
    /// i-quant, 1.56 bits per weight.
    IQ1_S,
    /// Non-linear 4-bit, blocks of 32.
    IQ4_NL,
    /// i-quant, 3.44 bits per weight.
    IQ3_S,
    /// i-quant, 2.5 bits per weight.
    IQ2_S,
    /// Non-linear 4-bit, super-blocks of 256.
    IQ4_XS,
    /// int8.
    I8,
    /// int16.
    I16,
    /// int32.
    I32,
    /// int64.
    I64,
    /// IEEE binary64.
    F64,
    /// i-quant, 1.75 bits per weight.
    IQ1_M,
    /// bfloat16.
    BF16,
    /// Ternary, 1.69 bits per weight.
    TQ1_0,
    /// Ternary, 2.06 bits per weight.
    TQ2_0,
    /// Microscaling FP4 (E2M1 values, one E8M0 scale per 32).
    MXFP4,
}

/// `(type, id, name, block_size, type_size)` for every known type.
const TABLE: &[(GgmlType, u32, &str, u64, u64)] = &[
    (GgmlType::F32, 0, "F32", 1, 4),
    (GgmlType::F16, 1, "F16", 1, 2),
    (GgmlType::Q4_0, 2, "Q4_0", QK_LEGACY, 2 + 16),
    (GgmlType::Q4_1, 3, "Q4_1", QK_LEGACY, 2 + 2 + 16),
    (GgmlType::Q5_0, 6, "Q5_0", QK_LEGACY, 2 + 4 + 16),
    (GgmlType::Q5_1, 7, "Q5_1", QK_LEGACY, 2 + 2 + 4 + 16),
    (GgmlType::Q8_0, 8, "Q8_0", QK_LEGACY, 2 + 32),
    (GgmlType::Q8_1, 9, "Q8_1", QK_LEGACY, 2 + 2 + 32),
    // d, dmin (f16) + scales[16] + qs[64]
    (GgmlType::Q2_K, 10, "Q2_K", QK_K, 4 + 16 + 64),
    // hmask[32] + qs[64] + scales[12] + d (f16)
    (GgmlType::Q3_K, 11, "Q3_K", QK_K, 32 + 64 + 12 + 2),
    // d, dmin (f16) + scales[12] + qs[128]
    (GgmlType::Q4_K, 12, "Q4_K", QK_K, 4 + 12 + 128),
    // d, dmin (f16) + scales[12] + qh[32] + qs[128]
    (GgmlType::Q5_K, 13, "Q5_K", QK_K, 4 + 12 + 32 + 128),
    // ql[128] + qh[64] + scales[16] (i8) + d (f16)
    (GgmlType::Q6_K, 14, "Q6_K", QK_K, 128 + 64 + 16 + 2),
    // d (f32) + qs[256] (i8) + bsums[16] (i16)
    (GgmlType::Q8_K, 15, "Q8_K", QK_K, 4 + 256 + 32),
    (GgmlType::IQ2_XXS, 16, "IQ2_XXS", QK_K, 2 + 64),
    (GgmlType::IQ2_XS, 17, "IQ2_XS", QK_K, 2 + 64 + 8),
    (GgmlType::IQ3_XXS, 18, "IQ3_XXS", QK_K, 2 + 96),
    (GgmlType::IQ1_S, 19, "IQ1_S", QK_K, 2 + 32 + 16),
    (GgmlType::IQ4_NL, 20, "IQ4_NL", QK_LEGACY, 2 + 16),
    (GgmlType::IQ3_S, 21, "IQ3_S", QK_K, 2 + 64 + 8 + 32 + 4),
    (GgmlType::IQ2_S, 22, "IQ2_S", QK_K, 2 + 64 + 8 + 8),
    (GgmlType::IQ4_XS, 23, "IQ4_XS", QK_K, 2 + 2 + 4 + 128),
    (GgmlType::I8, 24, "I8", 1, 1),
    (GgmlType::I16, 25, "I16", 1, 2),
    (GgmlType::I32, 26, "I32", 1, 4),
    (GgmlType::I64, 27, "I64", 1, 8),
    (GgmlType::F64, 28, "F64", 1, 8),
    (GgmlType::IQ1_M, 29, "IQ1_M", QK_K, 32 + 16 + 8),
    (GgmlType::BF16, 30, "BF16", 1, 2),
    (GgmlType::TQ1_0, 34, "TQ1_0", QK_K, 48 + 4 + 2),
    (GgmlType::TQ2_0, 35, "TQ2_0", QK_K, 64 + 2),
    (GgmlType::MXFP4, 39, "MXFP4", QK_LEGACY, 1 + 16),
];

impl GgmlType {
    /// Every type this reader knows, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|row| row.0)
    }

    /// The type with this ggml id, or `None` for unknown or removed ids.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|row| row.1 == id).map(|row| row.0)
    }

    fn row(self) -> &'static (GgmlType, u32, &'static str, u64, u64) {
        // Every variant has exactly one row (checked by a unit test).
        TABLE.iter().find(|row| row.0 == self).unwrap_or(&TABLE[0])
    }

    /// The ggml id stored in files.
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// The format's name, e.g. `"Q4_K"`.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Elements per block (1 for plain types).
    pub fn block_size(self) -> u64 {
        self.row().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> u64 {
        self.row().4
    }

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

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for ty in GgmlType::all() {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
            assert_eq!(TABLE.iter().filter(|r| r.0 == ty).count(), 1, "{ty}");
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
