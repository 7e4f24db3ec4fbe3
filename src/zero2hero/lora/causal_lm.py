"""Adapting a causal language model to a domain: the Jargon File as a small text set, a training loop over
windows of it, and what to measure before and after (held-out perplexity, a few greedy definitions).

The text set: the Jargon File 4.4.7 (public domain; Debian's ``jargon-text``, part of the course corpus), a
lexicon of hacker slang whose entries look like ``:bit rot: n. Hypothetical disease ...``. Its first 95 % is
for training, its last 5 % held out (the corpus's split): SmolLM2 has seen much English, but not this file's
layout and voice, so its perplexity on the held-out entries shows how far a fine-tune moves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from zero2hero.errors import InputError
from zero2hero.finetuning.schedule import make_optimizer, make_scheduler, warmup_steps_for

ENTRY_LINE = re.compile(r"^   :[^:\n]{2,40}:.*$", flags=re.M)  # "   :bit rot: n." opens an entry


@dataclass(frozen=True)
class TextSet:
    """Training windows of token ids (windows, length) and the held-out text they never overlap."""

    windows: torch.Tensor
    heldout_text: str
    entry_lines: list[str]  # held-out entries' first lines (":zero-content: adj."), to ask for their definitions


def jargon_text_set(tokenizer: PreTrainedTokenizerBase, windows: int, length: int, seed: int = 0) -> TextSet:
    """``windows`` windows of ``length`` token ids, each starting at a seeded random *entry* of the Jargon File's
    training part (its front matter and index of headwords are left out). Only the text each window needs is
    tokenized: the whole file would take tens of seconds."""
    from zero2hero.corpus import jargon_file

    train_text, heldout = jargon_file()
    line_starts = [m.start() for m in re.finditer(ENTRY_LINE, train_text)]
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for index in torch.randint(len(line_starts), (windows * 2,), generator=generator).tolist():
        start = line_starts[index]
        ids = tokenizer(train_text[start:start + length * 8]).input_ids  # ~4 characters a token: room to spare
        if len(ids) >= length:  # a start near the end of the file is too short: skip it
            rows.append(ids[:length])
        if len(rows) == windows:
            break
    if len(rows) < windows:
        raise InputError(f"could not cut {windows} windows of {length} tokens from the Jargon File",
                         "ask for shorter or fewer windows, or reinstall the corpus: "
                         "python -m zero2hero.corpus install --force")
    entry_lines = [m.group(0) for m in re.finditer(ENTRY_LINE, heldout)]
    return TextSet(torch.tensor(rows), heldout, entry_lines)


def definition_prompt(entry_line: str) -> str:
    """An entry's first line in the file's own layout, so a model that learned it goes on with a definition."""
    return f"{entry_line}\n\n   "


def train_on_windows(model: PreTrainedModel, windows: torch.Tensor, steps: int, batch_size: int,
                     learning_rate: float, seed: int = 0) -> list[float]:
    """Train ``model`` to predict each window's next tokens for ``steps`` AdamW steps (warm-up 10 %, linear decay,
    gradients clipped to norm 1, chapter 5's optimizer and schedule); returns each step's loss (nats/token).

    ``windows`` (n, length): step k takes ``batch_size`` rows in a seeded order; ``labels=input_ids`` makes
    transformers shift them by one inside the model, so position t is scored on token t + 1.
    """
    optimizer = make_optimizer(model, learning_rate, weight_decay=0.0)
    scheduler = make_scheduler(optimizer, warmup_steps_for(0.1, steps), steps)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed))
    losses = []
    model.train()
    for step in range(steps):
        rows = order[(torch.arange(batch_size) + step * batch_size) % len(windows)]
        batch = windows[rows]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses
