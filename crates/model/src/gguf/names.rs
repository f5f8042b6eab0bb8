//! llama.cpp tensor names (`LLM_TENSOR_NAMES` for `LLM_ARCH_LLAMA`) →
//! Hugging Face names, so GGUF weights go through the same
//! [`crate::Model::from_tensors`] checks as safetensors checkpoints.
//!
//! | GGUF | Hugging Face |
//! |---|---|
//! | `token_embd.weight` | `model.embed_tokens.weight` |
//! | `blk.N.attn_norm.weight` | `model.layers.N.input_layernorm.weight` |
//! | `blk.N.attn_{q,k,v,output}.weight` | `model.layers.N.self_attn.{q,k,v,o}_proj.weight` |
//! | `blk.N.ffn_norm.weight` | `model.layers.N.post_attention_layernorm.weight` |
//! | `blk.N.ffn_{gate,up,down}.weight` | `model.layers.N.mlp.{gate,up,down}_proj.weight` |
//! | `output_norm.weight` | `model.norm.weight` |
//! | `output.weight` | `lm_head.weight` |
//!
//! Every other tensor is refused ([`GgufTensor::Unsupported`]) rather than
//! silently dropped, since a weight we skip would change the result — except
//! `blk.N.attn_rot_embd.weight`, a precomputed rotary table written by old
//! converters, which RoPE recomputes from `llama.rope.freq_base`
//! ([`GgufTensor::Ignored`]). In particular `rope_freqs.weight` (Llama 3.1
//! RoPE scaling factors) is refused: scaled RoPE is not implemented.

/// What a GGUF tensor of a Llama file becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GgufTensor {
    /// A weight, under its Hugging Face name.
    Weight {
        /// The Hugging Face name.
        hf_name: String,
        /// The projection's rows were permuted by llama.cpp's converter for
        /// its RoPE convention (`attn_q`, `attn_k`); see
        /// [`super::tensors::gguf_row_for_hf_row`].
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
    /// `attn_q`: `llama.attention.head_count` heads.
    Query,
    /// `attn_k`: `llama.attention.head_count_kv` heads.
    Key,
}

/// Classifies GGUF tensor `name` for a model of `num_layers` blocks.
pub fn classify(name: &str, num_layers: usize) -> GgufTensor {
    let weight = |hf_name: String, rope_permuted| GgufTensor::Weight {
        hf_name,
        rope_permuted,
    };
    match name {
        "token_embd.weight" => return weight("model.embed_tokens.weight".into(), None),
        "output_norm.weight" => return weight("model.norm.weight".into(), None),
        "output.weight" => return weight("lm_head.weight".into(), None),
        "rope_freqs.weight" => {
            return GgufTensor::Unsupported(
                "RoPE frequency factors (Llama 3.1-style scaled RoPE) are not implemented".into(),
            );
        }
        _ => {}
    }
    let Some((layer, suffix)) = block_tensor(name) else {
        return GgufTensor::Unsupported("not a tensor of the llama architecture".into());
    };
    if layer >= num_layers {
        return GgufTensor::Unsupported(format!(
            "block {layer} is past the last block ({num_layers} blocks in llama.block_count)"
        ));
    }
    let (hf_suffix, rope_permuted) = match suffix {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(QkProjection::Query)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(QkProjection::Key)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        "attn_rot_embd.weight" => return GgufTensor::Ignored,
        _ => return GgufTensor::Unsupported("not a tensor of the llama architecture".into()),
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
            "rope_freqs.weight",
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
