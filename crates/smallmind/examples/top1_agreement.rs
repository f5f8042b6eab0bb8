//! Fidelity of the fast path: how often the quantized-activation path picks the same next
//! token as the exact path (`--exact`), over fixed prompts and greedy steps.
//!
//! `cargo run --release -p smallmind --example top1_agreement -- MODEL [STEPS]`
//!
//! For each prompt, the exact path generates `STEPS` tokens greedily (default 32). The fast
//! path is then teacher-forced along that sequence (prefill of the prompt, then one decode per
//! token) and agrees at a step when its arg-max is the exact path's token. One JSON line per
//! prompt: the prompt's ids, the exact tokens and the fast path's agreements, so that another
//! engine can be scored on the same positions (`scripts/top1_agreement.py` does so for
//! llama.cpp).

use std::sync::Arc;

use smallmind::SessionOptions;
use smallmind::model::{ActivationPrecision, Model, Session};

/// Four prompts of different kinds: prose, a question, code and a list.
const PROMPTS: [&str; 4] = [
    "The history of the printing press begins",
    "Question: What is the capital of France? Answer:",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Ingredients for a simple bread: flour,",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: top1_agreement MODEL [STEPS]")?;
    let steps: usize = args.next().map_or(Ok(32), |s| s.parse())?;
    let text_model = smallmind::load(path)?;
    let model = text_model.model();
    let (mut agree_all, mut total) = (0, 0);
    for prompt in PROMPTS {
        let ids = text_model.encode(prompt)?;
        let exact = greedy(model, &ids, steps, ActivationPrecision::F32)?;
        let agree = teacher_forced_agreement(model, &ids, &exact, ActivationPrecision::Quantized)?;
        let hits = agree.iter().filter(|&&a| a).count();
        (agree_all, total) = (agree_all + hits, total + agree.len());
        println!(
            "{{\"prompt\": {prompt:?}, \"ids\": {ids:?}, \"exact\": {exact:?}, \"fast_agree\": {hits}, \"steps\": {}}}",
            agree.len()
        );
    }
    eprintln!("fast path top-1 agreement with the exact path: {agree_all}/{total}");
    Ok(())
}

fn session(
    model: &Arc<Model>,
    len: usize,
    activations: ActivationPrecision,
) -> smallmind::Result<Session> {
    let options = SessionOptions {
        threads: Some(1),
        capacity: Some(len),
        activations,
        ..SessionOptions::default()
    };
    Ok(Session::new(model.clone(), &options)?)
}

/// `steps` greedy tokens after `ids`.
fn greedy(
    model: &Arc<Model>,
    ids: &[u32],
    steps: usize,
    activations: ActivationPrecision,
) -> smallmind::Result<Vec<u32>> {
    let mut session = session(model, ids.len() + steps, activations)?;
    let mut next = argmax(session.prefill(ids)?);
    let mut out = vec![next];
    while out.len() < steps {
        next = argmax(session.decode(next)?);
        out.push(next);
    }
    Ok(out)
}

/// Whether the arg-max at each step equals `reference`'s token, fed `reference` as input.
fn teacher_forced_agreement(
    model: &Arc<Model>,
    ids: &[u32],
    reference: &[u32],
    activations: ActivationPrecision,
) -> smallmind::Result<Vec<bool>> {
    let mut session = session(model, ids.len() + reference.len(), activations)?;
    let mut agree = vec![argmax(session.prefill(ids)?) == reference[0]];
    for pair in reference.windows(2) {
        agree.push(argmax(session.decode(pair[0])?) == pair[1]);
    }
    Ok(agree)
}

/// The first index of the largest logit.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}
