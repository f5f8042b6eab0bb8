#!/usr/bin/env bash
# `smallmind quantize` against `llama-quantize` on the same F32 GGUF, per mixture: how many tensors
# get the same type, and the same bytes.
#
#   scripts/quant_same_as_llamacpp.sh Q4_K_M Q4_K_S Q5_K_M Q6_K Q3_K_M Q2_K IQ4_XS
#
# F32 (default $SMALLMIND_MODELS/smollm2-135m-f32.gguf), LLAMA_QUANTIZE (default the peers' build),
# SMALLMIND (default target/release/smallmind) and PYTHON (a Python with gguf-py) can be overridden.
set -euo pipefail
F32=${F32:-${SMALLMIND_MODELS:-$HOME/.cache/smallmind-models}/smollm2-135m-f32.gguf}
LLAMA_QUANTIZE=${LLAMA_QUANTIZE:-$HOME/.cache/smallmind-peers/llama.cpp-build/bin/llama-quantize}
SMALLMIND=${SMALLMIND:-target/release/smallmind}
PYTHON=${PYTHON:-$HOME/.cache/smallmind-peers/venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in "$@"; do
  "$SMALLMIND" quantize -i "$F32" -o "$tmp/ours.gguf" --type "$t" 2>/dev/null
  "$LLAMA_QUANTIZE" "$F32" "$tmp/theirs.gguf" "$t" 2 >/dev/null 2>&1
  "$PYTHON" - "$t" "$tmp/ours.gguf" "$tmp/theirs.gguf" <<'PY'
import sys
import gguf
t, ours, theirs = sys.argv[1:]
a = {x.name: x for x in gguf.GGUFReader(ours).tensors}
b = {x.name: x for x in gguf.GGUFReader(theirs).tensors}
assert set(a) == set(b), "different tensor names"
same_type = sum(a[n].tensor_type == b[n].tensor_type for n in a)
same_bytes = sum(a[n].data.tobytes() == b[n].data.tobytes() for n in a)
print(f"{t}: {len(a)} tensors, same type {same_type}, same bytes {same_bytes}")
PY
done
