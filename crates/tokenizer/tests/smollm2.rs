//! SmolLM2's real vocabulary (49152 tokens, 48900 merges) against HF `tokenizers` and llama.cpp
//! ids and transformers' chat-template rendering, from `fixtures/smollm2_ids.json` (made by
//! `fixtures/make_smollm2_ids.py`), over the tokenizer.json that the repository keeps in
//! `fixtures/smollm2-tokenizer/` (see its README).

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::Value;
use smallmind_tokenizer::{
    ChatMessage, ChatTemplate, EncodeOptions, PreTokenizer, StreamDecoder, Tokenizer,
};

/// The tokenizer as transformers converts it from the GGUF.
fn smollm2() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let path = smallmind_testkit::fixture("smollm2-tokenizer/tokenizer.json");
        Tokenizer::from_tokenizer_json_file(&path).expect("load tokenizer.json")
    })
}

/// The tokenizer with the SmolLM pre-tokenizer (as the GGUF's `tokenizer.ggml.pre`).
fn smollm2_digits() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| smollm2().clone().with_pre_tokenizer(PreTokenizer::SmolLm))
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smollm2_ids.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids_of(value: &Value) -> Option<Vec<u32>> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().unwrap() as u32).collect())
}

#[test]
fn metadata() {
    let tok = smollm2();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.merge_count(), 48900);
    assert_eq!(tok.pre_tokenizer(), Some(PreTokenizer::Gpt2));
    assert_eq!(
        (tok.bos(), tok.eos(), tok.unk(), tok.pad()),
        (Some(1), Some(2), Some(0), Some(2))
    );
    assert!(!tok.add_bos());
    assert!(tok.is_end_of_generation(2));
}

/// The shipped tokenizer.json (plain ByteLevel) reproduces HF ids on every case.
#[test]
fn hf_ids_on_hard_strings() {
    let tok = smollm2();
    for case in fixture()["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ids = tok.encode(text, EncodeOptions::PROMPT).unwrap();
        assert_eq!(ids, ids_of(&case["hf"]).unwrap(), "{text:?}");
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
}

/// With the SmolLM pre-tokenizer (GGUF `tokenizer.ggml.pre = "smollm"`), the ids equal HF's
/// original SmolLM2 pre-tokenizer and llama.cpp's `llama-tokenize`.
#[test]
fn smollm_pre_tokenizer_matches_hf_digits_and_llama_cpp() {
    let tok = smollm2_digits();
    let mut checked_llama = 0;
    for case in fixture()["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ids = tok.encode(text, EncodeOptions::PROMPT).unwrap();
        assert_eq!(ids, ids_of(&case["hf_digits"]).unwrap(), "{text:?}");
        if let Some(llama) = ids_of(&case["llama_cpp"]) {
            assert_eq!(ids, llama, "llama.cpp, {text:?}");
            checked_llama += 1;
        }
    }
    eprintln!("checked {checked_llama} cases against llama.cpp");
}

#[test]
fn chat_template_matches_transformers() {
    let tok = smollm2();
    let jinja = ChatTemplate::of_tokenizer(tok)
        .expect("chat_template.jinja")
        .unwrap();
    assert_eq!(jinja.name(), "jinja");
    // The model's template, and the built-in format with SmolLM2's default system prompt.
    let chats = fixture()["chat"].as_array().unwrap().clone();
    let templates = [jinja, ChatTemplate::named("smollm2").unwrap()];
    for (template, chat) in templates
        .iter()
        .flat_map(|t| chats.iter().map(move |c| (t, c)))
    {
        let messages: Vec<ChatMessage> = chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        let add_generation_prompt = chat["add_generation_prompt"].as_bool().unwrap();
        let text = template.render(&messages, add_generation_prompt).unwrap();
        assert_eq!(text, chat["text"].as_str().unwrap());
        let ids = tok.encode(&text, EncodeOptions::PROMPT).unwrap();
        assert_eq!(ids, ids_of(&chat["ids"]).unwrap());
    }
}

#[test]
fn stream_decoder_buffers_split_characters() {
    let tok = smollm2();
    let text = "ok 🦀👨‍👩‍👧 é 你好<|im_end|>";
    let ids = tok.encode(text, EncodeOptions::PROMPT).unwrap();
    let mut stream = StreamDecoder::new(tok);
    let mut out = String::new();
    let mut held_back = false;
    for &id in &ids {
        out.push_str(stream.push(id).unwrap());
        held_back |= !stream.pending_bytes().is_empty();
    }
    out.push_str(stream.finish());
    assert!(held_back, "an emoji should span several tokens");
    assert_eq!(out, text);
    // One byte token at a time: the crab's 4 bytes come out only with the last one.
    let crab: Vec<u32> = "🦀".bytes().map(|b| byte_token(tok, b)).collect();
    let mut stream = StreamDecoder::new(tok);
    let parts: Vec<String> = crab
        .iter()
        .map(|&id| stream.push(id).unwrap().to_owned())
        .collect();
    assert_eq!(parts, ["", "", "", "🦀"]);
    // A truncated character is flushed as U+FFFD at the end; skip_special drops <|im_end|>.
    let mut stream = StreamDecoder::new(tok).skip_special(true);
    assert_eq!(stream.push(crab[0]).unwrap(), "");
    assert_eq!(stream.push(2).unwrap(), "");
    assert_eq!(stream.finish(), "\u{FFFD}");
}

fn has_byte_token(tok: &Tokenizer, b: u8) -> bool {
    let alphabet = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let c = if alphabet(b) {
        char::from(b)
    } else {
        char::from_u32(256 + (0..b).filter(|&x| !alphabet(x)).count() as u32).unwrap()
    };
    tok.token_id(&c.to_string()).is_some()
}

#[test]
fn bytes_without_a_token_are_dropped_like_hf() {
    let tok = smollm2();
    assert!(!has_byte_token(tok, 0xF1));
    let ids = tok.encode("\u{40000} ok", EncodeOptions::PROMPT).unwrap();
    assert_eq!(ids, [218, 218, 218, 10907]);
}

/// The token of byte `b`'s single-character symbol.
fn byte_token(tok: &Tokenizer, b: u8) -> u32 {
    (0..tok.vocab_size() as u32)
        .find(|&id| {
            tok.token_bytes(id).unwrap() == [b] && tok.token_text(id).unwrap().chars().count() == 1
        })
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn round_trip_random_unicode(text in "\\PC{0,64}", spaces in "[ \t\n]{0,4}") {
        let (gpt2, digits) = (smollm2(), smollm2_digits());
        let text = format!("{spaces}{text}{spaces}");
        for tok in [gpt2, digits] {
            let ids = tok.encode(&text, EncodeOptions::PLAIN).unwrap();
            prop_assert_eq!(tok.decode(&ids).unwrap(), text.clone());
        }
    }

    #[test]
    fn stream_equals_whole_decode(ids in proptest::collection::vec(0u32..49152, 0..64)) {
        let tok = smollm2();
        let mut stream = StreamDecoder::new(tok);
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(stream.push(id).unwrap());
        }
        streamed.push_str(stream.finish());
        prop_assert_eq!(streamed, tok.decode(&ids).unwrap());
    }

    #[test]
    fn round_trip_random_chars(chars in proptest::collection::vec(any::<char>(), 0..48)) {
        let tok = smollm2();
        // Keep characters whose UTF-8 bytes all have a token (SmolLM2 lacks a few bytes, such
        // as 0xF1, which encoding drops).
        let text: String = chars
            .into_iter()
            .filter(|c| c.to_string().bytes().all(|b| has_byte_token(tok, b)))
            .collect();
        let ids = tok.encode(&text, EncodeOptions::PROMPT).unwrap();
        prop_assert_eq!(tok.decode(&ids).unwrap(), text);
    }
}
