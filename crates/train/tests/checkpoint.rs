//! Checkpoints: bit-exact round trips, loading by the model crate, config
//! mismatches, corrupt files, and saves that fail or are interrupted.

mod common;

use common::{fixture_dir, noise};
use std::path::Path;
use std::sync::Arc;

use smallmind_model::{ModelConfig, Preset, Session, SessionOptions, loader};
use smallmind_tokenizer::{CHAR_TOKENIZER_FILE, CharTokenizer};
use smallmind_train::checkpoint::{CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};
use smallmind_train::{
    AdamW, BatchSampler, Checkpoint, CheckpointView, LrSchedule, ParamLayout, TrainError,
    TrainerState,
};

/// A config, parameters, an optimizer that took 3 steps, a vocabulary and a state.
struct Run {
    config: ModelConfig,
    params: Vec<f32>,
    optimizer: AdamW,
    tokenizer: CharTokenizer,
    state: TrainerState,
}

impl Run {
    fn new(preset: Preset, seed: u64) -> Self {
        let config = preset.config();
        let len = ParamLayout::gpt2(&config).unwrap().len();
        let mut params: Vec<f32> = (0..len).map(|i| noise(seed + i as u64) * 0.1).collect();
        let mut optimizer = AdamW::new(len, 3e-4).with_weight_decay(0.1);
        for step in 0..3u64 {
            let grads: Vec<f32> = (0..len)
                .map(|i| noise(seed ^ (step << 40) ^ i as u64) * 0.01)
                .collect();
            optimizer.step(&mut params, &grads, 3e-4).unwrap();
        }
        let mut sampler = BatchSampler::new(seed);
        let tokens: Vec<u32> = (0..500).collect();
        let (mut inputs, mut targets) = (vec![0; 64], vec![0; 64]);
        sampler
            .fill(&tokens, 4, 16, &mut inputs, &mut targets)
            .unwrap();
        let state = TrainerState {
            format_version: smallmind_train::checkpoint::FORMAT_VERSION,
            step: 3,
            seed,
            schedule: LrSchedule::cosine(3e-4, 3e-5, 2000).with_warmup(100),
            sampler: sampler.state(),
            batch_size: 4,
            context: 16,
            grad_accum: 1,
            grad_clip: Some(1.0),
            val_fraction: 0.1,
            tokens_seen: 192,
            last_train_loss: Some(5.25),
            last_val_loss: None,
            best_val_loss: Some(5.5),
            data_source: "data/tiny.txt".into(),
        };
        Run {
            config,
            params,
            optimizer,
            tokenizer: CharTokenizer::from_text("hello world\n").unwrap(),
            state,
        }
    }

    fn view(&self) -> CheckpointView<'_> {
        CheckpointView {
            config: &self.config,
            params: &self.params,
            optimizer: Some(&self.optimizer),
            tokenizer: Some(&self.tokenizer),
            state: Some(&self.state),
        }
    }

    fn save(&self, dir: &Path) {
        Checkpoint::save(dir, &self.view()).unwrap();
    }

    fn assert_loaded(&self, loaded: &Checkpoint) {
        assert_eq!(loaded.config, self.config);
        assert!(bits_equal(&loaded.params, &self.params), "params differ");
        let opt = loaded.optimizer.as_ref().expect("optimizer saved");
        assert!(bits_equal(opt.m(), self.optimizer.m()), "m differs");
        assert!(bits_equal(opt.v(), self.optimizer.v()), "v differs");
        assert_eq!(opt.step_count(), self.optimizer.step_count());
        let hyper = |o: &AdamW| (o.lr, o.beta1, o.beta2, o.eps, o.weight_decay);
        assert_eq!(hyper(opt), hyper(&self.optimizer));
        assert_eq!(loaded.tokenizer.as_ref(), Some(&self.tokenizer));
        assert_eq!(loaded.state.as_ref(), Some(&self.state));
    }
}

fn bits_equal(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn round_trip_is_bit_exact() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    let run = Run::new(Preset::Small, 1);
    run.save(&dir);
    let loaded = Checkpoint::load(&dir, Some(&run.config)).unwrap();
    run.assert_loaded(&loaded);
    // The resumed optimizer continues exactly like the original.
    let grads = vec![0.01f32; run.params.len()];
    let (mut a, mut b) = (run.params.clone(), loaded.params.clone());
    let mut opt_a = run.optimizer.clone();
    let mut opt_b = loaded.optimizer.unwrap();
    opt_a.step(&mut a, &grads, 1e-3).unwrap();
    opt_b.step(&mut b, &grads, 1e-3).unwrap();
    assert!(bits_equal(&a, &b));
    // Only the checkpoint is left in the parent: no temp or old directories.
    let names: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("ckpt")]);
}

#[test]
fn saving_again_replaces_the_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    Run::new(Preset::Small, 1).save(&dir);
    let second = Run::new(Preset::Small, 2);
    second.save(&dir);
    second.assert_loaded(&Checkpoint::load(&dir, None).unwrap());
}

/// Logits of `tokens` from a model directory loaded by the model crate.
fn logits_of(dir: &Path, tokens: &[u32]) -> Vec<f32> {
    let model = Arc::new(loader::load_dir(dir).unwrap());
    let options = SessionOptions {
        threads: Some(1),
        ..SessionOptions::default()
    };
    let mut session = Session::new(model, &options).unwrap();
    let mut out = Vec::new();
    session.prefill_all_logits(tokens, &mut out).unwrap();
    out
}

#[test]
fn resaved_fixture_gives_the_same_logits_in_the_model_crate() {
    // The tied tiny-gpt2 fixture (saved by transformers) → our loader → our
    // writer → the model crate: the forward must not change by a bit.
    let loaded = Checkpoint::load(fixture_dir(), None).unwrap();
    assert!(loaded.optimizer.is_none() && loaded.state.is_none());
    assert!(loaded.config.tie_word_embeddings);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("resaved");
    let view = CheckpointView {
        config: &loaded.config,
        params: &loaded.params,
        optimizer: None,
        tokenizer: None,
        state: None,
    };
    Checkpoint::save(&dir, &view).unwrap();
    let tokens: Vec<u32> = (0..24).map(|i| (i * 37 + 5) % 96).collect();
    let ours = logits_of(&dir, &tokens);
    let theirs = logits_of(&fixture_dir(), &tokens);
    assert!(bits_equal(&ours, &theirs), "logits differ after re-saving");
    assert_eq!(
        ModelConfig::from_hf_file(dir.join(CONFIG_FILE)).unwrap(),
        loaded.config
    );
}

#[test]
fn untied_checkpoint_loads_in_the_model_crate() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("small");
    let run = Run::new(Preset::Small, 3);
    run.save(&dir);
    let model = loader::load_dir(&dir).unwrap();
    assert_eq!(model.config(), &run.config);
    assert_eq!(model.param_count(), run.params.len());
    let logits = logits_of(&dir, &[1, 2, 3, 4]);
    assert_eq!(logits.len(), 4 * run.config.vocab_size);
    assert!(logits.iter().all(|x| x.is_finite()));
}

#[test]
fn another_config_is_a_clear_mismatch() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    Run::new(Preset::Small, 1).save(&dir);
    let cases = [
        (Preset::Medium.config(), "vocab_size"),
        (
            ModelConfig {
                num_layers: 3,
                ..Preset::Small.config()
            },
            "n_layer",
        ),
        (
            ModelConfig {
                tie_word_embeddings: true,
                ..Preset::Small.config()
            },
            "tie_word_embeddings",
        ),
    ];
    for (expected, field) in cases {
        let err = Checkpoint::load(&dir, Some(&expected)).unwrap_err();
        match &err {
            TrainError::ConfigMismatch { field: f, .. } => assert_eq!(*f, field, "{err}"),
            other => panic!("expected a mismatch on {field}, got {other}"),
        }
        assert!(err.to_string().contains(field), "{err}");
    }
}

/// Saves a fresh checkpoint, lets `damage` spoil it, and returns the load error.
fn load_after(damage: impl FnOnce(&Path)) -> String {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    Run::new(Preset::Small, 1).save(&dir);
    damage(&dir);
    Checkpoint::load(&dir, None).unwrap_err().to_string()
}

fn truncate(path: &Path, keep: usize) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..keep.min(bytes.len())]).unwrap();
}

#[test]
fn corrupt_files_are_clear_errors() {
    let err = load_after(|d| truncate(&d.join(MODEL_FILE), 100_000));
    assert!(err.contains(MODEL_FILE), "{err}");
    let err = load_after(|d| truncate(&d.join(MODEL_FILE), 5));
    assert!(err.contains(MODEL_FILE), "{err}");
    let err = load_after(|d| {
        let path = d.join(MODEL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
    });
    assert!(err.contains(MODEL_FILE), "{err}");
    let err = load_after(|d| truncate(&d.join(OPTIMIZER_FILE), 1000));
    assert!(err.contains(OPTIMIZER_FILE), "{err}");
    let err = load_after(|d| std::fs::write(d.join(STATE_FILE), "{\"step\": 1").unwrap());
    assert!(err.contains(STATE_FILE), "{err}");
    let err = load_after(|d| std::fs::write(d.join(CHAR_TOKENIZER_FILE), "[1,2]").unwrap());
    assert!(err.contains(CHAR_TOKENIZER_FILE), "{err}");
    let err = load_after(|d| std::fs::write(d.join(CONFIG_FILE), "{\"model_type\":").unwrap());
    assert!(err.contains(CONFIG_FILE), "{err}");
    let err = load_after(|d| std::fs::remove_file(d.join(MODEL_FILE)).unwrap());
    assert!(err.contains(MODEL_FILE), "{err}");
}

#[test]
fn a_tensor_of_another_shape_is_named() {
    // A medium model's weights under a small model's config.
    let err = load_after(|d| {
        let other = tempfile::tempdir().unwrap();
        let medium = other.path().join("m");
        Run::new(Preset::Medium, 1).save(&medium);
        std::fs::copy(medium.join(MODEL_FILE), d.join(MODEL_FILE)).unwrap();
    });
    assert!(
        err.contains("transformer.wte.weight") && err.contains("shape"),
        "{err}"
    );
}

#[test]
fn a_failed_save_keeps_the_previous_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    let run = Run::new(Preset::Small, 1);
    run.save(&dir);
    let short = &run.params[..10];
    let bad = CheckpointView {
        params: short,
        ..run.view()
    };
    let err = Checkpoint::save(&dir, &bad).unwrap_err();
    assert!(matches!(err, TrainError::ShapeMismatch { .. }), "{err}");
    run.assert_loaded(&Checkpoint::load(&dir, None).unwrap());
    // A save that fails mid-way (the target's parent is a file) writes nothing.
    let blocker = root.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    assert!(Checkpoint::save(blocker.join("ckpt"), &run.view()).is_err());
}

#[test]
fn an_interrupted_swap_is_recovered() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ckpt");
    let first = Run::new(Preset::Small, 1);
    first.save(&dir);
    // A crash between the two renames: the old checkpoint is at `.ckpt.old`,
    // and a half-written temp directory of a dead process (a pid above
    // Linux's maximum) lies around.
    std::fs::rename(&dir, root.path().join(".ckpt.old")).unwrap();
    let stale = root.path().join(".ckpt.tmp-999999999-1-0");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join(MODEL_FILE), "half").unwrap();
    first.assert_loaded(&Checkpoint::load(&dir, None).unwrap());
    let second = Run::new(Preset::Small, 2);
    second.save(&dir);
    second.assert_loaded(&Checkpoint::load(&dir, None).unwrap());
    assert!(!root.path().join(".ckpt.old").exists());
    assert!(!stale.exists(), "the stale temp directory was not removed");
}

#[test]
fn an_unrelated_directory_is_never_replaced() {
    let root = tempfile::tempdir().unwrap();
    let notes = root.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), "keep me").unwrap();
    let err = Checkpoint::save(&notes, &Run::new(Preset::Small, 1).view()).unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    assert_eq!(
        std::fs::read_to_string(notes.join("todo.txt")).unwrap(),
        "keep me"
    );
    let file = root.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(Checkpoint::save(&file, &Run::new(Preset::Small, 1).view()).is_err());
    // An empty directory is fine.
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    Checkpoint::save(&empty, &Run::new(Preset::Small, 1).view()).unwrap();
}
