//! The text path allocates nothing per token: after a warm-up, `TextGeneration::next_piece`
//! (decode, sample, stream-decode, stop-string search) makes no heap allocation on any thread,
//! with stop strings that never match and one that keeps text on hold. The `Iterator` form's
//! cost (one `String` per piece) is measured and printed.
//!
//! One `#[test]` in this file, so no other test allocates while counting. Every session (and
//! so every worker team) is made and its threads started before any counting, and all are dropped
//! after it: a thread that starts or exits registers or retires its crossbeam-epoch state,
//! which allocates (about 2 KB), and the counter sees every thread.

use smallmind::{GenerateOptions, SessionOptions, TextSession};
use smallmind_telemetry::alloc::{CountingAllocator, Scope, is_installed};
use smallmind_testkit::fixture;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Warm-up tokens (buffers grow), then counted tokens.
const WARM_UP: usize = 4;
const COUNTED: usize = 32;

fn options() -> GenerateOptions {
    GenerateOptions::default()
        .temperature(0.8)
        .top_k(40)
        .top_p(0.95)
        .repetition_penalty(1.1)
        .seed(7)
        .max_tokens(WARM_UP + COUNTED + 8)
        .stop_tokens([])
        // Never in this vocabulary, and one character that is (held back now and then).
        .stop(["\u{1F600}", "e\u{1F600}"])
}

/// (tokens, allocations, bytes) over the counted stretch of lent pieces.
fn lent(session: &mut TextSession) -> (usize, u64, u64) {
    session.install(|s| {
        let mut g = s.generate("the cat sat on the mat", &options()).unwrap();
        while g.stats().generated_tokens < WARM_UP {
            g.next_piece().unwrap();
        }
        let before = g.stats().generated_tokens;
        let scope = Scope::start();
        while g.stats().generated_tokens < before + COUNTED {
            assert!(g.next_piece().unwrap().is_some(), "{:?}", g.finish_reason());
        }
        let counts = scope.counts();
        (
            g.stats().generated_tokens - before,
            counts.count,
            counts.bytes,
        )
    })
}

/// (tokens, allocations, bytes) over the counted stretch of owned pieces.
fn owned(session: &mut TextSession) -> (usize, u64, u64) {
    session.install(|s| {
        let mut g = s.generate("the cat sat on the mat", &options()).unwrap();
        g.by_ref().take(WARM_UP).for_each(|p| drop(p.unwrap()));
        let before = g.stats().generated_tokens;
        let scope = Scope::start();
        let pieces = g.by_ref().take(COUNTED).map(Result::unwrap).count();
        let counts = scope.counts();
        assert_eq!(pieces, COUNTED);
        (
            g.stats().generated_tokens - before,
            counts.count,
            counts.bytes,
        )
    })
}

#[test]
fn the_text_path_allocates_nothing_per_token() {
    assert!(is_installed());
    let probe = Scope::start();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(64)));
    assert!(
        probe.counts().count >= 1,
        "the counting allocator missed a known allocation"
    );
    let mut sessions = Vec::new();
    for file in ["tiny-llama-F32.gguf", "tiny-llama-Q8_0.gguf"] {
        let model = smallmind::load(fixture(&format!("tiny-llama-gguf/{file}"))).unwrap();
        for threads in [1, 2] {
            let options = SessionOptions {
                threads: Some(threads),
                ..SessionOptions::default()
            };
            let session = model.session(&options).unwrap();
            session.session().team().run(&|_| ());
            sessions.push((file, threads, session));
        }
    }
    for (file, threads, session) in &mut sessions {
        let (tokens, allocs, bytes) = lent(session);
        assert_eq!(
            (allocs, bytes),
            (0, 0),
            "{file}, {threads} threads: next_piece allocated {allocs} times, {bytes} bytes \
             over {tokens} tokens"
        );
        let (tokens, allocs, bytes) = owned(session);
        println!(
            "{file}, {threads} threads: the Iterator form allocated {allocs} times, {bytes} \
             bytes over {tokens} tokens"
        );
        assert!(allocs as usize <= tokens, "at most one String per piece");
    }
}
