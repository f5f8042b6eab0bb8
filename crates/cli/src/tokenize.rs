//! `smallmind tokenize`: the token ids of a text as a JSON array, as `llama-tokenize --ids`
//! prints them.

use clap::Args;
use smallmind_tokenizer::EncodeOptions;

use crate::loading;

/// Flags of `smallmind tokenize`.
#[derive(Args, Debug)]
pub(crate) struct TokenizeArgs {
    /// A GGUF file or a Hugging Face directory with a tokenizer.
    #[arg(short, long)]
    model: String,
    /// Encode special-token text (`<|im_start|>`) as plain text instead of matching it.
    #[arg(long)]
    no_parse_special: bool,
    /// The text.
    text: String,
}

/// Runs `smallmind tokenize`.
pub(crate) fn tokenize(args: &TokenizeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let model = loading::load(&args.model)?;
    let tokenizer = model
        .tokenizer()
        .ok_or_else(|| format!("{} has no tokenizer", args.model))?;
    let options = if args.no_parse_special {
        EncodeOptions::PLAIN
    } else {
        EncodeOptions::PROMPT
    };
    let ids = tokenizer.encode(&args.text, options)?;
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    println!("[{}]", list.join(", "));
    Ok(())
}
