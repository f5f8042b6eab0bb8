//! The five tiny-llama GGUF fixtures: metadata, tensor infos and data, checked
//! against the fixture README and the Hugging Face safetensors weights.

mod common;

use std::collections::BTreeMap;

use common::{gguf_fixture, hf_fixture, touch_everything};
use safetensors::SafeTensors;
use smallmind_formats::gguf::{GgmlType, GgufFile, MetadataValueType};

/// Tensor count per type.
type TypeCounts = &'static [(GgmlType, usize)];

/// (file type suffix, `general.file_type`, tensor count per type).
const FILES: [(&str, u32, TypeCounts); 5] = [
    ("F32", 0, &[(GgmlType::F32, 20)]),
    ("F16", 1, &[(GgmlType::F16, 15), (GgmlType::F32, 5)]),
    (
        "Q8_0",
        7,
        &[(GgmlType::F16, 2), (GgmlType::F32, 5), (GgmlType::Q8_0, 13)],
    ),
    (
        "Q4_0",
        2,
        &[(GgmlType::F16, 2), (GgmlType::F32, 5), (GgmlType::Q4_0, 13)],
    ),
    (
        "Q4_1",
        3,
        &[(GgmlType::F16, 2), (GgmlType::F32, 5), (GgmlType::Q4_1, 13)],
    ),
];

/// `llama.*` u32 values from the README.
const LLAMA_U32: [(&str, u32); 8] = [
    ("llama.context_length", 256),
    ("llama.embedding_length", 64),
    ("llama.block_count", 2),
    ("llama.feed_forward_length", 176),
    ("llama.attention.head_count", 4),
    ("llama.attention.head_count_kv", 2),
    ("llama.vocab_size", 128),
    ("llama.rope.dimension_count", 16),
];

/// GGUF dims (ne0 first) of every tensor of block 0 (and 1), and the others.
const BLOCK_DIMS: [(&str, &[u64]); 9] = [
    ("attn_norm.weight", &[64]),
    ("attn_q.weight", &[64, 64]),
    ("attn_k.weight", &[64, 32]),
    ("attn_v.weight", &[64, 32]),
    ("attn_output.weight", &[64, 64]),
    ("ffn_norm.weight", &[64]),
    ("ffn_gate.weight", &[64, 176]),
    ("ffn_up.weight", &[64, 176]),
    ("ffn_down.weight", &[176, 64]),
];

fn open(suffix: &str) -> GgufFile {
    GgufFile::open(gguf_fixture(&format!("tiny-llama-{suffix}.gguf"))).unwrap()
}

fn expected_dims() -> BTreeMap<String, Vec<u64>> {
    let mut dims = BTreeMap::new();
    dims.insert("token_embd.weight".to_owned(), vec![64, 128]);
    dims.insert("output_norm.weight".to_owned(), vec![64]);
    for block in 0..2 {
        for (name, d) in BLOCK_DIMS {
            dims.insert(format!("blk.{block}.{name}"), d.to_vec());
        }
    }
    dims
}

#[test]
fn header_and_tensor_types() {
    for (suffix, file_type, counts) in FILES {
        let file = open(suffix);
        assert_eq!((file.version(), file.alignment()), (3, 32), "{suffix}");
        assert_eq!(
            file.metadata().get_u32("general.file_type").unwrap(),
            file_type
        );
        let mut got = BTreeMap::new();
        for t in file.tensors() {
            *got.entry(t.ggml_type().name()).or_insert(0) += 1;
        }
        let want: BTreeMap<_, _> = counts.iter().map(|&(ty, n)| (ty.name(), n)).collect();
        assert_eq!(got, want, "{suffix}");
        touch_everything(&file);
    }
}

#[test]
fn tensor_names_dims_and_type_rules() {
    let want = expected_dims();
    for (suffix, _, _) in FILES {
        let file = open(suffix);
        let got: BTreeMap<_, _> = file
            .tensors()
            .iter()
            .map(|t| (t.name().to_owned(), t.dims().to_vec()))
            .collect();
        assert_eq!(got, want, "{suffix}");
        assert!(file.tensor("output.weight").is_err(), "tied embeddings");
        for t in file.tensors() {
            let one_d = t.dims().len() == 1;
            assert_eq!(one_d, t.name().ends_with("_norm.weight"), "{}", t.name());
            if one_d {
                assert_eq!(t.ggml_type(), GgmlType::F32, "{}", t.name());
            }
            assert_eq!(t.offset() % 32, 0);
        }
    }
    let q4 = open("Q4_1");
    assert_eq!(
        q4.tensor("blk.0.ffn_down.weight").unwrap().ggml_type(),
        GgmlType::F16
    );
    assert_eq!(
        q4.tensor("token_embd.weight").unwrap().ggml_type(),
        GgmlType::Q4_1
    );
    // 64 × 128 elements in blocks of 32 → 256 blocks × 20 bytes.
    assert_eq!(q4.tensor("token_embd.weight").unwrap().n_bytes(), 256 * 20);
}

#[test]
fn general_and_llama_metadata() {
    for (suffix, _, _) in FILES {
        let file = open(suffix);
        let m = file.metadata();
        assert_eq!(m.get_str("general.architecture").unwrap(), "llama");
        assert_eq!(m.get_str("general.type").unwrap(), "model");
        assert_eq!(
            m.get_str("general.name").unwrap(),
            format!("tiny-llama {suffix}")
        );
        assert_eq!(m.get_u32("general.quantization_version").unwrap(), 2);
        for (key, value) in LLAMA_U32 {
            assert_eq!(m.get_u32(key).unwrap(), value, "{key}");
            assert_eq!(m.get_int::<usize>(key).unwrap(), value as usize, "{key}");
        }
        assert_eq!(m.get_f32("llama.rope.freq_base").unwrap(), 10000.0);
        assert_eq!(
            m.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
            1e-5
        );
        assert_eq!(
            m.require("llama.attention.layer_norm_rms_epsilon")
                .unwrap()
                .value_type(),
            MetadataValueType::F32
        );
    }
}

#[test]
fn tokenizer_metadata() {
    const FIRST_MERGES: [&str; 5] = ["Ġ t", "h e", "i n", "e r", "a n"];
    for (suffix, _, _) in FILES {
        let file = open(suffix);
        let m = file.metadata();
        assert_eq!(m.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
        assert_eq!(m.get_str("tokenizer.ggml.pre").unwrap(), "gpt-2");
        let tokens = m.get_str_array("tokenizer.ggml.tokens").unwrap();
        assert_eq!(tokens.len(), 128);
        assert_eq!(
            &tokens[..3],
            ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        );
        let types = m.get_i32_array("tokenizer.ggml.token_type").unwrap();
        assert_eq!(types.len(), 128);
        assert_eq!(&types[..4], [3, 3, 3, 1]);
        let merges = m.get_str_array("tokenizer.ggml.merges").unwrap();
        assert_eq!(merges.len(), 27);
        assert_eq!(&merges[..5], FIRST_MERGES);
        assert_eq!(merges[26], "Ċ Ċ");
        assert_eq!(m.get_u32("tokenizer.ggml.bos_token_id").unwrap(), 1);
        assert_eq!(m.get_u32("tokenizer.ggml.eos_token_id").unwrap(), 2);
        assert_eq!(m.get_u32("tokenizer.ggml.unknown_token_id").unwrap(), 0);
        assert_eq!(m.get_u32("tokenizer.ggml.padding_token_id").unwrap(), 2);
        assert!(!m.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// (GGUF name, HF name) pairs stored unpermuted in every file's F32 part or
/// in the F32 file.
const SAME_AS_HF: [(&str, &str); 4] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    (
        "blk.0.attn_norm.weight",
        "model.layers.0.input_layernorm.weight",
    ),
    (
        "blk.1.ffn_down.weight",
        "model.layers.1.mlp.down_proj.weight",
    ),
    ("output_norm.weight", "model.norm.weight"),
];

#[test]
fn f32_data_equals_hf_safetensors() {
    let hf_bytes = std::fs::read(hf_fixture("model.safetensors")).unwrap();
    let hf = SafeTensors::deserialize(&hf_bytes).unwrap();
    let file = open("F32");
    for (gguf_name, hf_name) in SAME_AS_HF {
        let hf_view = hf.tensor(hf_name).unwrap();
        let info = file.tensor(gguf_name).unwrap();
        // GGUF dims are the numpy shape reversed.
        let reversed: Vec<u64> = hf_view.shape().iter().rev().map(|&d| d as u64).collect();
        assert_eq!(info.dims(), reversed, "{gguf_name}");
        let ours = f32s(file.tensor_data(info).unwrap());
        assert_eq!(ours, f32s(hf_view.data()), "{gguf_name}");
    }
}

#[test]
fn f16_embedding_is_the_rounded_hf_embedding() {
    let hf_bytes = std::fs::read(hf_fixture("model.safetensors")).unwrap();
    let hf = SafeTensors::deserialize(&hf_bytes).unwrap();
    let want: Vec<half::f16> = f32s(hf.tensor("model.embed_tokens.weight").unwrap().data())
        .into_iter()
        .map(half::f16::from_f32)
        .collect();
    let file = open("F16");
    let data = file.tensor_data_by_name("token_embd.weight").unwrap();
    let got: Vec<half::f16> = data
        .chunks_exact(2)
        .map(|c| half::f16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn from_bytes_matches_open() {
    let path = gguf_fixture("tiny-llama-Q8_0.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let mapped = GgufFile::open(&path).unwrap();
    let owned = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(mapped.metadata(), owned.metadata());
    assert_eq!(mapped.tensors(), owned.tensors());
    assert_eq!(mapped.data_offset(), owned.data_offset());
}

#[test]
fn open_missing_file_names_the_path() {
    let err = GgufFile::open("/nonexistent/x.gguf").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x.gguf"), "{err}");
}
