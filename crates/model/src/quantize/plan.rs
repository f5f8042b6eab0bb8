//! One type per tensor: llama.cpp's `llama_tensor_get_type` (its
//! `src/llama-quant.cpp`) over a file's tensor names and shapes, for a
//! [`Target`].
//!
//! In order, for each tensor:
//! 1. Tensors llama.cpp never quantizes keep their type: fewer than 2 dims,
//!    names not ending in `weight`, norms (`*_norm.weight`), expert routers
//!    (`ffn_gate_inp`), position and token-type embeddings, Gemma 3n's
//!    `altup`/`laurel`/`per_layer_model_proj`, Mamba's `ssm_conv1d`.
//! 2. A float target (F32, F16, BF16) is the type of every other tensor.
//! 3. A mixture (not `--pure`) picks by kind ([`super::mixture`]): the output
//!    projection (`output.weight`, or `token_embd.weight` when the embeddings
//!    are tied, i.e. there is no `output.weight`) takes Q6_K, or Q8_0 where its
//!    rows are not whole blocks of the base type (and stays Q8_0 in Q8_0
//!    files); `attn_v`, `ffn_down` and `attn_output` follow the mixture's
//!    rules; Llama 70B (80 blocks, grouped queries) lifts Q3_K/Q4_K `attn_v`
//!    to Q5_K.
//! 4. Rows that are not whole blocks of the chosen type fall back
//!    ([`fallback`]): IQ3_S/IQ4_XS/IQ2_XS → IQ4_NL, Q2_K/Q3_K → Q4_0,
//!    Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, and F16 when even that (or a
//!    32-value type) does not fit.

use smallmind_formats::gguf::{GgmlType, Metadata, TensorInfo};
use smallmind_kernels::DType;

use super::mixture::Mixture;
use super::{QuantizeError, Target};

/// What happens to one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTensor {
    /// The tensor's name.
    pub name: String,
    /// Its type in the input file.
    pub from: GgmlType,
    /// Its new type, or `None` to copy its bytes unchanged.
    pub to: Option<DType>,
}

impl PlannedTensor {
    /// The type the output file gives this tensor, as ggml names it
    /// (`"Q4_K"`, `"F32"`).
    pub fn type_name(&self) -> String {
        match self.to {
            Some(dtype) => dtype.name().to_ascii_uppercase(),
            None => self.from.name().to_string(),
        }
    }
}

/// The model facts llama.cpp's rules read.
#[derive(Clone, Copy, Debug)]
struct ModelFacts {
    /// `{arch}.block_count`: the `n` of `ffn_down` positions.
    n_layer: usize,
    /// Query heads per KV head (`head_count / head_count_kv`).
    gqa: usize,
    /// Llama 2/3 70B (llama.cpp's `LLM_TYPE_70B` for the llama architecture).
    is_70b: bool,
}

impl ModelFacts {
    fn read(metadata: &Metadata) -> Result<ModelFacts, QuantizeError> {
        let arch = metadata.get_str("general.architecture")?;
        if arch == "falcon" {
            return Err(QuantizeError::UnsupportedModel(
                "Falcon's mixture rules are not implemented".into(),
            ));
        }
        let key = |name: &str| format!("{arch}.{name}");
        let experts = match metadata.get(&key("expert_count")) {
            Some(_) => metadata.get_int::<usize>(&key("expert_count"))?,
            None => 0,
        };
        if experts > 1 {
            return Err(QuantizeError::UnsupportedModel(format!(
                "{experts} experts: the mixture rules of mixture-of-experts models are not implemented"
            )));
        }
        let n_layer = metadata.get_int::<usize>(&key("block_count"))?;
        let n_head = metadata.get_int::<usize>(&key("attention.head_count"))?;
        let n_head_kv = match metadata.get(&key("attention.head_count_kv")) {
            Some(_) => metadata.get_int::<usize>(&key("attention.head_count_kv"))?,
            None => n_head,
        };
        Ok(ModelFacts {
            n_layer,
            gqa: n_head.checked_div(n_head_kv).unwrap_or(0),
            is_70b: arch == "llama" && n_layer == 80 && n_head != n_head_kv,
        })
    }
}

/// The kinds of tensors the rules tell apart (llama.cpp's `tensor_category`,
/// less the kinds no mixture here treats specially).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Output,
    TokenEmbedding,
    /// `attn_v`, fused `attn_qkv` and MLA's `attn_kv_b`.
    AttnV,
    AttnOutput,
    FfnDown,
    Other,
}

impl Kind {
    fn of(name: &str) -> Kind {
        match name {
            "output.weight" => Kind::Output,
            "token_embd.weight" | "per_layer_token_embd.weight" => Kind::TokenEmbedding,
            _ if ["attn_qkv.weight", "attn_kv_b.weight", "attn_v.weight"]
                .iter()
                .any(|s| name.contains(s)) =>
            {
                Kind::AttnV
            }
            _ if name.contains("attn_output.weight") => Kind::AttnOutput,
            _ if name.contains("ffn_down") => Kind::FfnDown,
            _ => Kind::Other,
        }
    }
}

/// Whether llama.cpp quantizes this tensor at all (its
/// `tensor_allows_quantization`, for the architectures above).
fn quantizable(info: &TensorInfo) -> bool {
    const NEVER: &[&str] = &[
        "_norm.weight",
        "ffn_gate_inp.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
    ];
    let name = info.name();
    // ggml's `ggml_n_dims`: trailing dims of 1 do not count.
    let n_dims = info
        .dims()
        .iter()
        .rposition(|&d| d > 1)
        .map_or(1, |i| i + 1);
    n_dims >= 2
        && name.ends_with("weight")
        && !NEVER.iter().any(|s| name.contains(s))
        && name != "position_embd.weight"
        && name != "token_types.weight"
}

/// The block a tensor name belongs to (`blk.N.`), for llama.cpp's tensor
/// order.
fn block_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("blk.")?;
    rest[..rest.find('.')?].parse().ok()
}

/// The type `dtype` becomes for rows of `ncols` values: itself if the rows
/// are whole blocks, else llama.cpp's fallback (`tensor_type_fallback`).
pub fn fallback(dtype: DType, ncols: u64) -> Result<DType, QuantizeError> {
    let fits = |d: DType| ncols.is_multiple_of(d.block_size() as u64);
    if fits(dtype) {
        return Ok(dtype);
    }
    let smaller = match dtype {
        DType::IQ2_XS | DType::IQ3_S | DType::IQ4_XS => DType::IQ4_NL,
        DType::Q2_K | DType::Q3_K => DType::Q4_0,
        DType::Q4_K => DType::Q5_0,
        DType::Q5_K => DType::Q5_1,
        DType::Q6_K => DType::Q8_0,
        d if d.block_size() <= 32 => d,
        d => return Err(QuantizeError::NoFallback(d)),
    };
    Ok(if fits(smaller) { smaller } else { DType::F16 })
}

/// Per-kind positions, counted as llama.cpp counts them.
struct Positions {
    attn_v: usize,
    n_attn_v: usize,
    ffn_down: usize,
}

/// The plan for `tensors` (a file's, in file order) under `target`: one
/// entry per tensor, in the same order.
///
/// # Errors
/// [`QuantizeError::Gguf`] when a metadata key the rules read is missing or
/// not an integer, [`QuantizeError::UnsupportedModel`] for models whose
/// rules are not implemented (experts, Falcon).
pub fn plan(
    metadata: &Metadata,
    tensors: &[TensorInfo],
    target: &Target,
) -> Result<Vec<PlannedTensor>, QuantizeError> {
    let facts = match target.mixture() {
        Some(_) => Some(ModelFacts::read(metadata)?),
        None => None,
    };
    let tied = !tensors.iter().any(|t| t.name() == "output.weight");
    // llama.cpp visits tensors by block (non-block tensors first), then name.
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by_key(|&i| (block_of(tensors[i].name()), tensors[i].name()));
    let mut positions = Positions {
        attn_v: 0,
        n_attn_v: tensors
            .iter()
            .filter(|t| Kind::of(t.name()) == Kind::AttnV)
            .count(),
        ffn_down: 0,
    };
    let mut planned = vec![None; tensors.len()];
    for i in order {
        let info = &tensors[i];
        let to = if quantizable(info) {
            Some(tensor_type(info, target, facts, tied, &mut positions)?)
        } else {
            None
        };
        let from = info.ggml_type();
        planned[i] = Some(PlannedTensor {
            name: info.name().to_string(),
            from,
            to: to.filter(|d| d.ggml_id() != from.id()),
        });
    }
    Ok(planned.into_iter().flatten().collect())
}

/// The type of one quantizable tensor.
fn tensor_type(
    info: &TensorInfo,
    target: &Target,
    facts: Option<ModelFacts>,
    tied: bool,
    positions: &mut Positions,
) -> Result<DType, QuantizeError> {
    let base = target.base();
    if !base.is_quantized() {
        return Ok(base);
    }
    let ncols = info.dims()[0];
    let chosen = match (target.mixture(), facts) {
        (Some(mixture), Some(facts)) => mixture_type(
            mixture,
            Kind::of(info.name()),
            ncols,
            facts,
            tied,
            positions,
        ),
        _ => base,
    };
    fallback(chosen, ncols)
}

/// A mixture's choice for a tensor of `kind` (before the fallback).
fn mixture_type(
    mixture: &Mixture,
    kind: Kind,
    ncols: u64,
    facts: ModelFacts,
    tied: bool,
    positions: &mut Positions,
) -> DType {
    let base = mixture.base;
    match kind {
        Kind::Output | Kind::TokenEmbedding if kind == Kind::Output || tied => {
            if !ncols.is_multiple_of(base.block_size() as u64) {
                DType::Q8_0
            } else if base != DType::Q8_0 {
                DType::Q6_K
            } else {
                base
            }
        }
        Kind::AttnV => {
            let i = positions.attn_v;
            positions.attn_v += 1;
            let picked = mixture.attn_v.map_or(base, |rule| {
                rule.pick(base, i, positions.n_attn_v, facts.gqa)
            });
            match picked {
                DType::Q3_K | DType::Q4_K if facts.is_70b => DType::Q5_K,
                other => other,
            }
        }
        Kind::FfnDown => {
            let i = positions.ffn_down;
            positions.ffn_down += 1;
            mixture
                .ffn_down
                .map_or(base, |rule| rule.pick(base, i, facts.n_layer, facts.gqa))
        }
        Kind::AttnOutput => mixture
            .attn_output
            .map_or(base, |rule| rule.pick(base, 0, facts.n_layer, facts.gqa)),
        Kind::Output | Kind::TokenEmbedding | Kind::Other => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks_follow_llama_cpp() {
        let cases = [
            (DType::Q4_K, 576, DType::Q5_0),
            (DType::Q4_K, 1536, DType::Q4_K),
            (DType::Q5_K, 576, DType::Q5_1),
            (DType::Q6_K, 576, DType::Q8_0),
            (DType::Q2_K, 576, DType::Q4_0),
            (DType::Q3_K, 576, DType::Q4_0),
            (DType::IQ4_XS, 576, DType::IQ4_NL),
            (DType::IQ3_S, 576, DType::IQ4_NL),
            (DType::Q4_K, 176, DType::F16),
            (DType::Q4_0, 176, DType::F16),
            (DType::Q4_0, 64, DType::Q4_0),
        ];
        for (dtype, ncols, want) in cases {
            assert_eq!(fallback(dtype, ncols).unwrap(), want, "{dtype} {ncols}");
        }
    }

    #[test]
    fn block_order_puts_non_block_tensors_first() {
        assert_eq!(block_of("blk.12.attn_v.weight"), Some(12));
        assert_eq!(block_of("output.weight"), None);
        assert!(None < Some(0usize));
    }
}
