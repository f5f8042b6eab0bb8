#!/usr/bin/env python3
"""Checks `smallmind serve` with the official `openai` Python client (issue 15's acceptance).

Usage: openai_client_check.py BASE_URL   (e.g. http://127.0.0.1:8080/v1)

Runs against a server on any model (CI uses the tiny fixture GGUF with `--chat-template chatml`):
chat without streaming, chat streaming (the reassembled text equals the non-streamed text at
temperature 0), completions, a stop sequence, `stream_options.include_usage`, and a 400
`context_length_exceeded` for a prompt longer than the context. Exits non-zero on the first
failed check.
"""

import sys

import openai


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def main():
    base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/v1"
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)

    models = client.models.list().data
    check(len(models) == 1, "GET /v1/models lists the one model")
    model = models[0].id
    context = getattr(models[0], "context_length", None) or (models[0].model_extra or {}).get(
        "context_length"
    )
    check(isinstance(context, int) and context > 0, f"the model {model} reports its context")

    messages = [{"role": "user", "content": "Hello, who are you?"}]
    whole = client.chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=32
    )
    text = whole.choices[0].message.content
    check(whole.choices[0].finish_reason in ("stop", "length"), "chat: a finish reason")
    check(whole.usage.completion_tokens > 0, "chat: usage counts the generated tokens")

    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        temperature=0,
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
    check("".join(pieces) == text, "chat: streamed text equals the non-streamed text at T=0")
    check(
        usage is not None and usage.completion_tokens == whole.usage.completion_tokens,
        "chat: include_usage sends the usage in the last chunk",
    )

    completion = client.completions.create(
        model=model, prompt="the cat sat on", temperature=0, max_tokens=24
    )
    full = completion.choices[0].text
    check(len(full) >= 4, "completions: text")

    stop = full[2:4]
    stopped = client.completions.create(
        model=model, prompt="the cat sat on", temperature=0, max_tokens=24, stop=[stop]
    )
    check(
        stopped.choices[0].text == full[: full.find(stop)]
        and stopped.choices[0].finish_reason == "stop",
        f"completions: the stop sequence {stop!r} cuts the text",
    )

    try:
        client.completions.create(model=model, prompt="the cat " * context, max_tokens=4)
        check(False, "a prompt over the context is refused")
    except openai.BadRequestError as error:
        check(
            error.status_code == 400 and error.code == "context_length_exceeded",
            "a prompt over the context gets 400 context_length_exceeded",
        )
    print("all openai client checks passed")


if __name__ == "__main__":
    main()
