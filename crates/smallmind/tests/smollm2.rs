//! The shipped SmolLM2-135M-Instruct Q4_1 GGUF through the library alone: its own chat template
//! and end-of-turn token, greedy, answer "What is the capital of France?" with Paris. Skipped
//! (visibly) where `SMALLMIND_MODELS` lacks the file.

use smallmind::{ActivationPrecision, FinishReason, GenerateOptions, SessionOptions};
use smallmind_testkit::models::{SMOLLM2_Q4_1, model_file};

#[test]
fn smollm2_q4_1_chat_says_paris() {
    let Some(path) = model_file(SMOLLM2_Q4_1) else {
        return;
    };
    let model = smallmind::load(path).unwrap();
    // The file's own `tokenizer.chat_template`, rendered by minijinja.
    assert_eq!(
        model.defaults().chat_template.as_ref().unwrap().name(),
        "jinja"
    );
    // f32 activations: Q8 activations flip this question's near tie (as llama.cpp's do).
    let options = SessionOptions {
        capacity: Some(512),
        activations: ActivationPrecision::F32,
        ..SessionOptions::default()
    };
    let mut session = model.session(&options).unwrap();
    let reply = session
        .chat(
            [("user", "What is the capital of France?")],
            &GenerateOptions::default().temperature(0.0).max_tokens(48),
        )
        .unwrap()
        .complete()
        .unwrap();
    assert!(reply.text.contains("Paris"), "{reply:?}");
    // The reply ends at <|im_end|>, which is not part of the text.
    let im_end = model.tokenizer().unwrap().token_id("<|im_end|>").unwrap();
    assert_eq!(
        reply.finish_reason,
        FinishReason::StopToken(im_end),
        "{reply:?}"
    );
    assert!(!reply.text.contains("<|im_end|>"));
}
