//! Streaming generation: the iterator reproduces the fixture's greedy
//! continuation, stops on stop tokens, the token limit and a full cache,
//! replays exactly under a seed, and reports its timing.

mod common;

use smallmind_model::{FinishReason, Generation, ModelError, Sampler, SamplerConfig, StopCriteria};

fn stop(max_new_tokens: usize, stop_tokens: &[u32]) -> StopCriteria {
    StopCriteria {
        stop_tokens: stop_tokens.to_vec(),
        max_new_tokens,
    }
}

#[test]
fn greedy_generation_reproduces_transformers() {
    for name in ["tiny-gpt2", "tiny-llama"] {
        let model = common::load(name);
        let expected = common::Expected::read(name);
        let mut session = common::session(&model, 2);
        let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().vocab_size).unwrap();
        let prompt = &expected.input_ids[..8];
        let tokens: Vec<u32> = Generation::new(&mut session, &mut sampler, stop(32, &[]), prompt)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tokens, expected.greedy_ids, "{name}");
    }
}

#[test]
fn generation_stops_on_stop_token_limit_and_full_cache() {
    let model = common::load("tiny-llama");
    let expected = common::Expected::read("tiny-llama");
    let prompt = &expected.input_ids[..8];
    let mut sampler = Sampler::new(SamplerConfig::greedy(), 128).unwrap();

    // The fifth greedy token as a stop token: four tokens come out.
    let mut session = common::session(&model, 1);
    let stop_at = expected.greedy_ids[4];
    let first = expected
        .greedy_ids
        .iter()
        .position(|&t| t == stop_at)
        .unwrap();
    let mut g = Generation::new(&mut session, &mut sampler, stop(32, &[stop_at]), prompt).unwrap();
    let got: Vec<u32> = g.by_ref().map(Result::unwrap).collect();
    assert_eq!(got, expected.greedy_ids[..first]);
    assert_eq!(g.finish_reason(), Some(FinishReason::StopToken(stop_at)));

    let mut session = common::session(&model, 1);
    let mut g = Generation::new(&mut session, &mut sampler, stop(5, &[]), prompt).unwrap();
    assert_eq!(g.by_ref().count(), 5);
    assert_eq!(g.finish_reason(), Some(FinishReason::MaxTokens));
    let stats = *g.stats();
    assert_eq!((stats.prompt_tokens, stats.generated_tokens), (8, 5));
    assert!(stats.prefill_time > std::time::Duration::ZERO);
    assert!(stats.time_to_first_token >= stats.prefill_time);
    assert!(stats.decode_tokens_per_second() > 0.0);

    // A 12-position cache: 8 prompt tokens, then 4 more positions, but the
    // last sampled token needs no position, so 5 tokens come out.
    let options = smallmind_model::SessionOptions {
        threads: Some(1),
        capacity: Some(12),
        ..Default::default()
    };
    let mut session = smallmind_model::Session::new(model.clone(), &options).unwrap();
    let mut g = Generation::new(&mut session, &mut sampler, stop(100, &[]), prompt).unwrap();
    assert_eq!(g.by_ref().map(Result::unwrap).count(), 5);
    assert_eq!(g.finish_reason(), Some(FinishReason::ContextFull));
}

#[test]
fn seeded_sampling_replays_exactly() {
    let model = common::load("tiny-gpt2");
    let config = SamplerConfig {
        temperature: 0.9,
        top_k: 20,
        top_p: 0.95,
        seed: 1234,
        ..SamplerConfig::default()
    };
    let run = || {
        let mut session = common::session(&model, 2);
        let mut sampler = Sampler::new(config.clone(), 96).unwrap();
        Generation::new(&mut session, &mut sampler, stop(40, &[]), &[1, 2, 3])
            .unwrap()
            .collect::<Result<Vec<u32>, _>>()
            .unwrap()
    };
    let first = run();
    assert_eq!(first.len(), 40);
    assert_eq!(first, run());
    let greedy: Vec<u32> = {
        let mut session = common::session(&model, 1);
        let mut sampler = Sampler::new(SamplerConfig::greedy(), 96).unwrap();
        Generation::new(&mut session, &mut sampler, stop(40, &[]), &[1, 2, 3])
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_ne!(
        first, greedy,
        "temperature 0.9 should leave the greedy path"
    );
}

#[test]
fn bad_prompts_are_errors() {
    let model = common::load("tiny-gpt2");
    let mut session = common::session(&model, 1);
    let mut sampler = Sampler::new(SamplerConfig::greedy(), 96).unwrap();
    let err = Generation::new(&mut session, &mut sampler, stop(4, &[]), &[]).unwrap_err();
    assert!(matches!(err, ModelError::EmptyPrompt));
    let mut g = Generation::new(&mut session, &mut sampler, stop(4, &[]), &[1, 96]).unwrap();
    assert!(matches!(
        g.next(),
        Some(Err(ModelError::TokenOutOfRange { token: 96, .. }))
    ));
    assert!(g.next().is_none());
    assert_eq!(g.finish_reason(), Some(FinishReason::Error));
}
