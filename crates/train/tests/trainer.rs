//! The training loop end to end: it learns a repetitive text, a resumed run
//! continues bit for bit like the uninterrupted one, and bad settings get
//! named errors.

use std::path::Path;

use smallmind_model::{ModelConfig, Preset};
use smallmind_tokenizer::CharTokenizer;
use smallmind_train::{
    Checkpoint, LrSchedule, TextDataset, TrainError, TrainSettings, Trainer, init_params,
};

/// A text a small model learns quickly: one sentence, repeated.
fn corpus() -> String {
    "the quick brown fox jumps over the lazy dog. ".repeat(400)
}

fn dataset(text: &str) -> TextDataset {
    let tokenizer = CharTokenizer::from_text(text).unwrap();
    TextDataset::from_text(text, Path::new("corpus.txt"), tokenizer, 0.1).unwrap()
}

fn config_for(data: &TextDataset) -> ModelConfig {
    ModelConfig {
        vocab_size: data.tokenizer().vocab_size(),
        ..Preset::Small.config()
    }
}

fn settings(steps: u64) -> TrainSettings {
    TrainSettings {
        batch_size: 8,
        context: 32,
        grad_accum: 1,
        grad_clip: Some(1.0),
        schedule: LrSchedule::cosine(3e-3, 3e-4, steps).with_warmup(steps / 10),
        weight_decay: 0.01,
        seed: 7,
        val_fraction: 0.1,
        val_batches: 4,
    }
}

fn trainer(data: &TextDataset, settings: TrainSettings) -> Trainer {
    let config = config_for(data);
    let params = init_params(&config, settings.seed).unwrap();
    Trainer::new(&config, params, data, settings).unwrap()
}

/// Validation loss falls below 40% of the initial loss within 150 steps.
#[test]
fn it_learns_a_repetitive_text() {
    let data = dataset(&corpus());
    let mut run = trainer(&data, settings(150));
    let initial = run.validate().unwrap().unwrap();
    for _ in 0..150 {
        let stats = run.step(&data).unwrap();
        assert!(stats.loss.is_finite() && stats.grad_norm.is_finite());
    }
    let last = run.validate().unwrap().unwrap();
    assert!(last < 0.4 * initial, "validation loss {initial} -> {last}");
    assert_eq!(run.step_count(), 150);
    assert_eq!(run.state().tokens_seen, 150 * 8 * 32);
}

/// Save after 3 steps, resume, 3 more: the same weights, bit for bit, as
/// 6 steps in one go (optimizer moments, schedule position and the batch
/// stream all come back).
#[test]
fn resuming_continues_exactly() {
    let data = dataset(&corpus());
    let mut straight = trainer(&data, settings(6));
    for _ in 0..6 {
        straight.step(&data).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    let mut first = trainer(&data, settings(6));
    for _ in 0..3 {
        first.step(&data).unwrap();
    }
    first.save(&ckpt, &data).unwrap();
    let loaded = Checkpoint::load(&ckpt, None).unwrap();
    let mut resumed = Trainer::resume(loaded, &data, 4).unwrap();
    assert_eq!(resumed.step_count(), 3);
    for _ in 0..3 {
        resumed.step(&data).unwrap();
    }
    assert_eq!(resumed.params(), straight.params());
}

/// Accumulating two micro-batches of 4 equals one step on both batches at
/// once only in expectation, but it must run, count tokens, and learn.
#[test]
fn gradient_accumulation_counts_every_micro_batch() {
    let data = dataset(&corpus());
    let mut run = trainer(
        &data,
        TrainSettings {
            batch_size: 4,
            grad_accum: 2,
            ..settings(20)
        },
    );
    let stats = run.step(&data).unwrap();
    assert_eq!(stats.tokens, 2 * 4 * 32);
}

#[test]
fn bad_settings_are_named() {
    let data = dataset(&corpus());
    let config = config_for(&data);
    let params = init_params(&config, 1).unwrap();
    let err = |settings: TrainSettings| {
        Trainer::new(&config, params.clone(), &data, settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(
        err(TrainSettings {
            grad_accum: 0,
            ..settings(10)
        })
        .contains("grad-accum")
    );
    assert!(
        err(TrainSettings {
            context: 65,
            ..settings(10)
        })
        .contains("context"),
        "a context longer than the model's"
    );
    assert!(
        err(TrainSettings {
            grad_clip: Some(-1.0),
            ..settings(10)
        })
        .contains("grad-clip")
    );
    assert!(
        err(TrainSettings {
            weight_decay: f32::NAN,
            ..settings(10)
        })
        .contains("weight-decay")
    );
    let other = ModelConfig {
        vocab_size: config.vocab_size + 1,
        ..config.clone()
    };
    let wrong_vocab = Trainer::new(&other, init_params(&other, 1).unwrap(), &data, settings(10));
    assert!(matches!(
        wrong_vocab,
        Err(TrainError::InvalidSetting { .. })
    ));
    let short = dataset("abc");
    assert!(matches!(
        Trainer::new(
            &config_for(&short),
            init_params(&config_for(&short), 1).unwrap(),
            &short,
            settings(10)
        ),
        Err(TrainError::Data { .. })
    ));
}
