//! Shared helpers of the train tests: the tiny-gpt2 fixture (weights, batch,
//! PyTorch loss and gradients) in our flat layout, small configs, a seeded RNG.
#![allow(dead_code, unreachable_pub)]

use smallmind_testkit::Worst;
use std::path::PathBuf;

use safetensors::{Dtype, SafeTensors};
use smallmind_model::{ModelConfig, Preset};
use smallmind_train::ParamLayout;

/// `fixtures/tiny-gpt2` in the repository.
pub fn fixture_dir() -> PathBuf {
    smallmind_testkit::fixture("tiny-gpt2")
}

/// A deterministic pseudo-random value in [-1, 1) (splitmix64).
pub fn noise(seed: u64) -> f32 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
}

/// The tiny-gpt2 config (tied head).
pub fn tiny_config() -> ModelConfig {
    let text = std::fs::read_to_string(fixture_dir().join("config.json")).unwrap();
    ModelConfig::from_hf_json(&text).unwrap()
}

/// A tensor's f32 values.
pub fn f32s(st: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    let view = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(view.dtype(), Dtype::F32, "{name}");
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Reads `<prefix><name>` of every layout entry into one flat buffer.
pub fn flat(st: &SafeTensors<'_>, layout: &ParamLayout, prefix: &str) -> Vec<f32> {
    let mut out = vec![0.0; layout.len()];
    for entry in layout.entries() {
        let values = f32s(st, &format!("{prefix}{}", entry.name));
        out[entry.range()].copy_from_slice(&values);
    }
    out
}

/// The fixture: weights, one batch and PyTorch's loss and gradients.
pub struct Fixture {
    pub config: ModelConfig,
    pub layout: ParamLayout,
    pub params: Vec<f32>,
    pub batch: usize,
    pub context: usize,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    pub loss: f32,
    pub grads: Vec<f32>,
}

/// Loads the tiny-gpt2 fixture; `batch_ids` is `(4, 33)`, inputs its first
/// 32 columns, targets its last 32.
pub fn fixture() -> Fixture {
    let config = tiny_config();
    let layout = ParamLayout::gpt2(&config).unwrap();
    let model = std::fs::read(fixture_dir().join("model.safetensors")).unwrap();
    let model = SafeTensors::deserialize(&model).unwrap();
    let params = flat(&model, &layout, "");
    let train = std::fs::read(fixture_dir().join("train.safetensors")).unwrap();
    let train = SafeTensors::deserialize(&train).unwrap();
    let ids = train.tensor("batch_ids").unwrap();
    assert_eq!(ids.dtype(), Dtype::I64);
    let (batch, cols) = (ids.shape()[0], ids.shape()[1]);
    let ids: Vec<u32> = ids
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect();
    let context = cols - 1;
    let rows = || ids.chunks_exact(cols);
    Fixture {
        inputs: rows().flat_map(|r| r[..context].to_vec()).collect(),
        targets: rows().flat_map(|r| r[1..].to_vec()).collect(),
        loss: f32s(&train, "loss")[0],
        grads: flat(&train, &layout, "grad."),
        config,
        layout,
        params,
        batch,
        context,
    }
}

/// A small untied GPT-2 config: M-small's shape, shrunk.
pub fn small_untied_config() -> ModelConfig {
    let mut config = Preset::Small.config();
    config.vocab_size = 40;
    config.hidden_size = 32;
    config.num_heads = 4;
    config.num_kv_heads = 4;
    config.head_dim = 8;
    config.intermediate_size = 128;
    config.num_layers = 2;
    config.max_position_embeddings = 16;
    config.tie_word_embeddings = false;
    config.validate().unwrap();
    config
}

/// A splitmix64 generator: deterministic test data without dependencies.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn tokens(&mut self, n: usize, vocab: usize) -> Vec<u32> {
        (0..n).map(|_| self.below(vocab) as u32).collect()
    }
}

/// GPT-2-like random parameters: norm gains near 1, small biases,
/// weights scaled by `1/√fan_in`.
pub fn random_params(layout: &ParamLayout, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut params = vec![0.0; layout.len()];
    for entry in layout.entries() {
        // Norm gains and biases (1-D), then the matrices.
        let scale = if entry.shape.len() == 1 {
            0.1
        } else if entry.name.contains("wte") || entry.name.contains("lm_head") {
            0.5
        } else if entry.name.contains("wpe") {
            0.1
        } else {
            1.7 / (entry.shape[0] as f32).sqrt()
        };
        let offset = if entry.name.contains("ln_") && entry.name.ends_with("weight") {
            1.0
        } else {
            0.0
        };
        for p in &mut params[entry.range()] {
            *p = offset + scale * rng.uniform();
        }
    }
    params
}

/// `‖a − b‖ / ‖b‖` (or `‖a − b‖` when `b` is all zeros) of two tensors, as a [`Worst`]: a NaN
/// anywhere makes it fail. The element-wise measure is testkit's `max_rel_to_scale`.
pub fn norm_rel_err(ours: &[f32], theirs: &[f32]) -> Worst {
    assert_eq!(ours.len(), theirs.len());
    let (mut diff2, mut norm2) = (0.0f64, 0.0f64);
    for (&a, &b) in ours.iter().zip(theirs) {
        let d = f64::from(a) - f64::from(b);
        diff2 += d * d;
        norm2 += f64::from(b) * f64::from(b);
    }
    if norm2 == 0.0 {
        Worst::scalar(diff2.sqrt())
    } else {
        Worst::scalar(diff2.sqrt() / norm2.sqrt())
    }
}

/// A `threads`-thread pool whose every thread has run one small GEMM: the
/// GEMM kernel allocates its per-thread packing buffers on a thread's first
/// GEMM (a one-time cost per thread, not per step), and which pool thread
/// runs which GEMM is up to work stealing.
pub fn warm_pool(threads: usize) -> rayon::ThreadPool {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.broadcast(|_| {
        let (a, mut c) = ([1.0f32; 64], [0.0f32; 64]);
        smallmind_kernels::gemm::gemm(&smallmind_kernels::gemm::Gemm::new(8, 8, 8), &a, &a, &mut c)
            .unwrap();
    });
    pool
}
