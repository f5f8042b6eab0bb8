#!/usr/bin/env python3
"""Fidelity of the fast paths, ours and llama.cpp's, against our exact path.

For each GGUF: `top1_agreement` (crates/smallmind/examples) generates 32 greedy tokens on our
exact path (`--exact`: f32 activations, weights dequantized in registers) for 4 fixed
prompts, and teacher-forces our fast path (Q8 activations) along them. llama.cpp is fed the same
ids (scripts/fixtures/llama_oracle.cpp `logits`: the prompt as one batch, then one token at a
time, one thread, F32 KV cache) and scored on the same positions. Prints a Markdown table of
top-1 agreements with the exact path.

    ~/.cache/smallmind-peers/venv/bin/python scripts/top1_agreement.py FILE.gguf...

Needs `cargo build --release -p smallmind --example top1_agreement` and the peers' llama.cpp
build (`../shared/peers/llamacpp.sh setup`), whose static libraries llama_oracle links.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("SMALLMIND_PEERS", Path.home() / ".cache" / "smallmind-peers"))
OURS = ROOT / "target" / "release" / "examples" / "top1_agreement"

sys.path.insert(0, str(ROOT / "scripts" / "fixtures"))
from make_oracles import build_tool  # noqa: E402  (compiles llama_oracle.cpp)


def llama_cpp_agreement(tool: Path, path: str, case: dict, tmp: Path) -> int:
    """How many of llama.cpp's arg-maxes equal our exact tokens on the same positions."""
    ids, exact = case["ids"], case["exact"]
    fed = ids + exact[:-1]
    out = tmp / "logits.bin"
    subprocess.run([str(tool), "logits", path, str(out), ",".join(map(str, fed))], check=True,
                   capture_output=True)
    raw = np.fromfile(out, dtype="<f4")
    t = len(fed)
    batch, decode = raw.reshape(2, t, -1)
    first = len(ids) - 1
    picks = [int(batch[first].argmax())] + [int(decode[p].argmax()) for p in range(first + 1, t)]
    return sum(int(a == b) for a, b in zip(picks, exact))


def main() -> None:
    files = sys.argv[1:]
    if not files:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tool = build_tool(PEERS / "llama.cpp-build", tmp)
        print("| file | ours (fast vs exact) | llama.cpp (vs our exact) |")
        print("|---|---|---|")
        for path in files:
            lines = subprocess.run([str(OURS), path], check=True, capture_output=True,
                                   text=True).stdout.splitlines()
            cases = [json.loads(line) for line in lines]
            steps = sum(c["steps"] for c in cases)
            ours = sum(c["fast_agree"] for c in cases)
            theirs = sum(llama_cpp_agreement(tool, path, c, tmp) for c in cases)
            print(f"| {Path(path).name} | {ours}/{steps} | {theirs}/{steps} |", flush=True)


if __name__ == "__main__":
    main()
