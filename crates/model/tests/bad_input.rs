//! Bad input gets a clear error naming the problem, never a panic: corrupt or
//! truncated checkpoints, wrong shapes, unknown dtypes, missing config keys,
//! empty prompts, context overflow and out-of-vocabulary tokens.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use smallmind_model::{ModelError, Session, SessionOptions, loader};

/// A copy of fixture `name` in a temp dir, with `edit` applied to its files.
fn edited_fixture(name: &str, edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(common::fixture_dir(name).join(file), dir.path().join(file)).unwrap();
    }
    edit(dir.path());
    dir
}

/// Rewrites `model.safetensors` after `change` edits the (name → (dtype, shape, bytes)) map.
fn rewrite_tensors(
    dir: &Path,
    change: impl FnOnce(&mut HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>),
) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut map: HashMap<_, _> = st
        .iter()
        .map(|(n, v)| {
            (
                n.to_owned(),
                (v.dtype(), v.shape().to_vec(), v.data().to_vec()),
            )
        })
        .collect();
    change(&mut map);
    let views: Vec<(String, TensorView<'_>)> = map
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
}

fn load_error(dir: &Path) -> ModelError {
    loader::load_dir(dir).expect_err("loading must fail")
}

#[test]
fn truncated_safetensors_is_an_error() {
    for keep in [0, 4, 8, 100, 300_000] {
        let dir = edited_fixture("tiny-llama", |d| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(d.join("model.safetensors"))
                .unwrap();
            f.set_len(keep).unwrap();
        });
        let err = load_error(dir.path());
        assert!(
            matches!(err, ModelError::InvalidSafetensors { .. }),
            "truncated to {keep} bytes: {err}"
        );
    }
}

#[test]
fn corrupt_header_is_an_error() {
    let dir = edited_fixture("tiny-llama", |d| {
        let path = d.join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8..40].copy_from_slice(&[b'#'; 32]);
        std::fs::write(&path, bytes).unwrap();
    });
    assert!(matches!(
        load_error(dir.path()),
        ModelError::InvalidSafetensors { .. }
    ));
}

#[test]
fn shape_mismatch_names_the_tensor() {
    let name = "model.layers.0.self_attn.q_proj.weight";
    let dir = edited_fixture("tiny-llama", |d| {
        rewrite_tensors(d, |m| {
            let (_, shape, _) = m.get_mut(name).unwrap();
            *shape = vec![32, 128];
        })
    });
    match load_error(dir.path()) {
        ModelError::ShapeMismatch {
            name: n,
            expected,
            actual,
        } => {
            assert_eq!(n, name);
            assert_eq!((expected, actual), (vec![64, 64], vec![32, 128]));
        }
        other => panic!("expected a shape mismatch, got {other}"),
    }
}

#[test]
fn missing_tensor_names_it() {
    let name = "model.layers.1.mlp.down_proj.weight";
    let dir = edited_fixture("tiny-llama", |d| {
        rewrite_tensors(d, |m| drop(m.remove(name)))
    });
    let err = load_error(dir.path());
    assert!(
        matches!(&err, ModelError::MissingTensor { name: n } if n == name),
        "{err}"
    );
    assert!(err.to_string().contains(name));
}

#[test]
fn unsupported_dtype_names_the_tensor() {
    let name = "model.norm.weight";
    let dir = edited_fixture("tiny-llama", |d| {
        rewrite_tensors(d, |m| {
            let entry = m.get_mut(name).unwrap();
            entry.0 = Dtype::I32;
        })
    });
    let err = load_error(dir.path());
    assert!(
        matches!(&err, ModelError::UnsupportedDType { name: n, .. } if n == name),
        "{err}"
    );
}

#[test]
fn missing_config_key_names_it() {
    let dir = edited_fixture("tiny-llama", |d| {
        let path = d.join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut().unwrap().remove("hidden_size");
        std::fs::write(&path, v.to_string()).unwrap();
    });
    let err = load_error(dir.path());
    assert!(
        matches!(err, ModelError::MissingConfigKey { key: "hidden_size" }),
        "{err}"
    );
}

#[test]
fn missing_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_error(dir.path());
    assert!(
        matches!(&err, ModelError::Io { path, .. } if path.ends_with("config.json")),
        "{err}"
    );
}

fn small_session(capacity: usize) -> Session {
    let model = common::load("tiny-llama");
    let options = SessionOptions {
        threads: Some(1),
        capacity: Some(capacity),
        max_batch: 8,
        ..SessionOptions::default()
    };
    Session::new(Arc::clone(&model), &options).unwrap()
}

#[test]
fn empty_prompt_is_an_error() {
    let mut s = small_session(16);
    assert!(matches!(s.prefill(&[]), Err(ModelError::EmptyPrompt)));
}

#[test]
fn token_outside_the_vocabulary_is_an_error() {
    let mut s = small_session(16);
    let err = s.prefill(&[1, 2, 128]).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::TokenOutOfRange {
                token: 128,
                vocab_size: 128
            }
        ),
        "{err}"
    );
    assert_eq!(
        s.position(),
        0,
        "a rejected prompt leaves the session untouched"
    );
    assert!(s.decode(u32::MAX).is_err());
}

#[test]
fn context_overflow_is_an_error_and_leaves_the_session_usable() {
    let mut s = small_session(16);
    s.prefill(&[1; 10]).unwrap();
    let err = s.prefill(&[1; 7]).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::ContextOverflow {
                requested: 17,
                capacity: 16
            }
        ),
        "{err}"
    );
    for _ in 0..6 {
        s.decode(3).unwrap();
    }
    assert!(matches!(
        s.decode(3),
        Err(ModelError::ContextOverflow { .. })
    ));
    s.truncate(4).unwrap();
    s.decode(3).unwrap();
    assert_eq!(s.position(), 5);
}

#[test]
fn bad_session_settings_are_errors() {
    let model = common::load("tiny-llama");
    for options in [
        SessionOptions {
            threads: Some(0),
            ..SessionOptions::default()
        },
        SessionOptions {
            capacity: Some(0),
            ..SessionOptions::default()
        },
        SessionOptions {
            capacity: Some(257),
            ..SessionOptions::default()
        },
        SessionOptions {
            max_batch: 0,
            ..SessionOptions::default()
        },
    ] {
        let err = Session::new(Arc::clone(&model), &options).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidSetting { .. }),
            "{options:?}: {err}"
        );
    }
}
