//! Benchmark presets: parameter counts against WORKLOADS.md, seeded random
//! weights in exact Hugging Face GPT-2 naming and layout, name parsing.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use smallmind_model::preset::{
    NamedTensor, PRESET_SEED, PRESET_WEIGHT_STD, Preset, gpt2_random_tensors,
};
use smallmind_model::{Activation, Architecture, ModelConfig, ModelError};

const TINY_GPT2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny-gpt2");

/// Hugging Face GPT-2 tensor names, in order, for `layers` blocks.
fn hf_gpt2_names(layers: usize, tied: bool) -> Vec<String> {
    let mut names = vec![
        "transformer.wte.weight".to_owned(),
        "transformer.wpe.weight".to_owned(),
    ];
    for n in 0..layers {
        for part in [
            "ln_1.weight",
            "ln_1.bias",
            "attn.c_attn.weight",
            "attn.c_attn.bias",
            "attn.c_proj.weight",
            "attn.c_proj.bias",
            "ln_2.weight",
            "ln_2.bias",
            "mlp.c_fc.weight",
            "mlp.c_fc.bias",
            "mlp.c_proj.weight",
            "mlp.c_proj.bias",
        ] {
            names.push(format!("transformer.h.{n}.{part}"));
        }
    }
    names.push("transformer.ln_f.weight".to_owned());
    names.push("transformer.ln_f.bias".to_owned());
    if !tied {
        names.push("lm_head.weight".to_owned());
    }
    names
}

fn total_numel(tensors: &[NamedTensor]) -> usize {
    tensors.iter().map(NamedTensor::numel).sum()
}

#[test]
fn param_counts_match_workloads_table() {
    for preset in Preset::ALL {
        let config = preset.config();
        config.validate().unwrap();
        assert_eq!(
            config.param_count(),
            preset.expected_param_count(),
            "{preset}"
        );
    }
    assert_eq!(Preset::Small.expected_param_count(), 470_528);
    assert_eq!(Preset::Medium.expected_param_count(), 3_454_464);
    assert_eq!(Preset::Large.expected_param_count(), 26_530_816);
    assert_eq!(Preset::Gpt2.expected_param_count(), 124_439_808);
}

#[test]
fn configs_are_gpt2_style() {
    let shapes = [
        (Preset::Small, 256, 64, 128, 2, 4, false),
        (Preset::Medium, 512, 128, 256, 4, 8, false),
        (Preset::Large, 1024, 512, 512, 8, 8, false),
        (Preset::Gpt2, 50257, 1024, 768, 12, 12, true),
    ];
    for (preset, vocab, context, d, layers, heads, tied) in shapes {
        let c = preset.config();
        assert_eq!(c.architecture, Architecture::Gpt2);
        assert_eq!(
            (
                c.vocab_size,
                c.max_position_embeddings,
                c.hidden_size,
                c.num_layers,
                c.num_heads
            ),
            (vocab, context, d, layers, heads),
            "{preset}"
        );
        assert_eq!(
            (c.num_kv_heads, c.head_dim, c.intermediate_size),
            (heads, d / heads, 4 * d)
        );
        assert_eq!(c.norm_eps, 1e-5);
        assert_eq!(c.activation, Activation::GeluTanh);
        assert_eq!(c.tie_word_embeddings, tied, "{preset}");
        assert!(c.attention_bias && c.mlp_bias);
    }
}

#[test]
fn random_tensors_cover_every_parameter() {
    for preset in [Preset::Small, Preset::Medium] {
        let tensors = preset.random_tensors(PRESET_SEED);
        assert_eq!(
            total_numel(&tensors),
            preset.expected_param_count(),
            "{preset}"
        );
        for t in &tensors {
            assert_eq!(t.data.len(), t.numel(), "{}", t.name);
        }
    }
}

#[test]
fn names_and_shapes_are_hugging_face_gpt2() {
    let config = Preset::Small.config();
    let tensors = Preset::Small.random_tensors(PRESET_SEED);
    let names: Vec<String> = tensors.iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, hf_gpt2_names(2, false));
    let (v, p, d) = (256, 64, 128);
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .shape
            .clone()
    };
    assert_eq!(shape("transformer.wte.weight"), vec![v, d]);
    assert_eq!(shape("transformer.wpe.weight"), vec![p, d]);
    assert_eq!(shape("transformer.h.1.ln_1.weight"), vec![d]);
    assert_eq!(shape("transformer.h.1.attn.c_attn.weight"), vec![d, 3 * d]);
    assert_eq!(shape("transformer.h.1.attn.c_attn.bias"), vec![3 * d]);
    assert_eq!(shape("transformer.h.1.attn.c_proj.weight"), vec![d, d]);
    assert_eq!(shape("transformer.h.1.mlp.c_fc.weight"), vec![d, 4 * d]);
    assert_eq!(shape("transformer.h.1.mlp.c_fc.bias"), vec![4 * d]);
    assert_eq!(shape("transformer.h.1.mlp.c_proj.weight"), vec![4 * d, d]);
    assert_eq!(shape("transformer.h.1.mlp.c_proj.bias"), vec![d]);
    assert_eq!(shape("transformer.ln_f.bias"), vec![d]);
    assert_eq!(shape("lm_head.weight"), vec![v, d]);
    assert_eq!(config.num_layers, 2);
}

/// A tied GPT-2 config gives exactly the tensor set of the tiny-gpt2
/// fixture written by transformers' `save_pretrained`: same names, same shapes.
#[test]
fn tied_names_match_the_tiny_gpt2_checkpoint() {
    let config = ModelConfig::from_hf_file(format!("{TINY_GPT2}/config.json")).unwrap();
    let ours = gpt2_random_tensors(&config, 7).unwrap();
    let bytes = std::fs::read(format!("{TINY_GPT2}/model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut theirs: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    let mut mine: Vec<(String, Vec<usize>)> = ours
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    theirs.sort();
    mine.sort();
    assert_eq!(mine, theirs);
    assert_eq!(total_numel(&ours), config.param_count());
}

#[test]
fn seeded_and_reproducible() {
    let a = Preset::Small.random_tensors(PRESET_SEED);
    let b = Preset::Small.random_tensors(PRESET_SEED);
    assert_eq!(a, b);
    let c = Preset::Small.random_tensors(PRESET_SEED + 1);
    for (x, y) in a.iter().zip(&c) {
        assert_eq!((&x.name, &x.shape), (&y.name, &y.shape));
        if x.name.ends_with(".weight") && !x.name.contains("ln_") {
            assert_ne!(x.data, y.data, "{}", x.name);
        }
    }
    assert_eq!(PRESET_SEED, 42);
}

/// Gains are 1, biases 0, and the matrices are one `ChaCha8Rng` normal
/// stream consumed in tensor order.
#[test]
fn values_follow_the_documented_init() {
    let tensors = Preset::Small.random_tensors(PRESET_SEED);
    let mut rng = ChaCha8Rng::seed_from_u64(PRESET_SEED);
    let normal = Normal::new(0.0_f32, 0.02).unwrap();
    for t in &tensors {
        if t.name.contains("ln_") && t.name.ends_with(".weight") {
            assert!(t.data.iter().all(|&x| x == 1.0), "{}", t.name);
        } else if t.name.ends_with(".bias") {
            assert!(t.data.iter().all(|&x| x == 0.0), "{}", t.name);
        } else {
            for (i, &x) in t.data.iter().enumerate() {
                assert_eq!(x, normal.sample(&mut rng), "{}[{i}]", t.name);
            }
        }
    }
}

#[test]
fn weight_statistics() {
    let tensors = Preset::Medium.random_tensors(PRESET_SEED);
    let weights: Vec<f32> = tensors
        .iter()
        .filter(|t| !t.name.contains("ln_") && t.name.ends_with(".weight"))
        .flat_map(|t| t.data.iter().copied())
        .collect();
    let n = weights.len() as f64;
    let mean = weights.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = weights
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 1e-4, "mean {mean}");
    let std = var.sqrt();
    assert!(
        (std / f64::from(PRESET_WEIGHT_STD) - 1.0).abs() < 0.01,
        "std {std}"
    );
}

#[test]
fn parse_names() {
    for preset in Preset::ALL {
        assert_eq!(Preset::parse(preset.name()).unwrap(), preset);
        assert_eq!(preset.to_string().parse::<Preset>().unwrap(), preset);
    }
    for (text, preset) in [
        ("small", Preset::Small),
        ("M-small", Preset::Small),
        ("M_SMALL", Preset::Small),
        (" medium ", Preset::Medium),
        ("M-large", Preset::Large),
        ("gpt2", Preset::Gpt2),
        ("M-GPT2", Preset::Gpt2),
    ] {
        assert_eq!(Preset::parse(text).unwrap(), preset, "{text}");
    }
    assert_eq!(Preset::Small.name(), "m-small");
    assert_eq!(Preset::Gpt2.name(), "m-gpt2");
}

#[test]
fn parse_rejects_unknown_names() {
    for bad in ["", "m-", "tiny", "m-smollm2", "m-small2", "gpt-2x"] {
        match Preset::parse(bad) {
            Err(err @ ModelError::InvalidSetting { name: "preset", .. }) => {
                let msg = err.to_string();
                assert!(msg.contains(&format!("`{bad}`")), "{msg}");
                for valid in ["m-small", "m-medium", "m-large", "m-gpt2"] {
                    assert!(msg.contains(valid), "{msg}");
                }
            }
            other => panic!("expected InvalidSetting for {bad:?}, got {other:?}"),
        }
    }
}

#[test]
fn random_tensors_need_a_valid_gpt2_config() {
    let mut llama = Preset::Small.config();
    llama.architecture = Architecture::Llama;
    llama.activation = Activation::Silu;
    assert!(matches!(
        gpt2_random_tensors(&llama, 1),
        Err(ModelError::InvalidConfig { .. })
    ));
    let mut broken = Preset::Small.config();
    broken.hidden_size = 0;
    assert!(gpt2_random_tensors(&broken, 1).is_err());
}

/// M-gpt2 builds all 124 M values; `--ignored` in release to time it.
#[test]
#[ignore = "allocates ~500 MB; run with --release --ignored"]
fn gpt2_random_tensors_full() {
    let start = std::time::Instant::now();
    let tensors = Preset::Gpt2.random_tensors(PRESET_SEED);
    let elapsed = start.elapsed();
    assert_eq!(total_numel(&tensors), Preset::Gpt2.expected_param_count());
    assert!(tensors.iter().all(|t| t.name != "lm_head.weight"));
    println!("M-gpt2 random tensors: {elapsed:?}");
}
