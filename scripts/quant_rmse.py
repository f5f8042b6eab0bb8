#!/usr/bin/env python3
"""Round-trip RMSE of our quantizers against llama-quantize's, tensor by tensor, on a real model.

    python scripts/quant_rmse.py --f32 $SMALLMIND_MODELS/smollm2-135m-f32.gguf \
        --llama-quantize ~/.cache/smallmind-peers/llama.cpp-build/bin/llama-quantize \
        --smallmind target/release/smallmind [--json out.json]

For each weight type, both tools write the F32 GGUF as that type everywhere (`--pure`, with the
llama.cpp mixture whose base type it is, so rows that are not whole blocks fall back the same way
on both sides; the plan test checks that they do). gguf-py dequantizes both files; for every
2-D tensor stored in the same type by both, the error against the F32 original is summed, and
each type's RMSE is `sqrt(Σ err² / Σ n)` over all such tensors (of every run). The table gives
ours, llama.cpp's, their ratio, the worst single tensor's ratio, and how many tensors have the
same bytes in both files. IQ2_XS is left out:
llama-quantize will not write it without an importance matrix.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import dequantize

# The llama.cpp file type (mixture name) whose base type each row measures.
RUNS = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M",
        "Q6_K", "IQ4_XS", "IQ3_S"]


def values(reader: gguf.GGUFReader) -> dict[str, tuple[str, np.ndarray, bytes]]:
    """Each 2-D tensor's type name, its values in f64 (dequantized) and its raw bytes."""
    out = {}
    for t in reader.tensors:
        if len(t.shape) < 2:
            continue
        out[t.name] = (t.tensor_type.name,
                       dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1),
                       t.data.tobytes())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--f32", required=True, help="the F32 GGUF")
    ap.add_argument("--llama-quantize", required=True)
    ap.add_argument("--smallmind", required=True)
    ap.add_argument("--json", help="also write the table as JSON here")
    args = ap.parse_args()

    original = {name: v for name, (_, v, _) in values(gguf.GGUFReader(args.f32)).items()}
    # type -> [Σ err² ours, Σ err² llama.cpp, Σ n, tensors, worst tensor ratio, identical bytes]
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0, 0.0, 0])
    with tempfile.TemporaryDirectory() as tmp:
        for run in RUNS:
            ours, theirs = Path(tmp) / f"ours-{run}.gguf", Path(tmp) / f"llama-{run}.gguf"
            subprocess.run([args.smallmind, "quantize", "-i", args.f32, "-o", str(ours),
                            "--type", run, "--pure"], check=True, capture_output=True)
            subprocess.run([args.llama_quantize, "--pure", args.f32, str(theirs), run, "2"],
                           check=True, capture_output=True)
            a, b = values(gguf.GGUFReader(str(ours))), values(gguf.GGUFReader(str(theirs)))
            for name, x in original.items():
                (ta, va, ba), (tb, vb, bb) = a[name], b[name]
                if ta != tb or ta in ("F32", "F16", "BF16"):
                    if ta != tb:
                        print(f"{run}: {name} is {ta} in ours, {tb} in llama.cpp's; skipped")
                    continue
                ea, eb = float(np.sum((va - x) ** 2)), float(np.sum((vb - x) ** 2))
                s = sums[ta]
                s[0] += ea
                s[1] += eb
                s[2] += x.size
                s[3] += 1
                # a tensor both round-trip exactly (ea = eb = 0) counts as ratio 1
                ratio = np.sqrt(ea / eb) if eb > 0 else (1.0 if ea == 0 else float("inf"))
                s[4] = max(s[4], ratio)
                s[5] += ba == bb
            ours.unlink()
            theirs.unlink()
            print(f"{run}: done", flush=True)

    rows = []
    for ty, (ea, eb, n, count, worst, same) in sums.items():
        ra, rb = np.sqrt(ea / n), np.sqrt(eb / n)
        rows.append({"type": ty, "tensors": count, "rmse_ours": ra, "rmse_llama_cpp": rb,
                     "ratio": ra / rb, "worst_tensor_ratio": worst, "bit_identical": same})
    rows.sort(key=lambda r: r["type"])
    print("| type | tensors | RMSE ours | RMSE llama-quantize | ours / llama.cpp | worst tensor "
          "| bit-identical tensors |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['type']} | {r['tensors']} | {r['rmse_ours']:.4e} | {r['rmse_llama_cpp']:.4e} "
              f"| {r['ratio']:.4f} | {r['worst_tensor_ratio']:.4f} "
              f"| {r['bit_identical']}/{r['tensors']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
