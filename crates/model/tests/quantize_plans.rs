//! The quantization planner gives every tensor the type `llama-quantize` gives it, for every
//! mixture (and `--pure`), on the two synthetic models of `fixtures/quant_plans/plans.json`
//! (made by `scripts/fixtures/quant_plans.py` with llama.cpp's `llama-quantize`): SmolLM2's
//! widths with tied embeddings, and a 512-wide, 16-block model with 4 query heads per KV head and
//! an `output.weight`.

use serde_json::Value;
use smallmind_formats::gguf::{GgmlType, Metadata, MetadataValue, TensorInfo};
use smallmind_model::quantize::{MIXTURES, Target, plan};

fn plans() -> Value {
    let path = smallmind_testkit::fixture("quant_plans/plans.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn metadata(json: &Value) -> Metadata {
    let mut metadata = Metadata::new();
    for (key, value) in json.as_object().unwrap() {
        let value = match value {
            Value::String(s) => MetadataValue::String(s.clone()),
            Value::Number(n) => MetadataValue::U32(n.as_u64().unwrap() as u32),
            other => panic!("unexpected metadata value {other}"),
        };
        metadata.insert(key.clone(), value).unwrap();
    }
    metadata
}

fn tensors(json: &Value) -> Vec<TensorInfo> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let dims: Vec<u64> = t["dims"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            let ty = GgmlType::ALL
                .iter()
                .copied()
                .find(|g| g.name() == t["type"].as_str().unwrap())
                .unwrap();
            TensorInfo::new(t["name"].as_str().unwrap().into(), &dims, ty, 0).unwrap()
        })
        .collect()
}

#[test]
fn every_mixture_plans_what_llama_quantize_wrote() {
    let fixture = plans();
    let models = fixture["models"].as_object().unwrap();
    assert_eq!(models.len(), 2);
    for (model, json) in models {
        let (metadata, tensors) = (metadata(&json["metadata"]), tensors(&json["tensors"]));
        let recorded = json["plans"].as_object().unwrap();
        // Every mixture we offer has a recorded llama-quantize plan.
        for m in MIXTURES {
            assert!(
                recorded.contains_key(m.name),
                "{model}: no plan for {}",
                m.name
            );
        }
        for (key, want) in recorded {
            let (name, pure) = match key.strip_suffix(" --pure") {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            let target = Target::parse(name, pure).unwrap();
            let planned = plan(&metadata, &tensors, &target).unwrap();
            assert_eq!(planned.len(), tensors.len());
            let want = want.as_array().unwrap();
            assert_eq!(want.len(), tensors.len());
            let mismatches: Vec<String> = planned
                .iter()
                .zip(want)
                .filter(|(p, want)| want.as_str().unwrap() != p.type_name())
                .map(|(p, want)| format!("{}: ours {}, llama.cpp {want}", p.name, p.type_name()))
                .collect();
            assert!(
                mismatches.is_empty(),
                "{model} {key}:\n{}",
                mismatches.join("\n")
            );
        }
    }
}

/// The fixture exercises what the plan test is meant to: fallbacks on both models, the upgrade
/// rules, and both the tied and the untied output.
#[test]
fn the_fixture_exercises_the_rules() {
    let fixture = plans();
    let plan = |model: &str, mixture: &str, tensor: &str| {
        let json = &fixture["models"][model];
        let tensors = json["tensors"].as_array().unwrap();
        let i = tensors.iter().position(|t| t["name"] == tensor).unwrap();
        json["plans"][mixture][i].as_str().unwrap().to_string()
    };
    // 576-wide rows fall back (Q4_K → Q5_0), 1536-wide ones do not.
    assert_eq!(
        plan("smollm2-like", "Q4_K_M", "blk.1.attn_q.weight"),
        "Q5_0"
    );
    assert_eq!(
        plan("smollm2-like", "Q4_K_M", "blk.1.ffn_down.weight"),
        "Q4_K"
    );
    assert_eq!(
        plan("smollm2-like", "Q4_K_M", "blk.0.ffn_down.weight"),
        "Q6_K"
    );
    // Tied embeddings: token_embd is the output projection.
    assert_eq!(plan("smollm2-like", "Q4_K_M", "token_embd.weight"), "Q8_0");
    // Untied, 512 wide: output Q6_K, token_embd the base type.
    assert_eq!(plan("gqa4-untied", "Q4_K_M", "output.weight"), "Q6_K");
    assert_eq!(plan("gqa4-untied", "Q4_K_M", "token_embd.weight"), "Q4_K");
    // n_head / n_head_kv = 4 lifts attn_v of Q2_K to Q4_K; with 3, Q3_K, which falls back to
    // Q4_0 at 576 wide.
    assert_eq!(plan("gqa4-untied", "Q2_K", "blk.5.attn_v.weight"), "Q4_K");
    assert_eq!(plan("smollm2-like", "Q2_K", "blk.5.attn_v.weight"), "Q4_0");
    // Q3_K_M's ffn_down: Q5_K for the first n/16 blocks (1 of 16), Q4_K after.
    assert_eq!(
        plan("gqa4-untied", "Q3_K_M", "blk.0.ffn_down.weight"),
        "Q5_1"
    );
    assert_eq!(
        plan("smollm2-like", "Q3_K_M", "blk.0.ffn_down.weight"),
        "Q4_K"
    );
    // ffn_down rows of 1408 are not whole superblocks: Q6_K → Q8_0.
    assert_eq!(
        plan("gqa4-untied", "Q4_K_M", "blk.0.ffn_down.weight"),
        "Q8_0"
    );
}
