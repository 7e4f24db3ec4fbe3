"""Choosing and ordering few-shot examples: which worked examples from the pool go into a prompt, and in what order.

Three strategies, each deterministic for a given seed:

- ``random``: one seeded shuffle of the pool, made once; every item gets its first k shots. The *same* shots for
  every item is a choice: the prompt's prefix (system message and shots) is then identical across items, so an
  engine can cache its KV once, and a difference between two seeds measures the choice of shots, not noise per item.
  The k shots are a prefix of the k+1 shots, so growing k only adds examples.
- ``balanced``: the same number of shots of each label (a seeded order within each label, fixed for all items),
  interleaved label by label (``great, other, great, other``), so neither the majority label nor the last position
  favours one answer. k must be a multiple of the number of labels.
- ``nearest``: per item, the k pool shots most similar to it: cosine similarity of all-MiniLM-L6-v2 sentence
  embeddings (the pool is embedded once). The nearest shot is placed *last*, right before the question, where a
  small model's attention to it is strongest (the "recency" effect of Zhao et al. 2021); the k-th nearest is first.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Literal, get_args

import torch

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.prompting.promptset import Item, PromptSet, Shot, template_variables

Strategy = Literal["random", "balanced", "nearest"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


class ShotSelector:
    """Picks k shots from a prompt set's pool for each item; built once per pool (``nearest`` embeds it here)."""

    def __init__(self, ps: PromptSet, strategy: Strategy, seed: int = 0, text_variable: str | None = None,
                 encoder: tuple | None = None) -> None:
        """``text_variable``: the variable whose text ``nearest`` compares (default: the default template's first);
        ``encoder``: a loaded (model, tokenizer) to embed with instead of loading all-MiniLM-L6-v2."""
        if strategy not in STRATEGIES:
            raise UnknownNameError(f"unknown shot selection strategy {strategy!r}",
                                   f"choose one of {', '.join(STRATEGIES)}")
        if not ps.pool:
            raise InputError(f"the prompt set {ps.name!r} has no pool of shots to choose from",
                             "add worked examples under 'pool', or use 0 shots")
        self.ps, self.strategy, self.seed = ps, strategy, seed
        order = list(ps.pool)
        random.Random(seed).shuffle(order)
        self._shuffled = order  # random: the fixed draw; balanced: the order within each label
        if strategy == "balanced":
            self._by_label = self._group_by_label()
        if strategy == "nearest":
            self.text_variable = text_variable or self._default_variable()
            self._model, self._tokenizer = encoder if encoder is not None else _load_minilm()
            self._pool_embeddings = self._embed([shot.variables[self.text_variable] for shot in ps.pool])  # (n, d)

    def select(self, item: Item, k: int) -> list[Shot]:
        """The k shots for ``item`` (0 ≤ k ≤ pool size), in the order they go into the prompt."""
        if not 0 <= k <= len(self.ps.pool):
            raise InputError(f"asked for {k} shots, the pool of {self.ps.name!r} has {len(self.ps.pool)}",
                             f"choose k between 0 and {len(self.ps.pool)}")
        if k == 0:
            return []
        if self.strategy == "random":
            return self._shuffled[:k]
        if self.strategy == "balanced":
            return self._balanced(k)
        return self._nearest(item, k)

    def _group_by_label(self) -> dict[str, list[Shot]]:
        if self.ps.kind != "label":
            raise InputError(f"balanced shots need labels; the prompt set {self.ps.name!r} is of kind {self.ps.kind}",
                             "use the random or nearest strategy")
        return {label: [s for s in self._shuffled if s.answer == label] for label in self.ps.labels}

    def _balanced(self, k: int) -> list[Shot]:
        n_labels = len(self._by_label)
        if k % n_labels:
            raise InputError(f"{k} shots cannot be split equally among {n_labels} labels",
                             f"choose a multiple of {n_labels}, or the random strategy")
        per_label = k // n_labels
        short = [label for label, shots in self._by_label.items() if len(shots) < per_label]
        if short:
            raise InputError(f"balanced {k} shots need {per_label} per label; the pool has fewer of {', '.join(short)}",
                             "add shots of those labels to the pool, or ask for fewer")
        rounds = zip(*(shots[:per_label] for shots in self._by_label.values()), strict=True)
        return [shot for one_per_label in rounds for shot in one_per_label]

    def _nearest(self, item: Item, k: int) -> list[Shot]:
        if self.text_variable not in item.variables:
            raise InputError(f"item {item.id!r} has no variable {self.text_variable!r} to compare with the pool",
                             f"pass text_variable, one of {', '.join(item.variables)}")
        query = self._embed([item.variables[self.text_variable]])[0]  # (d,)
        similarity = self._pool_embeddings @ query  # (n,): cosine, both sides unit length
        ranked = sorted(range(len(similarity)), key=lambda i: -similarity[i].item())  # stable: pool order on ties
        return [self.ps.pool[i] for i in reversed(ranked[:k])]  # the nearest last

    def _embed(self, texts: list[str]) -> torch.Tensor:
        from zero2hero.embeddings.sentence import embed_sentences

        return embed_sentences(texts, self._model, self._tokenizer)

    def _default_variable(self) -> str:
        name, template = next(iter(self.ps.templates.items()))
        variables = template_variables(name, template)
        if not variables:
            raise InputError(f"the template {name!r} has no variable to compare items by", "pass text_variable")
        return variables[0]


def _load_minilm() -> tuple:
    from zero2hero.assets import load_encoder

    return load_encoder("minilm")


class FixedShots:
    """A shot selector that gives every item the same shots in a given order (to measure order effects)."""

    def __init__(self, shots: Sequence[Shot]) -> None:
        self.shots = list(shots)

    def select(self, item: Item, k: int) -> list[Shot]:
        return self.shots[:k]


def orderings(shots: Sequence[Shot], n: int, seed: int = 0) -> list[list[Shot]]:
    """``n`` distinct orders of the same shots, the given order first; all k! of them when there are fewer than n.

    Few-shot accuracy of a small model can swing with the order alone (Lu et al. 2022): measuring several orders
    shows how much. With k! ≤ n the orders are every permutation, in lexicographic order of positions; otherwise
    seeded random permutations, repeats skipped.
    """
    if n < 1:
        raise InputError(f"asked for {n} orderings", "ask for at least 1")
    shots = list(shots)
    if math.factorial(len(shots)) <= n:
        return [list(p) for p in itertools.permutations(shots)]
    rng = random.Random(seed)
    seen = {tuple(range(len(shots)))}
    result = [shots]
    while len(result) < n:
        positions = list(range(len(shots)))
        rng.shuffle(positions)
        if tuple(positions) not in seen:
            seen.add(tuple(positions))
            result.append([shots[i] for i in positions])
    return result
