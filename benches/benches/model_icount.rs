//! Instruction counts (valgrind/callgrind through gungraun) of decoding one token: the whole
//! forward pass of one position — embeddings, every block (norms, QKV, attention over the
//! cache, output projection, MLP) and the LM head — as `Session::decode` runs it, on
//! - the seeded presets M-small and M-medium (WORKLOADS.md; f32 weights);
//! - the tiny Llama GGUF fixture with Q4_1 weights (`fixtures/tiny-llama-gguf`, written by
//!   gguf-py as llama.cpp's converter does: every 2-D weight Q4_1 including the tied LM head,
//!   `ffn_down` F16 because its rows are not whole blocks), with the session's default
//!   activations, quantized to Q8_1 per row as llama.cpp does: the quantized decode path.
//!
//! Setup (not counted) builds the model, a [`Session`] with one worker thread, prefills a
//! fixed prompt, then decodes one token and truncates it away again as a warm-up. So the
//! counted decode always sees the same KV length:
//! - `m_small`: 32 cached positions (context 64);
//! - `m_medium`: 64 cached positions (context 128);
//! - `tiny_llama_q4_1`: 32 cached positions (context 256).
//!
//! **Which thread is counted.** A session runs its work on its worker team, whose worker 0 is
//! the calling thread; with one worker no other thread exists. Callgrind's default entry point
//! (`--toggle-collect` on the bench function) only counts the thread that enters it, so the
//! bench calls [`counted_decode`] inside [`Session::install`] and the callgrind entry point is
//! that function (`EntryPoint::Custom`, a glob on its demangled name); toggling is per
//! thread, so exactly the decode is counted and the count is deterministic.
//!
//! The kernels run the AVX2+FMA path (`SMALLMIND_SIMD=v3`, valgrind has no AVX-512), which the
//! worker inherits from the environment.

// `#[library_benchmark]` wraps each function in a generated module that cannot carry docs.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use gungraun::prelude::*;
use gungraun::{Callgrind, EntryPoint};
use smallmind_benches::icount::{PATH_ENV, assert_default_path};
use smallmind_model::preset::{PRESET_SEED, Preset};
use smallmind_model::{Model, Session, SessionOptions, load_gguf};
use smallmind_testkit::fixture;

/// Where a bench's model comes from.
enum Weights {
    /// A preset with its benchmark weights (`PRESET_SEED`).
    Preset(Preset),
    /// A GGUF file of the repository's `fixtures/`.
    Gguf(&'static str),
}

impl Weights {
    fn model(self) -> Model {
        match self {
            Weights::Preset(preset) => preset.model(PRESET_SEED).expect("preset model"),
            Weights::Gguf(path) => load_gguf(fixture(path)).expect("GGUF fixture"),
        }
    }
}

/// A session holding `prompt` cached positions and the token to decode next.
struct DecodeCase {
    session: Session,
    token: u32,
}

/// Deterministic token ids inside a vocabulary of `vocab`.
fn tokens(vocab: usize, n: usize) -> Vec<u32> {
    (0..n as u64)
        .map(|i| ((i * 2_654_435_761 + 7) % vocab as u64) as u32)
        .collect()
}

/// The model of `weights`, one worker thread, `prompt` positions prefilled and one decode
/// done and undone (warm-up).
fn decode_case(weights: Weights, prompt: usize) -> DecodeCase {
    assert_default_path();
    let model = Arc::new(weights.model());
    let vocab = model.config().vocab_size;
    let options = SessionOptions {
        threads: Some(1),
        ..SessionOptions::default()
    };
    let mut session = Session::new(model, &options).expect("session");
    let mut ids = tokens(vocab, prompt + 1);
    let token = ids.pop().expect("one token past the prompt");
    session.prefill(&ids).expect("prefill");
    session.decode(token).expect("warm-up decode");
    session.truncate(prompt).expect("truncate");
    DecodeCase { session, token }
}

/// The counted region: one decode, run on the session's worker thread.
#[inline(never)]
fn counted_decode(session: &mut Session, token: u32) {
    black_box(session.decode(black_box(token)).expect("decode"));
}

// One decode step; only `counted_decode` (on the pool's worker) is counted.
#[library_benchmark]
#[bench::m_small(args = (Weights::Preset(Preset::Small), 32), setup = decode_case)]
#[bench::m_medium(args = (Weights::Preset(Preset::Medium), 64), setup = decode_case)]
#[bench::tiny_llama_q4_1(
    args = (Weights::Gguf("tiny-llama-gguf/tiny-llama-Q4_1.gguf"), 32),
    setup = decode_case
)]
fn decode_one_token(mut case: DecodeCase) -> DecodeCase {
    let token = case.token;
    case.session.install(|s| counted_decode(s, token));
    case
}

library_benchmark_group!(name = model_v3, benchmarks = [decode_one_token]);

main!(
    config = LibraryBenchmarkConfig::default()
        .env("SMALLMIND_SIMD", PATH_ENV)
        .tool(
            Callgrind::default()
                .entry_point(EntryPoint::Custom("*model_icount::counted_decode*".into()))
        ),
    library_benchmark_groups = model_v3
);
