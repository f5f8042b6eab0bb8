//! The text API on the tiny Llama GGUF fixture: stop strings (cut exactly across tokens,
//! neutral when absent, empty ones refused), end-of-generation tokens, the token limit, a full
//! cache, chat rendering, and the KV cache reused across calls.

use smallmind::{
    ChatTemplate, Error, FinishReason, GenerateOptions, SessionOptions, TextModel, TextSession,
    TextStream,
};
use smallmind_testkit::fixture;

fn tiny() -> TextModel {
    smallmind::load(fixture("tiny-llama-gguf/tiny-llama-F32.gguf")).unwrap()
}

fn session(model: &TextModel) -> TextSession {
    let options = SessionOptions {
        threads: Some(1),
        ..SessionOptions::default()
    };
    model.session(&options).unwrap()
}

const PROMPT: &str = "the cat sat on the mat";

/// Greedy, 24 tokens at most, no stop tokens (this random model may sample EOS anywhere).
fn greedy() -> GenerateOptions {
    GenerateOptions::default()
        .temperature(0.0)
        .max_tokens(24)
        .stop_tokens([])
}

/// The pieces of a fresh session's run, its generated tokens and why it ended.
fn run(model: &TextModel, options: &GenerateOptions) -> (Vec<String>, Vec<u32>, FinishReason) {
    let mut session = session(model);
    let mut generation = session.generate(PROMPT, options).unwrap();
    let mut pieces = Vec::new();
    while let Some(piece) = generation.next_piece().unwrap() {
        pieces.push(piece.to_owned());
    }
    let tokens = generation.generated_tokens().to_vec();
    (pieces, tokens, generation.finish_reason().unwrap())
}

#[test]
fn a_stop_string_across_two_tokens_is_cut_exactly() {
    let model = tiny();
    let (pieces, tokens, reason) = run(&model, &greedy());
    assert_eq!(reason, FinishReason::MaxTokens);
    // Without stop strings every token of this ASCII vocabulary is one piece.
    assert_eq!(pieces.len(), tokens.len());
    let full = pieces.concat();
    // A boundary after some text where the two characters either side first occur.
    let mut boundary = 0;
    let (at, stop) = pieces
        .windows(2)
        .find_map(|pair| {
            boundary += pair[0].len();
            let stop = format!("{}{}", &pair[0][pair[0].len() - 1..], &pair[1][..1]);
            let at = boundary - 1;
            (at > 0 && full.find(&stop) == Some(at)).then_some((at, stop))
        })
        .expect("some token boundary is the first occurrence of its two characters");
    let (cut, _, reason) = run(&model, &greedy().stop([stop.as_str()]));
    assert_eq!(cut.concat(), full[..at], "stop string {stop:?}");
    assert_eq!(reason, FinishReason::StopString(0));
    // What streamed before the cut came out piece by piece, never past it.
    assert!(cut.iter().all(|p| !p.is_empty()));
}

#[test]
fn a_stop_string_that_never_occurs_changes_nothing() {
    let model = tiny();
    let plain = run(&model, &greedy());
    let never = "\u{1F600} never";
    assert!(!plain.0.concat().contains(never));
    let stopped = run(&model, &greedy().stop([never, "zzzzzz"]));
    assert_eq!(stopped.0.concat(), plain.0.concat());
    assert_eq!((stopped.1, stopped.2), (plain.1, plain.2));
}

/// The text a `TextStream` makes of `tokens`, piece by piece, and the stop string that ended it.
fn stream_pieces(
    model: &TextModel,
    tokens: &[u32],
    stop: &[String],
) -> (Vec<String>, Option<usize>) {
    let mut stream = TextStream::new(model, stop).unwrap();
    let mut pieces = Vec::new();
    for &token in tokens {
        pieces.push(stream.push(token).unwrap().to_owned());
        if stream.stopped().is_some() {
            break;
        }
    }
    pieces.push(stream.finish().to_owned());
    pieces.retain(|p| !p.is_empty());
    (pieces, stream.stopped())
}

#[test]
fn a_text_stream_gives_the_pieces_a_generation_gives() {
    let model = tiny();
    let (pieces, tokens, _) = run(&model, &greedy());
    assert_eq!(stream_pieces(&model, &tokens, &[]), (pieces.clone(), None));
    // A stop string: the same cut as the generation's, reported by index.
    let full = pieces.concat();
    let stop = full[3..5].to_owned();
    let never = "\u{1F600}".to_owned();
    let (cut, _, reason) = run(&model, &greedy().stop([never.as_str(), stop.as_str()]));
    assert_eq!(reason, FinishReason::StopString(1));
    let (streamed, stopped) = stream_pieces(&model, &tokens, &[never, stop]);
    assert_eq!(streamed.concat(), cut.concat());
    assert_eq!(stopped, Some(1));
}

#[test]
fn empty_stop_strings_and_prompts_are_clear_errors() {
    let model = tiny();
    let mut session = session(&model);
    let err = session
        .generate(PROMPT, &greedy().stop(["\n", ""]))
        .unwrap_err();
    assert!(matches!(err, Error::EmptyStopString { index: 1 }), "{err}");
    assert!(err.to_string().contains("stop string 1 is empty"), "{err}");
    let err = session.generate("", &greedy()).unwrap_err();
    assert!(matches!(err, Error::EmptyPrompt), "{err}");
    let err = session
        .generate(PROMPT, &greedy().temperature(-1.0))
        .unwrap_err();
    assert!(err.to_string().contains("temperature"), "{err}");
}

#[test]
fn end_of_generation_tokens_stop() {
    let model = tiny();
    // The GGUF's EOS (2, <|im_end|>) and <|endoftext|> (0) end a generation by default.
    assert_eq!(model.defaults().stop_tokens, [0, 2]);
    let (_, tokens, _) = run(&model, &greedy());
    let stop_at = tokens[4];
    let first = tokens.iter().position(|&t| t == stop_at).unwrap();
    let mut defaults = model.defaults().clone();
    defaults.stop_tokens = vec![stop_at];
    let model = model.with_defaults(defaults);
    let options = GenerateOptions::default().temperature(0.0).max_tokens(24);
    let (pieces, got, reason) = run(&model, &options);
    assert_eq!(reason, FinishReason::StopToken(stop_at));
    assert_eq!(got, tokens[..first]);
    let codec = model.codec().unwrap();
    assert_eq!(pieces.concat(), codec.decode(&tokens[..first]).unwrap());
}

#[test]
fn max_tokens_and_a_full_cache_stop() {
    let model = tiny();
    let (_, tokens, reason) = run(&model, &greedy().max_tokens(5));
    assert_eq!((tokens.len(), reason), (5, FinishReason::MaxTokens));

    let prompt_len = model.encode(PROMPT).unwrap().len();
    let options = SessionOptions {
        threads: Some(1),
        capacity: Some(prompt_len + 3),
        ..SessionOptions::default()
    };
    let mut small = model.session(&options).unwrap();
    let done = small
        .generate(PROMPT, &greedy())
        .unwrap()
        .complete()
        .unwrap();
    // Three positions after the prompt, and the last sampled token needs none.
    assert_eq!(done.stats.generated_tokens, 4);
    assert_eq!(done.finish_reason, FinishReason::ContextFull);
    let long = PROMPT.repeat(4);
    let err = small.generate(&long, &greedy()).unwrap_err();
    assert!(matches!(err, Error::PromptTooLong { .. }), "{err}");
}

#[test]
fn chat_renders_the_template() {
    let model = tiny();
    // The fixture's vocabulary has ChatML's control tokens but no template: ChatML is chosen.
    assert_eq!(
        model.defaults().chat_template,
        Some(ChatTemplate::named("chatml").unwrap())
    );
    let mut defaults = model.defaults().clone();
    defaults.chat_template = None;
    let without = model.clone().with_defaults(defaults);
    let err = session(&without)
        .chat([("user", "hi")], &greedy())
        .unwrap_err();
    assert!(matches!(err, Error::NoChatTemplate { .. }), "{err}");
    let messages = [("system", "be brief"), ("user", "the cat")];
    let rendered = model
        .render_chat(&messages.map(smallmind::ChatMessage::from))
        .unwrap();
    assert_eq!(
        rendered,
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nthe cat<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    assert_eq!(
        model.encode(&rendered).unwrap()[..1],
        [1],
        "<|im_start|> is one token"
    );
    let reply = session(&model)
        .chat(messages, &greedy())
        .unwrap()
        .complete()
        .unwrap();
    let direct = session(&model)
        .generate(&rendered, &greedy())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(
        reply,
        Completion {
            stats: reply.stats,
            ..direct
        }
    );
}

use smallmind::Completion;

#[test]
fn a_session_reuses_its_cache_across_calls() {
    let model = tiny();
    let fresh = run(&model, &greedy()).0.concat();
    let mut session = session(&model);
    for _ in 0..2 {
        let done = session
            .generate(PROMPT, &greedy())
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(done.text, fresh);
    }
    // The second call fed only the last prompt token again.
    let prompt_len = model.encode(PROMPT).unwrap().len();
    let again = session
        .generate(PROMPT, &greedy())
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(again.stats.prompt_tokens, 1);
    assert!(session.session().position() >= prompt_len);
}

#[test]
fn loading_names_what_it_found() {
    let model = tiny();
    assert_eq!(model.name(), "tiny-llama-F32.gguf");
    assert!(model.tokenizer().is_some() && !model.defaults().add_bos);

    let gpt2 = smallmind::load(fixture("tiny-gpt2")).unwrap();
    assert!(gpt2.codec().is_none());
    let err = session(&gpt2).generate("hi", &greedy()).unwrap_err();
    assert!(matches!(err, Error::NoTokenizer { .. }), "{err}");

    let preset = smallmind::load("m-small").unwrap();
    assert_eq!(preset.name(), "m-small");
    assert!(preset.codec().is_none());

    let err = smallmind::load("no/such/model.gguf").unwrap_err();
    assert!(matches!(err, Error::NotAModel { .. }), "{err}");
}
