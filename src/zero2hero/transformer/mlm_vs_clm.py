"""Masked vs causal language modelling, measured: the same tiny GPT-2 trained on the same characters for the same
budget, once as a bidirectional encoder with MLM and once as a causal decoder with CLM; then what each can do
(fill a blank from both sides, continue text left to right) and what it cannot."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm import tqdm

from zero2hero.errors import InputError
from zero2hero.transformer.gpt2 import GPT2, GPT2Config
from zero2hero.transformer.objectives import clm_loss, mlm_loss, mlm_mask

OBJECTIVES = ("mlm", "clm")
MASK, UNK = 0, 1  # special ids: the [MASK] of MLM, and any character the training text never showed
SPECIALS = ("[MASK]", "[UNK]")


@dataclass
class CharVocab:
    """One id per character of the training text, after the special ids."""

    chars: list[str]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    @property
    def size(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """(len(text),) ids; an unseen character becomes [UNK]."""
        index = {c: i + len(SPECIALS) for i, c in enumerate(self.chars)}
        return torch.tensor([index.get(c, UNK) for c in text], dtype=torch.long)

    def decode(self, ids: list[int]) -> str:
        return "".join(SPECIALS[i] if i < len(SPECIALS) else self.chars[i - len(SPECIALS)] for i in ids)


@dataclass
class TinyLMConfig:
    """Model size and training budget, identical for both objectives."""

    n_layer: int = 1
    n_embd: int = 64
    n_head: int = 4
    block_size: int = 32  # characters per training window: the most either model ever sees
    steps: int = 3000
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    mask_prob: float = 0.15  # MLM: share of positions picked for prediction (BERT's 80/10/10 inside)
    # GPT-2's 0.02 is made for 768 dimensions; at 64 it leaves every attention score near 0, and the encoder,
    # which must look at its neighbours to fill a [MASK], stays at unigram guesses several times longer.
    init_std: float = 0.1


@dataclass
class TrainedLM:
    objective: str  # "mlm" (bidirectional encoder) or "clm" (causal decoder)
    model: GPT2
    vocab: CharVocab
    losses: list[float]  # training loss per step
    seconds: float

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def train(objective: str, text: str, cfg: TinyLMConfig) -> TrainedLM:
    """Train a character-level GPT-2 on ``text`` with AdamW: causal attention + CLM, or bidirectional + MLM.

    Both objectives see the same windows in the same order (one seeded generator), so only the attention mask
    and the loss differ.
    """
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}", f"pick one of {', '.join(OBJECTIVES)}")
    if len(text) <= cfg.block_size:
        raise InputError(f"the text has {len(text)} characters", f"give more than block_size={cfg.block_size}")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    model_cfg = GPT2Config(vocab.size, cfg.block_size, cfg.n_embd, cfg.n_layer, cfg.n_head,
                           causal=objective == "clm", init_std=cfg.init_std)
    with torch.random.fork_rng():  # seeded initial weights, without touching the caller's random state
        torch.manual_seed(cfg.seed)
        model = GPT2(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    windows_gen = torch.Generator().manual_seed(cfg.seed)
    mask_gen = torch.Generator().manual_seed(cfg.seed + 1)
    losses, start = [], time.perf_counter()
    model.train()
    for _ in tqdm(range(cfg.steps), desc=f"training the {objective.upper()} model", unit="step", leave=False,
                  disable=None):  # a bar only on a terminal
        starts = torch.randint(len(ids) - cfg.block_size + 1, (cfg.batch_size,), generator=windows_gen)
        batch = torch.stack([ids[s:s + cfg.block_size] for s in starts.tolist()])  # (batch, block)
        if objective == "clm":
            loss = clm_loss(model(batch)[0], batch)
        else:
            inputs, labels = mlm_mask(batch, MASK, vocab.size, mask_gen, cfg.mask_prob)
            loss = mlm_loss(model(inputs)[0], labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return TrainedLM(objective, model.eval(), vocab, losses, time.perf_counter() - start)


def _argmax_chars(logits: torch.Tensor) -> torch.Tensor:
    """logits (..., vocab) -> ids (...): the most likely character, never a special id."""
    return logits.clone().index_fill_(-1, torch.arange(len(SPECIALS)), float("-inf")).argmax(-1)


def predict_at(lm: TrainedLM, windows: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """The model's guess for the character at ``pos`` (n,) of each window (n, t), seeing what it can see.

    MLM: the character is replaced by [MASK] and read back from both sides. CLM: its next-character prediction
    at ``pos - 1``, which by the causal mask sees only the left context (needs pos >= 1).
    """
    rows = torch.arange(len(windows))
    with torch.inference_mode():
        if lm.objective == "mlm":
            inputs = windows.clone()
            inputs[rows, pos] = MASK
            return _argmax_chars(lm.model(inputs)[0][rows, pos])
        return _argmax_chars(lm.model(windows)[0][rows, pos - 1])


def heldout_windows(lm: TrainedLM, text: str, n: int, seed: int = 0) -> torch.Tensor:
    """(n, block_size) windows of ``text`` at seeded random offsets: the same for every model of that vocab."""
    ids, block = lm.vocab.encode(text), lm.model.config.n_positions
    if len(ids) < block:
        raise InputError(f"the held-out text has {len(ids)} characters", f"give at least {block}")
    starts = torch.randint(len(ids) - block + 1, (n,), generator=torch.Generator().manual_seed(seed))
    return torch.stack([ids[s:s + block] for s in starts.tolist()])


def fill_in_accuracy(lm: TrainedLM, text: str, n: int = 1000, seed: int = 0) -> float:
    """Share of blanks guessed right: one character hidden at a random interior position of each window."""
    windows = heldout_windows(lm, text, n, seed)
    pos = torch.randint(1, windows.shape[1] - 1, (n,), generator=torch.Generator().manual_seed(seed + 1))
    return (predict_at(lm, windows, pos) == windows[torch.arange(n), pos]).float().mean().item()


def next_char_accuracy(lm: TrainedLM, text: str, n: int = 1000, seed: int = 0) -> float:
    """Share of next characters guessed right: the last character of each window from the ones before it."""
    windows = heldout_windows(lm, text, n, seed)
    pos = torch.full((n,), windows.shape[1] - 1)
    return (predict_at(lm, windows, pos) == windows[:, -1]).float().mean().item()


def fill_blanks(lm: TrainedLM, text: str, blank: str = "_") -> str:
    """``text`` with every ``blank`` character filled: by MLM all at once from both sides, by CLM one at a time
    from the left (each blank sees the earlier fills)."""
    ids = lm.vocab.encode(text)
    if len(ids) > lm.model.config.n_positions:
        raise InputError(f"{len(ids)} characters exceed the block of {lm.model.config.n_positions}",
                         "use a shorter sentence")
    blanks = [i for i, c in enumerate(text) if c == blank]
    if blanks and blanks[0] == 0:
        raise InputError("the text starts with a blank", "put at least one character before the first blank")
    if lm.objective == "mlm":
        ids[blanks] = MASK
        with torch.inference_mode():
            ids[blanks] = _argmax_chars(lm.model(ids[None])[0][0, blanks])
    else:
        for b in blanks:
            ids[b] = predict_at(lm, ids[None], torch.tensor([b]))[0]
    filled = list(text)  # characters outside the vocabulary stay as written, only the blanks change
    for b in blanks:
        filled[b] = lm.vocab.decode([int(ids[b])])
    return "".join(filled)


def continue_text(lm: TrainedLM, prompt: str, n_new: int) -> str:
    """``n_new`` characters after ``prompt``, greedy, each from the last ``block_size - 1`` characters.

    Both models answer the same question: what is at a [MASK] appended to the text. The encoder fills it (its
    only way to write left to right); the decoder's prediction at the position before it is its next character.
    """
    ids, block = lm.vocab.encode(prompt).tolist(), lm.model.config.n_positions
    if not ids:
        raise InputError("the prompt is empty", "give at least one character")
    start = len(ids)
    for _ in range(n_new):
        window = ids[-(block - 1):] + [MASK]  # a sliding window: older characters drop out of view
        ids.append(int(predict_at(lm, torch.tensor([window]), torch.tensor([len(window) - 1]))[0]))
    return lm.vocab.decode(ids[start:])
