#!/usr/bin/env python3
"""Training throughput side by side: `smallmind train` against PyTorch (scripts/train_peer.py bench).

Same model shape (the M-small / M-medium presets: untied LM head, GELU-tanh, no dropout), same batch
(B × T = 8 × context), AdamW with clipping at 1.0, f32, on 1 and 2 threads, interleaved for several
rounds; prints a Markdown table of the medians of training tokens/s. Our side trains on a synthetic
text with exactly the preset's vocabulary size of distinct characters.

    scripts/train_side_by_side.py [--rounds 3] [--threads 1,2]

Needs `cargo build --release -p smallmind-cli` and the peers' PyTorch venv
(`../shared/peers/pytorch.sh setup`). QUIET_WRAPPER: optional command prefix for quiet runs.
"""
import argparse
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = os.path.join(HERE, "..", "target", "release", "smallmind")
PEERS = os.environ.get("SMALLMIND_PEERS", os.path.expanduser("~/.cache/smallmind-peers"))
PYTHON = os.path.join(PEERS, "venv", "bin", "python")
WRAP = shlex.split(os.environ.get("QUIET_WRAPPER", ""))

# name: (vocab, context, d, layers, heads, steps)
PRESETS = {
    "m-small": (256, 64, 128, 2, 4, 200),
    "m-medium": (512, 128, 256, 4, 8, 40),
}
BATCH = 8


def corpus(path, vocab):
    """200k characters drawn from exactly `vocab` distinct letters (U+0100 upwards)."""
    rng = random.Random(vocab)
    letters = [chr(0x100 + i) for i in range(vocab)]
    text = "".join(letters) + "".join(rng.choice(letters) for _ in range(200_000))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def ours(data, preset, threads, steps, out):
    cmd = [OURS, "train", "--data", data, "--preset", preset, "--steps", str(steps),
           "--batch-size", str(BATCH), "--threads", str(threads), "--eval-interval", "0",
           "--eval-batches", "1", "--save-interval", "0", "--sample-chars", "0", "--out", out]
    err = subprocess.run(WRAP + cmd, capture_output=True, text=True, check=True).stderr
    rates = re.findall(r"([0-9.]+)k tok/s", err)
    return float(rates[-1]) * 1e3


def theirs(preset, threads):
    vocab, ctx, d, layers, heads, steps = PRESETS[preset]
    cmd = [PYTHON, os.path.join(HERE, "train_peer.py"), "bench", str(vocab), str(ctx), str(d),
           str(layers), str(heads), str(BATCH), str(threads), str(steps)]
    out = subprocess.run(WRAP + cmd, capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["tokens_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    samples = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset, (vocab, *_rest) in PRESETS.items():
            corpus(os.path.join(tmp, f"{preset}.txt"), vocab)
        for r in range(args.rounds):
            for preset, (*_shape, steps) in PRESETS.items():
                data = os.path.join(tmp, f"{preset}.txt")
                for th in threads:
                    out = os.path.join(tmp, f"ckpt-{preset}-{th}-{r}")
                    a, b = ours(data, preset, th, steps, out), theirs(preset, th)
                    samples.setdefault((preset, th), ([], []))
                    samples[(preset, th)][0].append(a)
                    samples[(preset, th)][1].append(b)
                    print(f"round {r + 1}: {preset} t{th} ours {a:.0f} torch {b:.0f}", file=sys.stderr, flush=True)
    print(f"| model | threads | batch × context | smallmind tok/s | PyTorch tok/s | ratio |")
    print("|---|---|---|---|---|---|")
    for (preset, th), (a, b) in samples.items():
        ma, mb = statistics.median(a), statistics.median(b)
        ctx = PRESETS[preset][1]
        print(f"| {preset} | {th} | {BATCH} × {ctx} | {ma:.0f} ({min(a):.0f}–{max(a):.0f}) | "
              f"{mb:.0f} ({min(b):.0f}–{max(b):.0f}) | {ma / mb:.2f} |")


if __name__ == "__main__":
    main()
