//! Prompt in, streamed text out:
//! `cargo run --release -p smallmind --example generate -- MODEL "Once upon a time"`
//! (MODEL: a GGUF file, a Hugging Face directory or a `smallmind train` checkpoint).

use std::io::Write;

use smallmind::{GenerateOptions, SessionOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: generate MODEL [PROMPT]")?;
    let prompt = args.next().unwrap_or_else(|| "Once upon a time".into());

    let model = smallmind::load(path)?;
    let mut session = model.session(&SessionOptions::default())?;
    let options = GenerateOptions::default().max_tokens(64).temperature(0.0);
    for piece in session.generate(&prompt, &options)? {
        print!("{}", piece?);
        std::io::stdout().flush()?;
    }
    println!();
    Ok(())
}
