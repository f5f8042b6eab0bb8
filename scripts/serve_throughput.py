#!/usr/bin/env python3
"""Serving speed of an OpenAI-compatible server (issue 15's "throughput vs llama-server" and
"prefix reuse"), the same requests for `smallmind serve` and `llama-server`.

Usage: serve_throughput.py BASE_URL [--streams 1,4,8] [--requests-per-stream 3]
                           [--max-tokens 64] [--prefix-tokens 500]

1. For each stream count S: S client threads each send `--requests-per-stream` streaming chat
   requests (short distinct prompts, temperature 0, `--max-tokens` new tokens) back to back.
   Prints the aggregate generated tokens per second (content chunks over the wall time of the
   round) and the median time to first token.
2. Prefix reuse: two requests that share a system prompt of about `--prefix-tokens` tokens
   (different questions), one after the other; prints both times to first token and their
   ratio, and the second's `cached_tokens` when the server reports it.

Run it on a quiet machine against one server at a time (start the other afterwards): it
measures speed. Python's standard library only.
"""

import argparse
import json
import statistics
import threading
import time
import urllib.request


def stream_chat(base, messages, max_tokens):
    """(time to first content chunk, content chunks, usage or None) of one streamed request."""
    body = json.dumps(
        {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    first, chunks, usage = None, 0, None
    with urllib.request.urlopen(request, timeout=600) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            event = json.loads(line[5:])
            usage = event.get("usage") or usage
            for choice in event.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter() - start
    return first, chunks, usage


def throughput(base, streams, per_stream, max_tokens):
    ttfts, tokens, lock = [], [0], threading.Lock()

    def client(i):
        for r in range(per_stream):
            question = f"Write a long story about the number {i * 100 + r}."
            first, chunks, _ = stream_chat(base, [{"role": "user", "content": question}], max_tokens)
            with lock:
                tokens[0] += chunks
                if first is not None:
                    ttfts.append(first)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return tokens[0] / wall, statistics.median(ttfts) if ttfts else float("nan"), tokens[0]


def prefix_reuse(base, prefix_tokens):
    # About one token per word for these plain English words.
    system = " ".join(f"Rule {i}: answer briefly and politely." for i in range(prefix_tokens // 7))
    ask = lambda q: [{"role": "system", "content": system}, {"role": "user", "content": q}]
    first, _, _ = stream_chat(base, ask("What is rule 3?"), 8)
    second, _, usage = stream_chat(base, ask("What is rule 5?"), 8)
    cached = ((usage or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
    prompt = (usage or {}).get("prompt_tokens")
    return first, second, cached, prompt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--streams", default="1,4,8")
    parser.add_argument("--requests-per-stream", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prefix-tokens", type=int, default=500)
    args = parser.parse_args()
    base = args.base.rstrip("/")
    stream_chat(base, [{"role": "user", "content": "Warm up."}], 4)
    print("| streams | generated tok/s | median TTFT ms | tokens |")
    print("|---:|---:|---:|---:|")
    for streams in (int(s) for s in args.streams.split(",")):
        rate, ttft, tokens = throughput(base, streams, args.requests_per_stream, args.max_tokens)
        print(f"| {streams} | {rate:.1f} | {ttft * 1000:.0f} | {tokens} |", flush=True)
    first, second, cached, prompt = prefix_reuse(base, args.prefix_tokens)
    print(
        f"prefix reuse: TTFT {first * 1000:.0f} ms then {second * 1000:.0f} ms "
        f"({second / first:.2f} of the first); cached_tokens {cached} of {prompt} prompt tokens"
    )


if __name__ == "__main__":
    main()
