#!/usr/bin/env python3
"""SmolLM2-135M side by side: `smallmind bench` against llama.cpp's `llama-bench`.

Runs pp128 / tg64 on the same GGUF files, ours then theirs, interleaved, for
several rounds, and prints a Markdown table of the medians over the rounds,
the ratio, and the decode bandwidth (GGUF tensor bytes × tok/s: decode reads
every weight once per token).

    scripts/side_by_side_llamacpp.py [--types q4_1,q8_0,f16,f32] [--threads 1,2] [--rounds 3]

Needs `cargo build --release -p smallmind-cli` and the peers' llama.cpp build
(`../shared/peers/llamacpp.sh setup`). Set QUIET_WRAPPER to a command that
runs its arguments on a quiet machine (optional).
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys

PEERS = os.environ.get("SMALLMIND_PEERS", os.path.expanduser("~/.cache/smallmind-peers"))
MODELS = os.path.join(PEERS, "models")
LLAMA_BENCH = os.path.join(PEERS, "llama.cpp-build", "bin", "llama-bench")
OURS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "smallmind")
WRAP = shlex.split(os.environ.get("QUIET_WRAPPER", ""))


def run(cmd):
    out = subprocess.run(WRAP + cmd, capture_output=True, text=True, check=True).stdout
    return out


def parse(out, row_re):
    """{test: tok/s mean} from a Markdown table whose last column is `mean ± sd`."""
    found = {}
    for line in out.splitlines():
        m = re.search(row_re, line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def ours(path, threads):
    out = run([OURS, "bench", "-m", path, "-p", "128", "-n", "64", "-t", str(threads), "-r", "5"])
    return parse(out, r"\|\s*(pp128|tg64)\s*\|\s*([0-9.]+) ±")


def theirs(path, threads):
    out = run([LLAMA_BENCH, "-m", path, "-p", "128", "-n", "64", "-t", str(threads), "-r", "5"])
    return parse(out, r"\|\s*(pp128|tg64)\s*\|\s*([0-9.]+) ±")


def tensor_bytes(path):
    """The GGUF's tensor data size, about the file size (metadata is small)."""
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--types", default="q4_1,q8_0,q4_0,f16,f32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    types = args.types.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    samples = {}
    for r in range(args.rounds):
        for t in types:
            path = os.path.join(MODELS, f"smollm2-135m-{t}.gguf")
            for th in threads:
                a, b = ours(path, th), theirs(path, th)
                for test in ("pp128", "tg64"):
                    samples.setdefault((t, th, test), ([], []))
                    samples[(t, th, test)][0].append(a[test])
                    samples[(t, th, test)][1].append(b[test])
                print(f"round {r + 1}: {t} t{th} ours {a} llama.cpp {b}", file=sys.stderr, flush=True)
    print("| file | threads | test | smallmind | llama.cpp | ratio | smallmind GB/s | llama.cpp GB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for (t, th, test), (a, b) in samples.items():
        ma, mb = statistics.median(a), statistics.median(b)
        gb = tensor_bytes(os.path.join(MODELS, f"smollm2-135m-{t}.gguf")) / 1e9
        bw = f"{ma * gb:.1f} | {mb * gb:.1f}" if test == "tg64" else "— | —"
        spread = f" ({min(a):.0f}–{max(a):.0f})" if len(a) > 1 else ""
        spread_b = f" ({min(b):.0f}–{max(b):.0f})" if len(b) > 1 else ""
        print(f"| {t.upper()} | {th} | {test} | {ma:.0f}{spread} | {mb:.0f}{spread_b} | {ma / mb:.2f} | {bw} |")


if __name__ == "__main__":
    main()
