//! A two-turn chat through the model's chat template, greedy:
//! `cargo run --release -p smallmind --example chat -- MODEL ["first question" "second question"]`.
//!
//! The session keeps the first turn in its KV cache, so the second turn only feeds the new
//! tokens.

use std::io::Write;

use smallmind::{
    ActivationPrecision, ChatMessage, ChatTemplate, GenerateOptions, SessionOptions, TextModel,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: chat MODEL [QUESTION QUESTION]")?;
    let first = args
        .next()
        .unwrap_or_else(|| "What is the capital of France?".into());
    let second = args.next().unwrap_or_else(|| "And of Germany?".into());

    let model = with_a_chat_template(smallmind::load(path)?)?;
    // f32 activations: with quantized weights (Q4_1, Q8_0) the default Q8 activations flip
    // SmolLM2's near tie between "The capital..." and "L'Étoile..." on the first question,
    // exactly as llama.cpp does.
    let context = model.model().config().max_position_embeddings;
    let session_options = SessionOptions {
        capacity: Some(context.min(1024)),
        activations: ActivationPrecision::F32,
        ..Default::default()
    };
    let mut session = model.session(&session_options)?;
    let options = GenerateOptions::default().temperature(0.0).max_tokens(48);

    let mut conversation = Vec::new();
    for question in [first, second] {
        println!("user: {question}");
        conversation.push(ChatMessage::new("user", question));
        print!("assistant: ");
        let mut reply = String::new();
        for piece in session.chat(&conversation, &options)? {
            let piece = piece?;
            print!("{piece}");
            std::io::stdout().flush()?;
            reply.push_str(&piece);
        }
        println!();
        conversation.push(ChatMessage::new("assistant", reply.trim_end()));
    }
    Ok(())
}

/// The model as loaded, or with ChatML when its files carry no chat template (the tiny test
/// fixture has ChatML's control tokens but no template).
fn with_a_chat_template(model: TextModel) -> Result<TextModel, smallmind::Error> {
    if model.defaults().chat_template.is_some() {
        return Ok(model);
    }
    let mut defaults = model.defaults().clone();
    defaults.chat_template = Some(ChatTemplate::detect("chatml")?);
    Ok(model.with_defaults(defaults))
}
