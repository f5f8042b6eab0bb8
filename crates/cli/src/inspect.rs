//! `smallmind inspect`: what a model file holds — its metadata (GGUF) or config, tensor types,
//! and parameter count.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Args;
use smallmind_formats::gguf::GgufFile;

use crate::loading;

type BoxError = Box<dyn std::error::Error>;

/// Flags of `smallmind inspect`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A GGUF file, a Hugging Face directory or a preset.
    model: String,
}

/// Runs `smallmind inspect`.
pub(crate) fn inspect(args: &InspectArgs) -> Result<(), BoxError> {
    if Path::new(&args.model).is_file() {
        inspect_gguf(Path::new(&args.model))?;
    }
    let loaded = loading::load(&args.model)?;
    let config = loaded.model().config();
    let (mapped, owned) = loaded.model().weight_bytes();
    println!("\nmodel: {} ({:?})", loaded.name(), config.architecture);
    println!("{config:#?}");
    println!(
        "parameters: {}; weights {:.1} MB used in place from the file, {:.1} MB in memory",
        loaded.model().param_count(),
        mapped as f64 / 1e6,
        owned as f64 / 1e6
    );
    if let Some(t) = loaded.tokenizer() {
        println!(
            "tokenizer: {} tokens, {} merges, pre-tokenizer {:?}, BOS {:?}, EOS {:?}, chat template: {}",
            t.vocab_size(),
            t.merge_count(),
            t.pre_tokenizer(),
            t.bos(),
            t.eos(),
            if t.chat_template().is_some() {
                "yes"
            } else {
                "no"
            },
        );
    }
    Ok(())
}

/// Prints the GGUF header, every metadata value (long arrays shortened) and the tensor types.
fn inspect_gguf(path: &Path) -> Result<(), BoxError> {
    let file = GgufFile::open(path)?;
    println!(
        "GGUF v{}, {} metadata keys, {} tensors, alignment {}",
        file.version(),
        file.metadata().len(),
        file.tensors().len(),
        file.alignment()
    );
    for (key, value) in file.metadata().iter() {
        println!("  {key} = {value}");
    }
    let mut by_type: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for info in file.tensors() {
        let entry = by_type.entry(info.ggml_type().name()).or_default();
        entry.0 += 1;
        entry.1 += info.n_elements();
        entry.2 += info.n_bytes();
    }
    println!("tensor types:");
    for (name, (count, elements, bytes)) in by_type {
        println!(
            "  {name}: {count} tensors, {elements} values, {:.1} MB",
            bytes as f64 / 1e6
        );
    }
    Ok(())
}
