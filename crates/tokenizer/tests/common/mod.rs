//! Shared test helpers: the tiny GGUF vocabulary of `fixtures/tiny-llama-gguf`.
#![allow(dead_code, unreachable_pub)]

use smallmind_tokenizer::{PreTokenizer, Tokenizer, Vocab};

/// The 27 merges of the tiny vocabulary, in rank order (from the fixture's README).
pub const TINY_MERGES: [&str; 27] = [
    "Ġ t", "h e", "i n", "e r", "a n", "Ġ a", "o n", "r e", "Ġ s", "Ġt he", "e n", "a t", "o r",
    "Ġ w", "e s", "i s", "Ġ o", "Ġ c", "i t", "in g", "Ġ b", "n d", "a l", "o u", "Ġ f", "Ġ m",
    "Ċ Ċ",
];

/// GPT-2 byte-alphabet character of `b` (independent of the crate's table).
pub fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        return char::from(b);
    }
    let extra = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + extra).unwrap()
}

/// The tiny vocabulary as a GGUF adapter would pass it: ids 0-2 control tokens, 3-100 the
/// byte characters of 0x09, 0x0A, 0x0D, 0x20..=0x7E, 101-127 the merge results.
pub fn tiny_vocab() -> Vocab {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .map(String::from)
        .to_vec();
    let bytes = [0x09u8, 0x0A, 0x0D].into_iter().chain(0x20..=0x7E);
    tokens.extend(bytes.map(|b| byte_char(b).to_string()));
    tokens.extend(TINY_MERGES.iter().map(|m| m.replace(' ', "")));
    let mut token_types = vec![1; tokens.len()];
    token_types[..3].fill(3);
    Vocab {
        tokens,
        token_types,
        merges: TINY_MERGES.iter().map(|m| m.to_string()).collect(),
        pre: PreTokenizer::from_gguf_name("gpt-2").unwrap(),
        bos: Some(1),
        eos: Some(2),
        unk: Some(0),
        pad: Some(2),
        add_bos: false,
        add_eos: false,
        chat_template: None,
        ..Vocab::default()
    }
}

/// The tiny tokenizer.
pub fn tiny() -> Tokenizer {
    Tokenizer::from_vocab(tiny_vocab()).unwrap()
}

/// Path of a file under the repository's `fixtures/`.
pub fn fixture(rel: &str) -> std::path::PathBuf {
    smallmind_testkit::fixture(rel)
}
