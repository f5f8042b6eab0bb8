//! Where each parameter lives in the flat buffer.
//!
//! Training keeps every parameter of a GPT-2 model in one contiguous `f32`
//! buffer (as llm.c does), and the gradients and both AdamW moments in
//! buffers of the same length and layout. A [`ParamLayout`] names the slices:
//! Hugging Face `GPT2LMHeadModel` names, shapes and order — the order of
//! [`smallmind_model::preset::gpt2_random_tensors`] — with Conv1D weights
//! stored `[in, out]` (`y = x·W + b`):
//!
//! 1. `transformer.wte.weight` `[vocab, d]`, `transformer.wpe.weight` `[context, d]`;
//! 2. per block `transformer.h.{i}.`: `ln_1.{weight,bias}` `[d]`,
//!    `attn.c_attn.{weight [d, 3d], bias [3d]}` (q | k | v along the output),
//!    `attn.c_proj.{weight [d, d], bias [d]}`, `ln_2.{weight,bias}` `[d]`,
//!    `mlp.c_fc.{weight [d, f], bias [f]}`, `mlp.c_proj.{weight [f, d], bias [d]}`;
//! 3. `transformer.ln_f.{weight,bias}` `[d]`;
//! 4. `lm_head.weight` `[vocab, d]`, only when the head is untied.

use std::ops::Range;

use smallmind_model::{Architecture, ModelConfig};

use crate::error::{Result, TrainError};

/// One parameter tensor: its name, shape and place in the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamEntry {
    /// The Hugging Face name, e.g. `transformer.h.0.attn.c_attn.weight`.
    pub name: String,
    /// The shape, outermost dimension first.
    pub shape: Vec<usize>,
    /// Offset of the first element in the flat buffer.
    pub offset: usize,
}

impl ParamEntry {
    /// Number of elements, the product of the shape.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The entry's range in the flat buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.numel()
    }
}

/// The names, shapes and offsets of a GPT-2 model's parameters in one flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    entries: Vec<ParamEntry>,
    len: usize,
}

impl ParamLayout {
    /// The layout of a GPT-2 config (see the module docs for the order).
    ///
    /// # Errors
    /// [`TrainError::UnsupportedConfig`] for a non-GPT-2 config, and the
    /// config's own validation errors.
    pub fn gpt2(config: &ModelConfig) -> Result<Self> {
        if config.architecture != Architecture::Gpt2 {
            return Err(TrainError::UnsupportedConfig(format!(
                "training supports the GPT-2 family, not {:?}",
                config.architecture
            )));
        }
        config.validate()?;
        let d = config.hidden_size;
        let f = config.intermediate_size;
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("transformer.wte.weight".into(), vec![config.vocab_size, d]),
            (
                "transformer.wpe.weight".into(),
                vec![config.max_position_embeddings, d],
            ),
        ];
        for layer in 0..config.num_layers {
            let block: [(&str, Vec<usize>); 12] = [
                ("ln_1.weight", vec![d]),
                ("ln_1.bias", vec![d]),
                ("attn.c_attn.weight", vec![d, 3 * d]),
                ("attn.c_attn.bias", vec![3 * d]),
                ("attn.c_proj.weight", vec![d, d]),
                ("attn.c_proj.bias", vec![d]),
                ("ln_2.weight", vec![d]),
                ("ln_2.bias", vec![d]),
                ("mlp.c_fc.weight", vec![d, f]),
                ("mlp.c_fc.bias", vec![f]),
                ("mlp.c_proj.weight", vec![f, d]),
                ("mlp.c_proj.bias", vec![d]),
            ];
            shapes.extend(
                block
                    .into_iter()
                    .map(|(name, shape)| (format!("transformer.h.{layer}.{name}"), shape)),
            );
        }
        shapes.push(("transformer.ln_f.weight".into(), vec![d]));
        shapes.push(("transformer.ln_f.bias".into(), vec![d]));
        if !config.tie_word_embeddings {
            shapes.push(("lm_head.weight".into(), vec![config.vocab_size, d]));
        }
        Ok(Self::from_shapes(shapes))
    }

    /// Lays the given tensors out back to back, in order.
    fn from_shapes(shapes: Vec<(String, Vec<usize>)>) -> Self {
        let mut len = 0;
        let entries = shapes
            .into_iter()
            .map(|(name, shape)| {
                let entry = ParamEntry {
                    name,
                    shape,
                    offset: len,
                };
                len += entry.numel();
                entry
            })
            .collect();
        ParamLayout { entries, len }
    }

    /// Every parameter, in layout order.
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }

    /// Total number of parameters: the length of the flat buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a layout without parameters (never the case for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry of a parameter by its Hugging Face name.
    pub fn find(&self, name: &str) -> Option<&ParamEntry> {
        self.entries.iter().find(|entry| entry.name == name)
    }
}

#[cfg(test)]
mod tests {
    use smallmind_model::Preset;

    use super::*;

    #[test]
    fn layout_counts_match_the_presets() {
        for preset in [Preset::Small, Preset::Medium, Preset::Gpt2] {
            let layout = ParamLayout::gpt2(&preset.config()).unwrap();
            assert_eq!(layout.len(), preset.expected_param_count(), "{preset:?}");
            let last = layout.entries().last().unwrap();
            assert_eq!(last.range().end, layout.len());
        }
    }

    #[test]
    fn layout_follows_the_random_tensor_order() {
        let config = Preset::Small.config();
        let layout = ParamLayout::gpt2(&config).unwrap();
        let tensors = smallmind_model::preset::gpt2_random_tensors(&config, 1).unwrap();
        let names: Vec<_> = tensors.iter().map(|t| (&t.name, &t.shape)).collect();
        let ours: Vec<_> = layout
            .entries()
            .iter()
            .map(|e| (&e.name, &e.shape))
            .collect();
        assert_eq!(names, ours);
    }

    #[test]
    fn llama_is_rejected() {
        let mut config = Preset::Small.config();
        config.architecture = Architecture::Llama;
        assert!(matches!(
            ParamLayout::gpt2(&config),
            Err(TrainError::UnsupportedConfig(_))
        ));
    }
}
