//! Fuzzes the tokenizer with the tiny GGUF vocabulary of fixtures/tiny-llama-gguf:
//! arbitrary bytes (as lossy UTF-8) through `encode` with and without special parsing, the
//! round trip where every byte is encodable, and arbitrary ids through `decode` and the
//! streaming decoder. Run: `cd crates/tokenizer/fuzz && cargo +nightly fuzz run tokenize`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smallmind_tokenizer::{Vocab, EncodeOptions, PreTokenizer, StreamDecoder, Tokenizer};

const MERGES: [&str; 27] = [
    "Ġ t", "h e", "i n", "e r", "a n", "Ġ a", "o n", "r e", "Ġ s", "Ġt he", "e n", "a t", "o r",
    "Ġ w", "e s", "i s", "Ġ o", "Ġ c", "i t", "in g", "Ġ b", "n d", "a l", "o u", "Ġ f", "Ġ m",
    "Ċ Ċ",
];

fn byte_char(b: u8) -> char {
    match b {
        b'\t' => 'ĉ',
        b'\n' => 'Ċ',
        b'\r' => 'č',
        b' ' => 'Ġ',
        _ => char::from(b),
    }
}

fn tiny() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
            .map(String::from)
            .to_vec();
        let bytes = [0x09u8, 0x0A, 0x0D].into_iter().chain(0x20..=0x7E);
        tokens.extend(bytes.map(|b| byte_char(b).to_string()));
        tokens.extend(MERGES.iter().map(|m| m.replace(' ', "")));
        let mut token_types = vec![1; tokens.len()];
        token_types[..3].fill(3);
        let vocab = Vocab {
            tokens,
            token_types,
            merges: MERGES.iter().map(|m| m.to_string()).collect(),
            pre: PreTokenizer::Gpt2,
            bos: Some(1),
            eos: Some(2),
            unk: Some(0),
            pad: Some(2),
            add_bos: true,
            add_eos: false,
            chat_template: None,
            ..Vocab::default()
        };
        Tokenizer::from_vocab(vocab).expect("tiny vocabulary")
    })
}

fuzz_target!(|data: &[u8]| {
    let tok = tiny();
    let text = String::from_utf8_lossy(data);
    for pre in [PreTokenizer::Gpt2, PreTokenizer::SmolLm] {
        let mut pieces = String::new();
        pre.split(&text, |p| pieces.push_str(p));
        assert_eq!(pieces, text, "pieces concatenate to the text");
    }
    let ids = tok.encode(&text, EncodeOptions::PROMPT).expect("BOS exists");
    let plain = tok.encode(&text, EncodeOptions::PLAIN).expect("plain encode");
    let encodable = text.bytes().all(|b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7E));
    if encodable {
        assert_eq!(tok.decode(&ids[1..]).unwrap(), text);
        assert_eq!(tok.decode(&plain).unwrap(), text);
    }
    // The raw bytes as little-endian u16 ids modulo 130: mostly valid, ids 128 and 129 not.
    let raw_ids: Vec<u32> = data
        .chunks(2)
        .map(|c| (u32::from(c[0]) | (u32::from(*c.get(1).unwrap_or(&0)) << 8)) % 130)
        .collect();
    let whole = tok.decode(&raw_ids);
    let mut stream = StreamDecoder::new(tok);
    let mut streamed = String::new();
    let mut failed = false;
    for &id in &raw_ids {
        match stream.push(id) {
            Ok(s) => streamed.push_str(s),
            Err(_) => failed = true,
        }
    }
    streamed.push_str(stream.finish());
    if let (Ok(whole), false) = (whole, failed) {
        assert_eq!(streamed, whole, "streaming equals whole decode");
    }
});
