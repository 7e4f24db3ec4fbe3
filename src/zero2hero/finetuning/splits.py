"""Train/validation/test splits: a stratified validation split, and a check for duplicates that leak across splits.

A validation set is carved out of the training data (the official test set stays untouched, so the
final figure is measured once, on data no choice was tuned on). Stratifying keeps each class's share
the same in both parts. A text that also appears, exactly or nearly, in another split makes the
scores on that split optimistic: :func:`find_duplicates` finds them.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example, LabelledData, LabelledSplits

SPLIT_NAMES = ("train", "validation", "test")
_WORD = re.compile(r"\w+")


def stratified_split(examples: list[Example], validation_share: float = 0.1, seed: int = 0
                     ) -> tuple[list[Example], list[Example]]:
    """Split ``examples`` into (train, validation), each class in the same proportion in both.

    Per class (in label order), the examples' positions are shuffled with ``random.Random(seed)`` and
    the first ``round(validation_share * n_class)`` go to validation. Both parts keep the input order.
    """
    if not 0 < validation_share < 1:
        raise InputError(f"validation_share must be between 0 and 1, got {validation_share}",
                         "use e.g. 0.1 for a tenth of the training data")
    by_label: dict[int, list[int]] = defaultdict(list)
    for position, example in enumerate(examples):
        by_label[example.label].append(position)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for label in sorted(by_label):
        positions = by_label[label]
        rng.shuffle(positions)
        chosen.update(positions[: round(validation_share * len(positions))])
    train = [e for i, e in enumerate(examples) if i not in chosen]
    validation = [e for i, e in enumerate(examples) if i in chosen]
    if not train or not validation:
        raise InputError(f"a validation share of {validation_share} of {len(examples)} examples leaves "
                         f"{len(train)} for training and {len(validation)} for validation",
                         "use more examples, or a share that leaves some in each part")
    return train, validation


def stratified_subset(examples: list[Example], count: int, seed: int = 0) -> list[Example]:
    """A seeded stratified subset of about ``count`` examples, in input order (0, or more than there are: all)."""
    if count == 0 or count >= len(examples):
        return examples
    return stratified_split(examples, count / len(examples), seed)[1]


def make_splits(data: LabelledData, validation_share: float = 0.1, seed: int = 0) -> LabelledSplits:
    """Train/validation from ``data.train`` (stratified), and ``data.test`` as it is."""
    train, validation = stratified_split(data.train, validation_share, seed)
    return LabelledSplits(train=train, validation=validation, test=list(data.test), label_names=list(data.label_names))


# ---- duplicates ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DuplicateMatch:
    """An example (``split``, ``index``) that repeats an earlier one (``other_split``, ``other_index``)."""

    split: str
    index: int
    other_split: str
    other_index: int
    similarity: float  # Jaccard similarity of the word 3-gram sets; 1.0 for an exact duplicate
    exact: bool  # equal once case and whitespace are normalised
    labels_differ: bool
    text: str
    other_text: str


@dataclass
class DuplicateReport:
    """Duplicates per pair of splits, keyed ``"<earlier split>~<later split>"`` (e.g. ``"train~test"``).

    A count is a number of examples of the later split that repeat an example of the earlier one (for
    one split with itself, an earlier example of the same split): ``exact`` after case and whitespace
    normalisation, ``near`` when the word 3-gram sets have a Jaccard similarity of at least ``threshold``
    without being exact, ``conflicting`` when such a repeat has another label.
    """

    threshold: float
    exact: dict[str, int]
    near: dict[str, int]
    conflicting: dict[str, int]
    samples: dict[str, list[DuplicateMatch]] = field(default_factory=dict)  # a few matches per pair, exact first

    def figures(self) -> dict[str, int]:
        """The counts as flat figures, e.g. ``train_test_exact_duplicates_count``."""
        figures = {}
        for kind, counts in (("exact", self.exact), ("near", self.near), ("conflicting", self.conflicting)):
            for pair, count in counts.items():
                figures[f"{pair.replace('~', '_')}_{kind}_duplicates_count"] = count
        return figures


def normalise(text: str) -> str:
    """Lower case, whitespace runs as one space: what counts as the same text for exact duplicates."""
    return " ".join(text.lower().split())


def word_shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    """The set of word ``n``-grams of a text (lower case, punctuation dropped); a shorter text is one shingle."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i: i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def similar_pairs(shingle_sets: list[frozenset], threshold: float) -> list[tuple[int, int, float]]:
    """All pairs (i < j, similarity) whose Jaccard similarity is at least ``threshold``; exact, no sampling.

    Prefix filtering: order the shingles rarest first; two sets with Jaccard >= t must share one of the
    first ``|A| - ceil(t * |A|) + 1`` shingles of A. Only sets that share such a rare shingle are compared,
    so common phrases ("i love this") never make the search quadratic.
    """
    if not 0 < threshold <= 1:
        raise InputError(f"the similarity threshold must be in (0, 1], got {threshold}", "use e.g. 0.8")
    ids: dict[tuple[str, ...], int] = {}
    id_sets = [[ids.setdefault(shingle, len(ids)) for shingle in shingles] for shingles in shingle_sets]
    frequency = Counter(i for id_set in id_sets for i in id_set)
    rarity_rank = [0] * len(ids)
    for rank, i in enumerate(sorted(range(len(ids)), key=lambda i: (frequency[i], i))):
        rarity_rank[i] = rank
    index: dict[int, list[int]] = defaultdict(list)
    pairs = []
    for j, (shingles, id_set) in enumerate(zip(shingle_sets, id_sets, strict=True)):
        ordered = sorted(rarity_rank[i] for i in id_set)
        prefix = ordered[: len(ordered) - math.ceil(threshold * len(ordered) - 1e-9) + 1]  # 1e-9: 0.7 * 10 > 7
        candidates = {i for shingle in prefix for i in index[shingle]}
        for i in sorted(candidates):
            similarity = jaccard(shingle_sets[i], shingles)
            if similarity >= threshold:
                pairs.append((i, j, similarity))
        for shingle in prefix:
            index[shingle].append(j)
    return pairs


def find_duplicates(splits: LabelledSplits, threshold: float = 0.8, samples_per_pair: int = 3) -> DuplicateReport:
    """Exact and near duplicates within each split and across train, validation and test (see :class:`DuplicateReport`).

    Near duplicates: word 3-gram sets with a Jaccard similarity of at least ``threshold``
    (:func:`similar_pairs`). A few thousand reviews take about a second.
    """
    documents = [(name, i, example) for name in SPLIT_NAMES for i, example in enumerate(getattr(splits, name))]
    keys = [normalise(example.text) for _, _, example in documents]
    found: dict[tuple[int, int], float] = {}  # (earlier document, later document) -> similarity
    first_with_key: dict[str, list[int]] = defaultdict(list)
    for j, key in enumerate(keys):
        for i in first_with_key[key]:
            found[(i, j)] = 1.0
        first_with_key[key].append(j)
    for i, j, similarity in similar_pairs([word_shingles(example.text) for _, _, example in documents], threshold):
        found.setdefault((i, j), similarity)
    pair_names = [f"{a}~{b}" for k, a in enumerate(SPLIT_NAMES) for b in SPLIT_NAMES[k:]]
    repeats: dict[str, dict[str, set[int]]] = {kind: {p: set() for p in pair_names}
                                               for kind in ("exact", "near", "conflicting")}
    samples: dict[str, list[DuplicateMatch]] = {p: [] for p in pair_names}
    for (i, j), similarity in sorted(found.items(), key=lambda item: (keys[item[0][0]] != keys[item[0][1]], item[0])):
        (split_i, index_i, example_i), (split_j, index_j, example_j) = documents[i], documents[j]
        pair = f"{split_i}~{split_j}"
        match = DuplicateMatch(split=split_j, index=index_j, other_split=split_i, other_index=index_i,
                               similarity=similarity, exact=keys[i] == keys[j],
                               labels_differ=example_i.label != example_j.label,
                               text=example_j.text, other_text=example_i.text)
        repeats["exact" if match.exact else "near"][pair].add(j)
        if match.labels_differ:
            repeats["conflicting"][pair].add(j)
        if len(samples[pair]) < samples_per_pair:
            samples[pair].append(match)
    exact = {p: len(repeats["exact"][p]) for p in pair_names}
    near = {p: len(repeats["near"][p] - repeats["exact"][p]) for p in pair_names}
    return DuplicateReport(threshold=threshold, exact=exact, near=near,
                           conflicting={p: len(s) for p, s in repeats["conflicting"].items()},
                           samples={p: s for p, s in samples.items() if s})
