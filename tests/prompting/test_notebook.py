"""The chapter 8 notebook runs as a script, and what it prints holds: the chat template inserts SmolLM2's default
system prompt, a system prompt changes the answer, few-shot prompts carry their examples, every accuracy lies in its
interval, chain-of-thought answers are read from the chains and self-consistency takes their majority, a soft prompt
trains k × 576 numbers while the model stays bit-equal and PEFT computes the same logits, and the prefix cache leaves
the answers unchanged."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "course/08-prompting/notebook.py"
ACCURACY = r"accuracy ([\d.]+) \[([\d.]+), ([\d.]+)\], answers parsed ([\d.]+)"


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1).replace(",", ""))


def replies(out: str) -> dict[str, str]:
    """Section 1's greedy replies by the way the question was asked (each printed as a Python string literal)."""
    return {name: ast.literal_eval(reply) for name, reply in
            re.findall(r"^--- ([a-z, ]+) \(\d+ prompt tokens\)\n(.+)$", out, re.MULTILINE)}


@pytest.mark.heavy  # loads SmolLM2 and MiniLM, generates and trains a soft prompt: about 110 s on one busy thread
def test_notebook_runs_and_its_claims_hold() -> None:
    done = subprocess.run([sys.executable, str(NOTEBOOK)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # 1. no system message given, yet the template holds SmolLM2's default one; the prompt decides the reply
    assert ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n") in out
    asked = replies(out)
    assert list(asked) == ["default system prompt", "role and format", "raw question, no template",
                           "raw sentence start, no template"], out
    assert asked["default system prompt"] and asked["role and format"] != asked["default system prompt"]
    assert asked["raw question, no template"] == ""  # an instruct model stops after a bare, complete question
    assert asked["raw sentence start, no template"]

    # 2. the prompt set, and one item after 2 worked examples: 3 user turns, 2 answered, the item's open
    assert "sentiment: 20 items, 16 pool examples" in out
    gold = re.search(r"^gold labels of the items: \{'great': (\d+), 'other': (\d+)\}$", out, re.MULTILINE)
    assert gold and int(gold[1]) + int(gold[2]) == 20
    rendered = out[out.index("<|im_start|>system\nYou are a helpful assistant that reads"):out.index("gold label:")]
    assert rendered.count("<|im_start|>user\nReview: ") == 3
    assert rendered.count("<|im_start|>assistant\n") == 3 and rendered.endswith("<|im_start|>assistant\n\n")
    with_shots = number(r"^gold label: \w+; (\d+) tokens", out)
    assert 0 < number(r"tokens \((\d+) without the 2 examples\)$", out) < with_shots

    # 3. every accuracy is a share of 20 inside its interval; scoring always yields a label; the majority baseline
    rows = re.findall(rf"^(\S.*?) +{ACCURACY}, [\d.]+ reviews/s$", out, re.MULTILINE)
    assert [name for name, *_ in rows] == ["label scoring (0-shot)", "generate and parse (0-shot)", "2-shot balanced",
                                           "4-shot balanced", "2-shot nearest", "4-shot nearest"], out
    for name, mean, low, high, parsed in rows:
        mean, low, high = float(mean), float(low), float(high)
        assert low <= mean <= high and abs(mean * 20 - round(mean * 20)) < 1e-6, name
        assert high - low >= 0.25, name  # 20 items give a wide interval
        if name != "generate and parse (0-shot)":
            assert float(parsed) == 1.0, name
    assert number(r"^always answering the most frequent label: ([\d.]+)$", out) == max(int(gold[1]), int(gold[2])) / 20
    assert re.search(r"^paired: label scoring − generate = [+-][\d.]+ \[", out, re.MULTILINE), out
    assert len(re.findall(r"^    against 0-shot: this − 0-shot = ", out, re.MULTILINE)) == 4

    # 4. two orders of the same 4 shots: the changed answers are at least the change in "positive" answers
    orders = re.findall(r"^order \d \(((?:positive|negative)(?:, (?:positive|negative)){3})\): accuracy [\d.]+, "
                        r"'positive' for (\d+) of 20, mean margin [+-][\d.]+$", out, re.MULTILINE)
    assert len(orders) == 2 and orders[0][0] != orders[1][0]
    assert sorted(orders[0][0].split(", ")) == sorted(orders[1][0].split(", ")) == ["negative"] * 2 + ["positive"] * 2
    changed = number(r"^reviews answered differently by the two orders: (\d+)$", out)
    assert abs(int(orders[0][1]) - int(orders[1][1])) <= changed <= 20

    # 5. chain-of-thought: one problem per level, the answer read from the chain; self-consistency's majority
    checked = re.findall(r"^extracted answer: (\S+); reference: (\S+); correct: (True|False)$", out, re.MULTILINE)
    assert len(checked) == 3 and all((answer == reference) == (correct == "True") for answer, reference, correct
                                     in checked)
    for level in ("L1", "L2", "L3"):
        assert re.search(rf"^--- {level}-\d+: .+\?$", out, re.MULTILINE), out
    votes = re.findall(r"^L\d-\d+: the 3 chains answer (\[.*\]), the vote says (\S+); reference \S+$", out,
                       re.MULTILINE)
    assert len(votes) == 3
    for chain_answers, vote in votes:
        answers = [a for a in ast.literal_eval(chain_answers) if a is not None]
        counts = Counter(answers)
        majority = next((a for a in answers if counts[a] == max(counts.values())), "None")  # ties: the first seen
        assert vote == majority

    # 6. the soft prompt: 4 × 576 numbers trained, the model bit-equal, PEFT's logits equal ours
    assert number(r"^trainable numbers: ([\d,]+) = 4 × 576;", out) == 4 * 576
    assert number(r"the model's ([\d,]+) weights are frozen$", out) == 134_515_008
    assert len(ast.literal_eval(re.search(r"^losses: (\[.*\])$", out, re.MULTILINE)[1])) == 4
    assert number(r"^the soft prompt moved by up to ([\d.]+)$", out) > 0
    assert "the model's weights are bit-equal after training: True" in out
    shape = re.search(r"^logits of shape \(1, (\d+), 49152\); PEFT vs ours: largest difference (\S+)$", out,
                      re.MULTILINE)
    assert shape and int(shape[1]) > 4 and float(shape[2]) < 1e-4

    # 7. the prefix cache: the shared prefix is most of each prompt and the answers are the same (its speed is
    # `z2h bench prompt`'s to measure, not a test's)
    shared = number(r"^\d+ prompt tokens per review on average, (\d+) of them shared and cached$", out)
    assert 0 < shared < number(r"^(\d+) prompt tokens per review on average", out)
    assert re.search(r"^same answers with and without the cache: True; label log-probs differ by at most \S+$", out,
                     re.MULTILINE)
    assert number(r"label log-probs differ by at most (\S+)$", out) < 1e-3
