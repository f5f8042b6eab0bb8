//! Shared helpers for the model integration tests: fixture paths and the
//! reference outputs in `expected.safetensors`.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;

use safetensors::SafeTensors;
use smallmind_model::{Model, Session, SessionOptions, loader};

/// `fixtures/<name>` in the repository.
pub fn fixture_dir(name: &str) -> PathBuf {
    smallmind_testkit::fixture(name)
}

/// The model of a fixture folder.
pub fn load(name: &str) -> Arc<Model> {
    Arc::new(loader::load_dir(fixture_dir(name)).expect("fixture loads"))
}

/// A session with `threads` workers.
pub fn session(model: &Arc<Model>, threads: usize) -> Session {
    let options = SessionOptions {
        threads: Some(threads),
        ..SessionOptions::default()
    };
    Session::new(Arc::clone(model), &options).expect("session")
}

/// `expected.safetensors` of a fixture.
pub struct Expected {
    /// `(24,)` prompt.
    pub input_ids: Vec<u32>,
    /// `(24, V)` logits of a plain forward.
    pub logits: Vec<f32>,
    /// `(32,)` greedy continuation of `input_ids[..8]`.
    pub greedy_ids: Vec<u32>,
    /// `(32, V)` the logits each greedy token was picked from.
    pub greedy_logits: Vec<f32>,
}

impl Expected {
    /// `expected.safetensors` of the fixture folder `name`.
    pub fn read(name: &str) -> Expected {
        Expected::read_file(&fixture_dir(name).join("expected.safetensors"))
    }

    /// An expected-outputs file at `path` (same tensors).
    pub fn read_file(path: &std::path::Path) -> Expected {
        let bytes = std::fs::read(path).expect("expected");
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let ids = |n: &str| -> Vec<u32> {
            let t = st.tensor(n).expect(n);
            t.data()
                .chunks_exact(8)
                .map(|b| u32::try_from(i64::from_le_bytes(b.try_into().unwrap())).unwrap())
                .collect()
        };
        let f32s = |n: &str| -> Vec<f32> {
            let t = st.tensor(n).expect(n);
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        Expected {
            input_ids: ids("input_ids"),
            logits: f32s("logits"),
            greedy_ids: ids("greedy_ids"),
            greedy_logits: f32s("greedy_logits"),
        }
    }
}

/// Index of the largest value (lowest index on ties).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}
