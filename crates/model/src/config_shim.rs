//! TEMPORARY until the config branch merges (delete then).
#![allow(missing_docs)]
use crate::config::ModelConfig;
use crate::error::Result;
impl ModelConfig {
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    pub fn param_count(&self) -> usize {
        0
    }
}
impl ModelConfig {
    pub fn from_hf_file(p: impl AsRef<std::path::Path>) -> Result<ModelConfig> {
        use crate::config::*;
        let text = std::fs::read_to_string(p.as_ref()).map_err(|source| crate::ModelError::Io {
            path: p.as_ref().to_owned(),
            source,
        })?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let u = |k: &'static str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or(crate::ModelError::MissingConfigKey { key: k })
        };
        if v["model_type"] == "gpt2" {
            let d = u("n_embd")?;
            let h = u("n_head")?;
            Ok(ModelConfig {
                architecture: Architecture::Gpt2,
                vocab_size: u("vocab_size")?,
                hidden_size: d,
                num_layers: u("n_layer")?,
                num_heads: h,
                num_kv_heads: h,
                head_dim: d / h,
                intermediate_size: 4 * d,
                max_position_embeddings: u("n_positions")?,
                norm_eps: 1e-5,
                rope_theta: 1e4,
                activation: Activation::GeluTanh,
                tie_word_embeddings: true,
                attention_bias: true,
                mlp_bias: true,
                bos_token_id: None,
                eos_token_ids: vec![],
            })
        } else {
            let d = u("hidden_size")?;
            let h = u("num_attention_heads")?;
            Ok(ModelConfig {
                architecture: Architecture::Llama,
                vocab_size: u("vocab_size")?,
                hidden_size: d,
                num_layers: u("num_hidden_layers")?,
                num_heads: h,
                num_kv_heads: u("num_key_value_heads")?,
                head_dim: d / h,
                intermediate_size: u("intermediate_size")?,
                max_position_embeddings: u("max_position_embeddings")?,
                norm_eps: v["rms_norm_eps"].as_f64().unwrap_or(1e-5) as f32,
                rope_theta: v["rope_theta"]
                    .as_f64()
                    .or(v["rope_parameters"]["rope_theta"].as_f64())
                    .unwrap_or(1e4) as f32,
                activation: Activation::Silu,
                tie_word_embeddings: v["tie_word_embeddings"].as_bool().unwrap_or(false),
                attention_bias: false,
                mlp_bias: false,
                bos_token_id: None,
                eos_token_ids: vec![],
            })
        }
    }
}
