"""The chapter 7 notebook runs as a script, and what it prints holds: a Q4_1 block decoded by hand equals both
readers, our LLaMA built from the file answers, RMSNorm and RoPE behave as the lesson says, grouped-query attention
shrinks the KV cache by the group size, the planner sizes Llama 2 13B, and llama.cpp's logits are close to ours (or
its install is named)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zero2hero.llama.llamacpp import llamacpp_available

NOTEBOOK = Path(__file__).parents[2] / "course/07-llama-models/notebook.py"


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1).replace(",", ""))


@pytest.mark.heavy  # loads SmolLM2 and generates: about 25 s on one thread of a busy 2-core machine
def test_notebook_runs_and_its_claims_hold() -> None:
    done = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # 1. the header, and one Q4_1 block by hand: the same numbers as our reader and the gguf package
    assert re.search(r"^GGUF version 3, 272 tensors, \d+ metadata entries", out, re.MULTILINE), out
    assert re.search(r"^  llama\.block_count +30$", out, re.MULTILINE)
    assert re.search(r"^  llama\.attention\.head_count_kv +3$", out, re.MULTILINE)
    assert "blk.0.attn_q.weight: shape (576, 576), Q4_1" in out
    assert "by hand equals our reader's first 32 values: True" in out
    assert number(r"^our reader vs the gguf package, whole tensor: largest difference (\S+)$", out) == 0

    # 2. our model from the file: SmolLM2's size, and a correct answer in the chat format
    assert number(r"^parameters: ([\d,]+)$", out) == 134_515_008
    assert "<|im_start|>user\\nWhat is the capital of France?<|im_end|>" in out
    assert re.search(r"^ours: .*Paris", out, re.MULTILINE), out

    # 3. RMSNorm gives a root mean square of 1 and equals torch's; RoPE keeps lengths and relative scores
    assert "equals torch.nn.RMSNorm: True" in out
    before, after = re.search(r"length before ([\d.]+), after rotating to position 50: ([\d.]+)", out).groups()
    assert before == after
    near, far, other = (float(v) for v in re.search(
        r"score at positions \(7, 3\): (\S+); at \(107, 103\): (\S+); at \(7, 5\): (\S+)$", out, re.MULTILINE).groups())
    assert abs(near - far) < 1e-4 and abs(near - other) > 1e-2
    assert number(r"^RoPE: same distance, same score: difference (\S+)$", out) < 1e-4

    # 4. the KV cache, by hand: 2 (keys, values) × layers × kv heads × head size × 4,096 tokens × 2 bytes
    smol = re.search(r"^SmolLM2.*: 9 query heads, 3 key/value heads; .*: ([\d.]+) GB with GQA, ([\d.]+) GB without "
                     r"\((\d+)× more\)$", out, re.MULTILINE)
    assert smol and float(smol[1]) == round(2 * 30 * 3 * 64 * 4096 * 2 / 1e9, 3) and smol[3] == "3"
    big = re.search(r"^Llama 2 70B: 64 query heads, 8 key/value heads; .*: ([\d.]+) GB with GQA, ([\d.]+) GB "
                    r"without \((\d+)× more\)$", out, re.MULTILINE)
    assert big and float(big[1]) == round(2 * 80 * 8 * 128 * 4096 * 2 / 1e9, 3) and big[3] == "8"

    # 5. the planner: Llama 2 13B has 13.0 B parameters; q4_0 weights are 4.5 / 16 of fp16's (vectors aside)
    assert 12.9 < number(r"^Llama 2 13B: ([\d.]+) B parameters", out) < 13.1
    fp16 = number(r"weights in fp16 ([\d.]+) GB", out)
    q4 = number(r"in q4_0 ([\d.]+) GB", out)
    assert abs(q4 / fp16 - 4.5 / 16) < 0.01
    assert re.search(r"^fits: (yes|tight|no); decode at most [\d.]+ tokens/s$", out, re.MULTILINE)

    # 6. llama.cpp: an answer and a speed when installed, else the line that says how to install it
    # (close to our logits, not equal: llama.cpp also rounds the activations to 8 bits)
    if llamacpp_available():
        difference = number(r"^llama\.cpp vs ours on the prompt's logits: largest difference (\S+) ", out)
        assert 0 < difference < 0.2 * number(r"\(logits reach (\S+)\)", out)
        assert re.search(r"^llama\.cpp: \S", out, re.MULTILINE), out
        assert number(r"^llama\.cpp: \d+ tokens, decode ([\d.]+) tokens/s", out) > 0
    else:
        assert "llama.cpp is not installed. To run this section: install a C/C++ compiler" in out

    # 7. the LoRA fine-tune: r · (in + out) per adapted layer, and the held-out perplexity falls (82.70 -> 70.69 here)
    trainable = 30 * (8 * (576 + 576) + 8 * (576 + 192))  # q_proj 576 -> 576, v_proj 576 -> 3 heads × 64
    assert number(r"^LoRA r=8 on q_proj,v_proj: ([\d,]+) trainable", out) == trainable
    before = number(r"^held-out Austen perplexity: ([\d.]+) before", out)
    after = number(r"^held-out Austen perplexity: [\d.]+ before -> ([\d.]+) after$", out)
    assert after < 0.95 * before
    assert number(r"adapter ([\d.]+) MB$", out) == pytest.approx(trainable * 4 / 1e6, rel=0.05)
