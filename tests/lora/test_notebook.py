"""The chapter 6 notebook runs as a script, and what it prints holds: our LoRA layer and PEFT's agree, the adapter
merges into a model giving the same logits, two adapters switch, and QLoRA's base is smaller."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "course/06-peft-lora/notebook.py"


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1).replace(",", ""))


@pytest.mark.heavy  # loads MiniLM 4 times and fine-tunes it 60 steps: 44 s on one thread of a busy 2-core machine
def test_notebook_runs_and_its_claims_hold() -> None:
    done = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # 1. one layer: B = 0 leaves the base's output; r·(in + out) trainable; the functional form is the layer
    assert "B = 0, so the layer's output equals the base's: True" in out
    assert number(r"^trainable numbers: ([\d,]+)", out) == 8 * (384 + 384)
    assert "lora_forward equals the layer: True" in out
    assert number(r"^merged: output differs from the unmerged layer's by (\S+) at most", out) < 1e-5
    assert number(r"^merged: W differs from the original by (\S+) at most", out) > 1e-3  # the update went in
    assert number(r"^unmerged: W differs from the original by (\S+) at most", out) < 1e-6

    # 2. the same trainable count as PEFT's own print, and the same initial A in every adapted layer
    ours = number(r"^zero2hero: trainable params: ([\d,]+)", out)
    theirs = number(r"^PEFT: +trainable params: ([\d,]+)", out)
    assert ours == theirs == 12 * 8 * (384 + 384) + 384 * 2 + 2
    their_all = number(r"^PEFT: +trainable params: [\d,]+ \|\| all params: ([\d,]+)", out)
    assert their_all - number(r"^zero2hero: trainable params: [\d,]+ \|\| all params: ([\d,]+)", out) == 384 * 2 + 2
    assert "initial A matrices identical (torch.equal) in 12 of 12 layers" in out

    # 3. memory: LoRA's gradients and AdamW states are a tiny share of full fine-tuning's, and its peak is lower
    table = {row[0].strip(): [float(value) for value in row[1:]] for row in
             re.findall(r"^(weights|gradients|AdamW states|activations|peak \(total\)) +([\d.]+) +([\d.]+) +([\d.]+)$",
                        out, re.MULTILINE)}
    assert len(table) == 5, out
    full, lora, qlora = zip(*table.values(), strict=True)
    assert lora[1] < full[1] / 100 and lora[2] < full[2] / 100
    assert qlora[0] < lora[0] and qlora[4] < lora[4] < full[4]
    skipped = number(r"LoRA skips (\d+) %", out)
    assert 25 <= skipped < 34  # at most a third: the weight gradients of the frozen layers

    # 4. the fine-tune learned (answering one label every time scores a macro-F1 of at most 0.5), saved a small
    # adapter in PEFT's format, and the merged model gives the same logits
    assert re.search(r"^60 steps in \d+ s", out, re.MULTILINE), out
    assert number(r"^LoRA fine-tune on 200 test reviews: accuracy [\d.]+, macro-F1 ([\d.]+)$", out) > 0.6
    assert re.search(r"^  adapter_config\.json ", out, re.MULTILINE), out
    assert number(r"^the adapter's weights: ([\d.]+) kB", out) < 1000
    assert number(r"^merged model: ([\d.]+) MB of weights, 0 LoRA layers left", out) > 80
    assert number(r"^merged vs unmerged logits on 8 reviews: largest difference (\S+)$", out) < 1e-4

    # 5. switching adapters changes the output, and switching back restores it exactly
    rows = re.findall(r"^adapter (\w+) +: P\(great\) of the first 4 reviews (.+)$", out, re.MULTILINE)
    assert [name for name, _ in rows] == ["default", "second", "None", "default"]
    p_default, p_second, p_base, p_default_again = (shown for _, shown in rows)
    assert p_second != p_default and p_second != p_base and p_default == p_default_again
    assert "back on 'default': the same logits as before: True" in out

    # 6. QLoRA: 4.5 bits instead of 32 per weight, and the gradient still reaches every adapter
    assert 6.5 < number(r"\(([\d.]+)× smaller\)", out) < 32 / 4.5 + 0.01
    assert "the gradient reached B in 12 of 12 adapted layers" in out
