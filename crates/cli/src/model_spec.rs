//! `--model` values shared by the subcommands: a preset name or a model directory.

use std::path::Path;

use smallmind_model::Model;
use smallmind_model::loader;
use smallmind_model::preset::{PRESET_SEED, Preset};

/// Loads `spec`: a preset (m-small, m-medium, m-large, m-gpt2; seeded random weights) or a
/// Hugging Face directory. Returns a short name for reports with the model.
pub(crate) fn load_model(spec: &str) -> Result<(String, Model), Box<dyn std::error::Error>> {
    if let Ok(preset) = Preset::parse(spec) {
        return Ok((preset.name().to_string(), preset.model(PRESET_SEED)?));
    }
    let dir = Path::new(spec);
    if !dir.is_dir() {
        return Err(format!(
            "--model {spec:?} is neither a preset (m-small, m-medium, m-large, m-gpt2) nor a directory"
        )
        .into());
    }
    let name = dir
        .file_name()
        .map_or(spec.into(), |n| n.to_string_lossy().into_owned());
    Ok((name, loader::load_dir(dir)?))
}
