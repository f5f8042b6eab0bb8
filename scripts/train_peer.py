#!/usr/bin/env python3
"""PyTorch / Hugging Face peer for `smallmind train` (issue 6).

Run with the peers venv (torch, transformers, safetensors; `../shared/peers/pytorch.sh setup` makes it
under $SMALLMIND_PEERS, default ~/.cache/smallmind-peers):

    "$SMALLMIND_PEERS"/venv/bin/python scripts/train_peer.py check-load DIR \
        [--text TEXT | --tokens 1,2,3] [--loss X] [--tol 1e-4]
    "$SMALLMIND_PEERS"/venv/bin/python scripts/train_peer.py bench \
        VOCAB CTX D LAYERS HEADS BATCH THREADS STEPS [--warmup 3] [--tied] [--attn sdpa] [--clip 1.0]

check-load
    Loads a smallmind checkpoint directory with `GPT2LMHeadModel.from_pretrained`, and checks:
    no missing/unexpected/mismatched tensors; every tensor of `model.safetensors` equal bit for bit
    to the loaded parameter; the parameter count; then the mean next-token cross-entropy of a fixed
    token sequence (`--tokens`, or `--text` encoded with the checkpoint's `tokenizer_chars.json`),
    compared with `--loss` (the value our side computed) within `--tol`. Exit status 1 on failure.
    `cargo run --release -p smallmind-train --example peer_checkpoint -- OUT` prints ready-made
    commands.

bench
    Trains a GPT2LMHeadModel of that shape (f32, no dropout, AdamW lr 1e-3 wd 0.01, gradient
    clipping at --clip) on random tokens, BATCH x CTX per step, on THREADS threads, and prints
    training tokens/s over STEPS steps after --warmup untimed steps, as one JSON line. The LM head
    is untied (like the M-small / M-medium presets) unless --tied.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers import GPT2Config, GPT2LMHeadModel

# Default agreement between our loss and transformers' on the same checkpoint and tokens.
DEFAULT_LOSS_TOL = 1e-4


def encode_with_char_tokenizer(directory, text):
    path = os.path.join(directory, "tokenizer_chars.json")
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    if spec.get("type") != "char":
        raise SystemExit(f"{path}: type is {spec.get('type')!r}, expected 'char'")
    ids = {ch: i for i, ch in enumerate(spec["chars"])}
    missing = sorted({ch for ch in text if ch not in ids})
    if missing:
        raise SystemExit(f"{path}: characters {missing!r} are not in the vocabulary")
    return [ids[ch] for ch in text]


def check_tensors_equal(model, directory):
    """Every stored tensor equals the loaded parameter; returns the stored element count."""
    params = dict(model.named_parameters(remove_duplicate=False))
    stored = 0
    with safe_open(os.path.join(directory, "model.safetensors"), framework="pt") as f:
        for name in f.keys():
            tensor = f.get_tensor(name)
            stored += tensor.numel()
            if name not in params:
                raise SystemExit(f"stored tensor {name} is not a model parameter")
            if not torch.equal(params[name].detach(), tensor):
                raise SystemExit(f"parameter {name} differs from the stored tensor")
    return stored


def check_load(args):
    model, info = GPT2LMHeadModel.from_pretrained(
        args.dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
    )
    model.eval()
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"loading reported {problems}")
    stored = check_tensors_equal(model, args.dir)
    n_params = sum(p.numel() for p in model.parameters())
    if stored != n_params:
        raise SystemExit(f"model.safetensors holds {stored} values, the model has {n_params}")
    if args.text is not None:
        tokens = encode_with_char_tokenizer(args.dir, args.text)
    else:
        tokens = [int(t) for t in args.tokens.split(",")]
    ids = torch.tensor([tokens], dtype=torch.long)
    with torch.no_grad():
        out = model(ids, labels=ids)
    logits, loss = out.logits, out.loss.item()
    if not torch.isfinite(logits).all():
        raise SystemExit("non-finite logits")
    report = {
        "dir": args.dir,
        "params": n_params,
        "tied": model.config.tie_word_embeddings,
        "tokens": len(tokens),
        "logits_std": round(logits.std().item(), 4),
        "hf_loss": loss,
        "uniform_loss": math.log(model.config.vocab_size),
    }
    if args.loss is not None:
        diff = abs(loss - args.loss)
        report.update({"our_loss": args.loss, "abs_diff": diff, "tol": args.tol})
        ok = diff <= args.tol
        report["ok"] = ok
        print(json.dumps(report))
        if not ok:
            sys.exit(1)
    else:
        print(json.dumps(report))


def bench(args):
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    config = GPT2Config(
        vocab_size=args.vocab,
        n_positions=args.ctx,
        n_embd=args.d,
        n_layer=args.layers,
        n_head=args.heads,
        n_inner=4 * args.d,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=args.tied,
        bos_token_id=None,
        eos_token_id=None,
    )
    model = GPT2LMHeadModel._from_config(config, attn_implementation=args.attn, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)
    batches = [
        torch.randint(0, args.vocab, (args.batch, args.ctx + 1), generator=gen) for _ in range(8)
    ]

    def step(i):
        batch = batches[i % len(batches)]
        inputs, targets = batch[:, :-1], batch[:, 1:]
        logits = model(inputs).logits
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), targets.reshape(-1))
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for i in range(args.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(args.steps):
        last = step(args.warmup + i)
    elapsed = time.perf_counter() - start
    tokens = args.batch * args.ctx * args.steps
    print(
        json.dumps(
            {
                "peer": f"torch {torch.__version__} / transformers (GPT2LMHeadModel, attn={args.attn})",
                "vocab": args.vocab,
                "ctx": args.ctx,
                "d": args.d,
                "layers": args.layers,
                "heads": args.heads,
                "batch": args.batch,
                "threads": args.threads,
                "steps": args.steps,
                "params": sum(p.numel() for p in model.parameters()),
                "ms_per_step": round(1000 * elapsed / args.steps, 3),
                "tokens_per_s": round(tokens / elapsed, 1),
                "last_loss": round(last, 4),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-load", help="load a smallmind checkpoint in transformers")
    check.add_argument("dir")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="text encoded with the checkpoint's tokenizer_chars.json")
    source.add_argument("--tokens", help="comma-separated token ids")
    check.add_argument("--loss", type=float, help="our mean next-token loss to compare with")
    check.add_argument("--tol", type=float, default=DEFAULT_LOSS_TOL)
    b = sub.add_parser("bench", help="PyTorch training tokens/s of a GPT-2 shape")
    for name in ["vocab", "ctx", "d", "layers", "heads", "batch", "threads", "steps"]:
        b.add_argument(name, type=int)
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--tied", action="store_true")
    b.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    b.add_argument("--clip", type=float, default=1.0, help="max grad norm (0: no clipping)")
    args = parser.parse_args()
    if args.command == "check-load":
        check_load(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
