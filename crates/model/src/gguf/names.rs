//! llama.cpp tensor names → Hugging Face names, so GGUF weights go through
//! the same [`crate::Model::from_tensors`] checks as safetensors checkpoints.
//! Each family lists its block tensors in its [`GgufNames`]; the names
//! outside the blocks are shared:
//!
//! | GGUF | Hugging Face |
//! |---|---|
//! | `token_embd.weight` | `model.embed_tokens.weight` |
//! | `blk.N.<gguf>` | `model.layers.N.<hf>` (the family's table) |
//! | `output_norm.weight` | `model.norm.weight` |
//! | `output.weight` | `lm_head.weight` |
//!
//! Every other tensor is refused ([`GgufTensor::Unsupported`]) rather than
//! silently dropped, since a weight we skip would change the result — except
//! `blk.N.attn_rot_embd.weight`, a precomputed rotary table written by old
//! converters, which RoPE recomputes from `{arch}.rope.freq_base`
//! ([`GgufTensor::Ignored`]), and `rope_freqs.weight` (Llama 3.1's RoPE
//! frequency divisors) and `rope_factors_{short,long}.weight` (LongRoPE's),
//! which the config reads.

use crate::family::GgufNames;

/// What a GGUF tensor becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GgufTensor {
    /// A weight, under its Hugging Face name.
    Weight {
        /// The Hugging Face name.
        hf_name: String,
        /// The projection's rows were permuted by llama.cpp's converter for
        /// its RoPE convention (`attn_q`, `attn_k` of the `llama`
        /// architecture); see [`super::tensors::gguf_row_for_hf_row`].
        rope_permuted: Option<QkProjection>,
    },
    /// Redundant data, skipped.
    Ignored,
    /// A tensor we cannot load, and why.
    Unsupported(String),
}

/// Which RoPE-permuted projection a tensor is (the head count differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QkProjection {
    /// `attn_q`: `{arch}.attention.head_count` heads.
    Query,
    /// `attn_k`: `{arch}.attention.head_count_kv` heads.
    Key,
}

/// Classifies GGUF tensor `name` of a file of the family `names` with
/// `num_layers` blocks.
pub fn classify(name: &str, num_layers: usize, names: &GgufNames) -> GgufTensor {
    let weight = |hf_name: String, rope_permuted| GgufTensor::Weight {
        hf_name,
        rope_permuted,
    };
    let foreign =
        || GgufTensor::Unsupported(format!("not a tensor of the {} architecture", names.arch));
    match name {
        "token_embd.weight" => return weight("model.embed_tokens.weight".into(), None),
        "output_norm.weight" => return weight("model.norm.weight".into(), None),
        "output.weight" => return weight("lm_head.weight".into(), None),
        // Read into the config (`FamilyParams::rope_divisors`, `rope_long`).
        "rope_freqs.weight" | "rope_factors_short.weight" | "rope_factors_long.weight" => {
            return GgufTensor::Ignored;
        }
        _ => {}
    }
    let Some((layer, suffix)) = block_tensor(name) else {
        return foreign();
    };
    if layer >= num_layers {
        return GgufTensor::Unsupported(format!(
            "block {layer} is past the last block ({num_layers} blocks in {}.block_count)",
            names.arch
        ));
    }
    if suffix == "attn_rot_embd.weight" {
        return GgufTensor::Ignored;
    }
    let mut pairs = names.block.iter().flat_map(|table| table.iter());
    let Some(&(_, hf_suffix)) = pairs.find(|(gguf, _)| *gguf == suffix) else {
        return foreign();
    };
    let rope_permuted = match suffix {
        _ if !names.rope_permuted => None,
        "attn_q.weight" => Some(QkProjection::Query),
        "attn_k.weight" => Some(QkProjection::Key),
        _ => None,
    };
    weight(format!("model.layers.{layer}.{hf_suffix}"), rope_permuted)
}

/// `blk.N.rest` → `(N, rest)`, with `N` in canonical decimal (no sign or
/// leading zero), so two GGUF names never map to one Hugging Face name.
fn block_tensor(name: &str) -> Option<(usize, &str)> {
    let (index, suffix) = name.strip_prefix("blk.")?.split_once('.')?;
    let canonical = index == "0" || (!index.starts_with('0') && !index.is_empty());
    if !canonical || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((index.parse().ok()?, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA: GgufNames = match crate::family::llama::FAMILY.gguf {
        Some(names) => names,
        None => unreachable!(),
    };

    fn classify(name: &str, num_layers: usize) -> GgufTensor {
        super::classify(name, num_layers, &LLAMA)
    }

    fn hf(name: &str) -> Option<String> {
        match classify(name, 30) {
            GgufTensor::Weight { hf_name, .. } => Some(hf_name),
            _ => None,
        }
    }

    #[test]
    fn llama_names_map_to_hf() {
        assert_eq!(
            hf("token_embd.weight").unwrap(),
            "model.embed_tokens.weight"
        );
        assert_eq!(
            hf("blk.12.ffn_down.weight").unwrap(),
            "model.layers.12.mlp.down_proj.weight"
        );
        assert_eq!(
            hf("blk.0.attn_output.weight").unwrap(),
            "model.layers.0.self_attn.o_proj.weight"
        );
        assert_eq!(hf("output.weight").unwrap(), "lm_head.weight");
        assert_eq!(
            classify("blk.3.attn_k.weight", 30),
            GgufTensor::Weight {
                hf_name: "model.layers.3.self_attn.k_proj.weight".into(),
                rope_permuted: Some(QkProjection::Key)
            }
        );
    }

    #[test]
    fn other_names_are_refused_or_ignored() {
        for bad in [
            "blk.30.attn_q.weight",
            "blk.01.attn_q.weight",
            "blk.+1.attn_q.weight",
            "blk..attn_q.weight",
            "blk.1.attn_q.bias",
            "blk.1",
            "",
        ] {
            assert!(
                matches!(classify(bad, 30), GgufTensor::Unsupported(_)),
                "{bad}"
            );
        }
        assert_eq!(
            classify("blk.2.attn_rot_embd.weight", 30),
            GgufTensor::Ignored
        );
    }
}
