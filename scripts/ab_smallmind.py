#!/usr/bin/env python3
"""Two builds of `smallmind` side by side (a refactor's before and after).

Runs `smallmind bench` pp128 / tg64 with binary A, then B, interleaved, for
several rounds on the same GGUF files, and prints a Markdown table of the
medians over the rounds and the ratio B / A.

    scripts/ab_smallmind.py A_BIN B_BIN [--types q4_1,q8_0] [--threads 1,2] [--rounds 3]

A typical A is a worktree of the commit before the change, built with
`CARGO_TARGET_DIR=... cargo build --release -p smallmind-cli`. The files are
the peers' SmolLM2-135M copies (`../shared/peers/llamacpp.sh model TYPE`).
"""
import argparse
import os
import re
import statistics
import subprocess

PEERS = os.environ.get("SMALLMIND_PEERS", os.path.expanduser("~/.cache/smallmind-peers"))
MODELS = os.path.join(PEERS, "models")


def bench(binary, path, threads):
    out = subprocess.run(
        [binary, "bench", "-m", path, "-p", "128", "-n", "64", "-t", str(threads), "-r", "5"],
        capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.search(r"\|\s*(pp128|tg64)\s*\|\s*([0-9.]+) ±", line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--types", default="q4_1,q8_0")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results = {}
    for _ in range(args.rounds):
        for ty in args.types.split(","):
            path = os.path.join(MODELS, f"smollm2-135m-{ty}.gguf")
            for th in map(int, args.threads.split(",")):
                for side, binary in (("a", args.a), ("b", args.b)):
                    for test, tps in bench(binary, path, th).items():
                        results.setdefault((ty, th, test, side), []).append(tps)
    print("| file | threads | test | A tok/s | B tok/s | B / A |")
    print("|---|---|---|---|---|---|")
    for ty in args.types.split(","):
        for th in map(int, args.threads.split(",")):
            for test in ("pp128", "tg64"):
                a = statistics.median(results[(ty, th, test, "a")])
                b = statistics.median(results[(ty, th, test, "b")])
                print(f"| {ty} | {th} | {test} | {a:.1f} | {b:.1f} | {b / a:.3f} |")


if __name__ == "__main__":
    main()
