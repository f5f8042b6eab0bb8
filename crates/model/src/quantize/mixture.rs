//! llama.cpp's quantization mixtures (`LLAMA_FTYPE_MOSTLY_*`), one table entry
//! each: the default tensor type, and the few kinds of tensors that deviate
//! from it and when.
//!
//! The rules are those of `llama_tensor_get_type_impl` in llama.cpp's
//! `src/llama-quant.cpp` (the copy vendored by llama-cpp-python 0.3.36), for
//! dense models (no experts), not Falcon, and no importance matrix; the
//! planner refuses the other cases rather than guess. What every mixture
//! shares (the output tensor's Q6_K, the fallbacks for rows that are not whole
//! blocks, the 70B `attn_v` bump) lives in [`super::plan`].
//!
//! `attn_v` rules also apply to fused `attn_qkv` and to `attn_kv_b`, as in
//! llama.cpp (its `category_is_attn_v`). The positions they read:
//! - `attn_v` rules count `attn_v`-like tensors (`i` of `n`, in llama.cpp's
//!   tensor order: by block, then by name);
//! - `ffn_down` rules count `ffn_down` tensors against `n` = the block count;
//! - `attn_output` rules apply to every `attn_output` tensor.

use smallmind_kernels::DType;

/// When a [`Rule`] picks its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// Every tensor of the kind.
    Always,
    /// llama.cpp's `use_more_bits(i, n)`: the first and last eighth, and every
    /// third tensor in between (`i < n/8 || i ≥ 7n/8 || (i − n/8) % 3 == 2`).
    MoreBits,
    /// The first `k` tensors of the kind (`i < k`).
    FirstTensors(usize),
    /// The first `n/k` tensors of the kind (`i < n/k`, integer division).
    FirstFraction(usize),
    /// Models with at least 4 query heads per KV head (`n_head / n_head_kv ≥ 4`).
    GroupedQueries4,
}

/// A deviation from a mixture's default type for one kind of tensor: `then`
/// where `when` holds, else `otherwise` (the default type if `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) when: When,
    pub(crate) then: DType,
    pub(crate) otherwise: Option<DType>,
}

impl Rule {
    /// `then` where `when` holds, `otherwise` elsewhere.
    const fn or(self, otherwise: DType) -> Rule {
        Rule {
            otherwise: Some(otherwise),
            ..self
        }
    }
}

const fn rule(when: When, then: DType) -> Rule {
    Rule {
        when,
        then,
        otherwise: None,
    }
}

const fn always(then: DType) -> Rule {
    rule(When::Always, then)
}

const fn more_bits(then: DType) -> Rule {
    rule(When::MoreBits, then)
}

const fn first(k: usize, then: DType) -> Rule {
    rule(When::FirstTensors(k), then)
}

/// The first `1/k` of the kind.
const fn first_part(k: usize, then: DType) -> Rule {
    rule(When::FirstFraction(k), then)
}

const fn gqa4(then: DType) -> Rule {
    rule(When::GroupedQueries4, then)
}

/// One llama.cpp mixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mixture {
    /// llama.cpp's name (`llama-quantize`'s argument), e.g. `Q4_K_M`.
    pub name: &'static str,
    /// `LLAMA_FTYPE_MOSTLY_*`, written as `general.file_type`.
    pub file_type: u32,
    /// The type of every weight no rule names.
    pub base: DType,
    pub(crate) attn_v: Option<Rule>,
    pub(crate) ffn_down: Option<Rule>,
    pub(crate) attn_output: Option<Rule>,
}

impl Mixture {
    const fn new(name: &'static str, file_type: u32, base: DType) -> Mixture {
        Mixture {
            name,
            file_type,
            base,
            attn_v: None,
            ffn_down: None,
            attn_output: None,
        }
    }

    const fn attn_v(self, rule: Rule) -> Mixture {
        Mixture {
            attn_v: Some(rule),
            ..self
        }
    }

    const fn ffn_down(self, rule: Rule) -> Mixture {
        Mixture {
            ffn_down: Some(rule),
            ..self
        }
    }

    const fn attn_output(self, rule: Rule) -> Mixture {
        Mixture {
            attn_output: Some(rule),
            ..self
        }
    }
}

use DType::{
    BF16, F16, F32, IQ3_S, IQ4_NL, IQ4_XS, Q2_K, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K,
    Q8_0,
};

/// Every mixture we write, in `llama-quantize --help` order. Mixtures that
/// need an importance matrix (IQ2_XS, IQ2_XXS, IQ1_*, Q2_K_S) or a type the
/// registry lacks (IQ3_XS, IQ3_XXS, IQ2_M, TQ*) are not listed.
#[rustfmt::skip]
pub const MIXTURES: &[Mixture] = &[
    Mixture::new("Q4_0", 2, Q4_0),
    Mixture::new("Q4_1", 3, Q4_1),
    Mixture::new("Q5_0", 8, Q5_0),
    Mixture::new("Q5_1", 9, Q5_1),
    Mixture::new("IQ4_NL", 25, IQ4_NL)
        .attn_v(gqa4(Q5_K))
        .ffn_down(first_part(8, Q5_K)),
    Mixture::new("IQ3_S", 26, IQ3_S)
        .attn_v(gqa4(Q4_K)),
    Mixture::new("IQ3_M", 27, IQ3_S)
        .attn_v(always(Q4_K))
        .ffn_down(first_part(8, Q4_K))
        .attn_output(always(Q4_K)),
    Mixture::new("Q2_K", 10, Q2_K)
        .attn_v(gqa4(Q4_K).or(Q3_K))
        .ffn_down(always(Q3_K))
        .attn_output(always(Q3_K)),
    Mixture::new("Q3_K_S", 11, Q3_K),
    Mixture::new("Q3_K_M", 12, Q3_K)
        .attn_v(first(2, Q5_K).or(Q4_K))
        .ffn_down(first_part(16, Q5_K).or(Q4_K))
        .attn_output(always(Q4_K)),
    Mixture::new("Q3_K_L", 13, Q3_K)
        .attn_v(always(Q5_K))
        .ffn_down(always(Q5_K))
        .attn_output(always(Q5_K)),
    Mixture::new("IQ4_XS", 30, IQ4_XS)
        .attn_v(gqa4(Q5_K))
        .ffn_down(first_part(8, Q5_K)),
    Mixture::new("Q4_K_S", 14, Q4_K)
        .attn_v(first(4, Q5_K))
        .ffn_down(first_part(8, Q5_K)),
    Mixture::new("Q4_K_M", 15, Q4_K)
        .attn_v(more_bits(Q6_K))
        .ffn_down(more_bits(Q6_K)),
    Mixture::new("Q5_K_S", 16, Q5_K),
    Mixture::new("Q5_K_M", 17, Q5_K)
        .attn_v(more_bits(Q6_K))
        .ffn_down(more_bits(Q6_K)),
    Mixture::new("Q6_K", 18, Q6_K),
    Mixture::new("Q8_0", 7, Q8_0),
    Mixture::new("F16", 1, F16),
    Mixture::new("BF16", 32, BF16),
    Mixture::new("F32", 0, F32),
];

/// The mixture called `name` (ASCII case ignored).
pub fn mixture(name: &str) -> Option<&'static Mixture> {
    MIXTURES.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// llama.cpp's `use_more_bits(i, n)`.
pub(crate) fn use_more_bits(i: usize, n: usize) -> bool {
    // `i − n/8` may be negative in C; it only matters when `i ≥ n/8` here.
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

impl When {
    /// Whether the rule applies to tensor `i` of `n` of its kind in a model
    /// with `gqa` query heads per KV head.
    pub(crate) fn holds(self, i: usize, n: usize, gqa: usize) -> bool {
        match self {
            When::Always => true,
            When::MoreBits => use_more_bits(i, n),
            When::FirstTensors(k) => i < k,
            When::FirstFraction(k) => i < n / k,
            When::GroupedQueries4 => gqa >= 4,
        }
    }
}

impl Rule {
    /// The type of tensor `i` of `n` of this rule's kind.
    pub(crate) fn pick(self, base: DType, i: usize, n: usize, gqa: usize) -> DType {
        if self.when.holds(i, n, gqa) {
            self.then
        } else {
            self.otherwise.unwrap_or(base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_more_bits_matches_llama_cpp_for_30_layers() {
        // n = 30: n/8 = 3, 7n/8 = 26; in between every third from 5 (5 − 3 = 2).
        let picked: Vec<usize> = (0..30).filter(|&i| use_more_bits(i, 30)).collect();
        assert_eq!(picked, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
    }

    #[test]
    fn names_are_unique_and_found_in_any_case() {
        for m in MIXTURES {
            assert_eq!(mixture(&m.name.to_lowercase()), Some(m));
            assert_eq!(MIXTURES.iter().filter(|o| o.name == m.name).count(), 1);
        }
        assert_eq!(mixture("Q4_K"), None);
    }
}
