//! Encode and decode throughput on SmolLM2's vocabulary (the repository's
//! `fixtures/smollm2-tokenizer`) over mixed English prose, code and unicode text.
//! Run: `cargo bench -p smallmind-tokenizer --bench encode`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smallmind_tokenizer::{EncodeOptions, PreTokenizer, StreamDecoder, Tokenizer};
use std::hint::black_box;
use std::path::PathBuf;

const PROSE: &str = "The quick brown fox jumps over the lazy dog. In 2024, researchers \
    measured 3.14159 radians and 1,000,000 samples; results were \"promising\", they'd say. ";
const CODE: &str = "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    \
    println!(\"{:?}\", v);\n}\n";
const UNICODE: &str = "Café déjà vu — 你好，世界！ 🦀🐍👍🏽 Ελληνικά русский. ";

fn corpus() -> String {
    let mut text = String::new();
    while text.len() < 64 * 1024 {
        text.push_str(PROSE);
        text.push_str(CODE);
        text.push_str(UNICODE);
    }
    text
}

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/smollm2-tokenizer/tokenizer.json"
    ));
    c.bench_function("load_tokenizer_json", |b| {
        b.iter(|| Tokenizer::from_tokenizer_json_file(&path).unwrap())
    });
    let tok = Tokenizer::from_tokenizer_json_file(&path)
        .unwrap()
        .with_pre_tokenizer(PreTokenizer::SmolLm);
    let text = corpus();
    let ids = tok.encode(&text, EncodeOptions::PLAIN).unwrap();
    let mut group = c.benchmark_group("smollm2");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("encode_64KiB", |b| {
        b.iter(|| tok.encode(black_box(&text), EncodeOptions::PLAIN).unwrap())
    });
    group.bench_function("decode_64KiB", |b| {
        b.iter(|| tok.decode(black_box(&ids)).unwrap())
    });
    group.bench_function("stream_decode_64KiB", |b| {
        b.iter(|| {
            let mut stream = StreamDecoder::new(&tok);
            let mut n = 0;
            for &id in black_box(&ids) {
                n += stream.push(id).unwrap().len();
            }
            n
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
