#!/usr/bin/env python3
"""Writes fixtures/smollm2-tokenizer/: the tokenizer that Hugging Face transformers converts from
the SmolLM2-135M-Instruct GGUF (tokenizer.json, tokenizer_config.json and the chat template), so
the real-vocabulary tests (48,900 merges against HF and llama.cpp ids, ChatML rendering) run from
a lone clone, without the 98 MB model.

    pip install transformers tokenizers gguf jinja2 protobuf
    python3 scripts/models/smollm2_tokenizer.py GGUF    # e.g. $SMALLMIND_MODELS/smollm2-135m-q4_1.gguf

transformers' GGUF conversion keeps a plain ByteLevel pre-tokenizer (the original SmolLM2 one adds
a Digits step; crates/tokenizer/tests/smollm2.rs checks both).
"""
import os
import sys

from transformers import AutoTokenizer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../fixtures/smollm2-tokenizer")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory, name = os.path.split(os.path.abspath(sys.argv[1]))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    tokenizer.save_pretrained(OUT)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
