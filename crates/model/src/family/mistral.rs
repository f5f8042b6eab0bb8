//! Mistral (Jiang et al. 2023): the Llama block with sliding-window attention
//! on every layer (`sliding_window`; `null` in later versions, which are
//! plain Llama then).
//!
//! GGUF: llama.cpp converts Mistral to its `llama` architecture (the
//! [`super::llama`] line), which reads the window from the optional
//! `llama.attention.sliding_window` (llama.cpp's key name; its own converter
//! does not write it for Mistral, whose window llama.cpp does not apply).

use super::{Family, LLAMA_NAMES};
use crate::config::{Architecture, Keys, ModelConfig, parse_llama};
use crate::error::Result;

/// The registry line.
pub const FAMILY: Family = Family {
    architecture: Architecture::Mistral,
    hf_model_type: "mistral",
    hf_class: "MistralForCausalLM",
    hf_names: Some(LLAMA_NAMES),
    gguf: None,
    block: super::llama::block,
    parse_hf: Some(parse_hf),
    adjust_gguf: super::keep_gguf_config,
};

/// The Llama keys plus `sliding_window` (every layer local; `null`: none).
fn parse_hf(keys: &Keys<'_>) -> Result<ModelConfig> {
    let mut config = parse_llama(keys, Architecture::Mistral)?;
    config.extras.sliding_window = keys.usize_opt("sliding_window")?;
    Ok(config)
}
