#!/usr/bin/env python3
"""Load check of `smallmind serve` (issue 15's acceptance "load, bounded and on loopback only").

Usage: serve_load_check.py BASE_URL SERVER_PID [--clients 16] [--requests 200] [--burst 64]

1. `--clients` threads send `--requests` chat requests in total (short prompts, up to
   `--max-tokens` tokens each) and count failures; the server's RSS (/proc/PID/status VmRSS)
   is read after the first 50 requests and after the last, to show it stable.
2. A burst of `--burst` simultaneous requests (run the server with a small `--max-queue`) must
   get only 200s and 429s (no connection errors), and `/health` must answer 200 afterwards.

Python's standard library only; it measures robustness, not speed.
"""

import argparse
import json
import sys
import threading
import urllib.error
import urllib.request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def chat(base, index, max_tokens):
    body = json.dumps(
        {
            "messages": [{"role": "user", "content": f"Tell me about the number {index}."}],
            "max_tokens": max_tokens,
            "temperature": 0.7,
            "seed": index,
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            json.load(response)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return f"connection error: {error}"


def load(base, pid, clients, requests, max_tokens):
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "failed": [], "rss_after_50": None}

    def client():
        while True:
            with lock:
                if state["next"] >= requests:
                    return
                index = state["next"]
                state["next"] += 1
            status = chat(base, index, max_tokens)
            with lock:
                state["done"] += 1
                if status != 200:
                    state["failed"].append(status)
                if state["done"] == 50:
                    state["rss_after_50"] = rss_kib(pid)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return state["failed"], state["rss_after_50"], rss_kib(pid)


def burst(base, size, max_tokens):
    statuses = [None] * size

    def one(i):
        statuses[i] = chat(base, i, max_tokens)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("pid", type=int)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--burst", type=int, default=0)
    args = parser.parse_args()
    ok = True
    if args.requests:
        failed, rss_50, rss_end = load(
            args.base, args.pid, args.clients, args.requests, args.max_tokens
        )
        print(
            f"load: {args.requests} requests from {args.clients} clients, {len(failed)} failed"
            f"{' ' + str(failed[:5]) if failed else ''}; RSS after 50: {rss_50} KiB, "
            f"after {args.requests}: {rss_end} KiB ({(rss_end - rss_50) / rss_50:+.1%})"
        )
        ok &= not failed
    if args.burst:
        statuses = burst(args.base, args.burst, args.max_tokens)
        counts = {str(s): statuses.count(s) for s in set(statuses)}
        print(f"burst of {args.burst}: {counts}")
        ok &= all(s in (200, 429) for s in statuses)
        with urllib.request.urlopen(f"{args.base}/health", timeout=10) as response:
            print(f"/health after the burst: {response.status}")
            ok &= response.status == 200
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
