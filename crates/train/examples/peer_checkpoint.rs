//! Writes two checkpoints (M-small shape: untied head; and tied) with
//! non-trivial random weights and a char vocabulary, computes the mean
//! next-token loss of a fixed text with the model crate's forward pass, and
//! prints the `scripts/train_peer.py check-load` command that must reproduce
//! that loss in Hugging Face transformers.
//!
//! ```text
//! cargo run --release -p smallmind-train --example peer_checkpoint -- OUT_DIR
//! ```

use std::path::Path;
use std::sync::Arc;

use smallmind_model::{ModelConfig, Preset, Session, SessionOptions, loader};
use smallmind_tokenizer::CharTokenizer;
use smallmind_train::{Checkpoint, CheckpointView, ParamEntry, ParamLayout};

/// The peer script, run with the Python of the peers' venv (`../shared/peers/pytorch.sh setup`
/// makes it under `$SMALLMIND_PEERS/venv`).
const PEER_SCRIPT: &str = "\"$SMALLMIND_PEERS/venv/bin/python\" scripts/train_peer.py";

/// The text whose loss both sides compute.
const TEXT: &str = "the quick brown fox jumps over the lazy dog; five dozen jugs.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: peer_checkpoint OUT_DIR")?;
    let tokenizer = CharTokenizer::from_text(TEXT)?;
    for tied in [false, true] {
        let config = ModelConfig {
            tie_word_embeddings: tied,
            ..Preset::Small.config()
        };
        let dir = Path::new(&out).join(if tied { "tied" } else { "untied" });
        let params = random_params(&ParamLayout::gpt2(&config)?, 7);
        let view = CheckpointView {
            config: &config,
            params: &params,
            optimizer: None,
            tokenizer: Some(&tokenizer),
            state: None,
        };
        Checkpoint::save(&dir, &view)?;
        let loss = loss_of(&dir, &tokenizer.encode(TEXT)?)?;
        println!(
            "{PEER_SCRIPT} check-load {} --text '{TEXT}' --loss {loss:.7}",
            dir.display()
        );
    }
    Ok(())
}

/// Mean cross-entropy of predicting `tokens[1..]` from the prefixes, in f64,
/// with the model crate loading `dir`.
fn loss_of(dir: &Path, tokens: &[u32]) -> Result<f64, Box<dyn std::error::Error>> {
    let model = Arc::new(loader::load_dir(dir)?);
    let vocab = model.config().vocab_size;
    let options = SessionOptions {
        threads: Some(1),
        ..SessionOptions::default()
    };
    let mut session = Session::new(model, &options)?;
    let mut logits = Vec::new();
    session.prefill_all_logits(tokens, &mut logits)?;
    let total: f64 = logits
        .chunks_exact(vocab)
        .zip(&tokens[1..])
        .map(|(row, &target)| {
            let max = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
            max + sum.ln() - f64::from(row[target as usize])
        })
        .sum();
    Ok(total / (tokens.len() - 1) as f64)
}

/// Weights with a real signal (not the flat logits of a 0.02-std init):
/// embeddings ±0.8, positions ±0.2, matrices ±1.5·√(3/fan_in), biases ±0.1,
/// LayerNorm gains 1 ± 0.1.
fn random_params(layout: &ParamLayout, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0f32; layout.len()];
    for entry in layout.entries() {
        let (center, amplitude) = init_range(entry);
        for i in entry.range() {
            params[i] = center + amplitude * noise(seed.wrapping_mul(1 << 32) + i as u64);
        }
    }
    params
}

fn init_range(entry: &ParamEntry) -> (f32, f32) {
    let name = entry.name.as_str();
    let is_norm = name.contains(".ln_");
    if name.ends_with("wte.weight") {
        (0.0, 0.8)
    } else if name.ends_with("wpe.weight") {
        (0.0, 0.2)
    } else if is_norm && name.ends_with(".weight") {
        (1.0, 0.1)
    } else if name.ends_with(".bias") {
        (0.0, 0.1)
    } else {
        let fan_in = if name == "lm_head.weight" {
            entry.shape[1]
        } else {
            entry.shape[0]
        };
        (0.0, 1.5 * (3.0 / fan_in as f32).sqrt())
    }
}

/// A deterministic pseudo-random value in [-1, 1) (splitmix64).
fn noise(seed: u64) -> f32 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
}
