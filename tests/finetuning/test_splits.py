from __future__ import annotations

import random
from collections import Counter
from itertools import combinations

import pytest

from zero2hero.errors import InputError
from zero2hero.finetuning.data import Example, LabelledData, LabelledSplits
from zero2hero.finetuning.splits import (
    find_duplicates,
    jaccard,
    make_splits,
    similar_pairs,
    stratified_split,
    word_shingles,
)
from zero2hero.units import naming_problem

LONG_REVIEW = ("I bought these oat crackers for my kids and they finished the whole box in two days, "
               "the texture is crunchy and the taste is mild but never bland, we will order them again next month")


def _examples(counts: dict[int, int]) -> list[Example]:
    return [Example(f"review {label}-{i}", label) for label, n in counts.items() for i in range(n)]


@pytest.mark.parametrize("counts", [{0: 2600, 1: 1400}, {0: 7, 1: 3}, {0: 50, 1: 30, 2: 19}])
@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_split_keeps_class_shares_and_loses_nothing(counts: dict[int, int], share: float, seed: int) -> None:
    examples = _examples(counts)
    random.Random(seed).shuffle(examples)
    train, validation = stratified_split(examples, share, seed)
    in_train, in_validation = set(train), set(validation)
    assert not in_train & in_validation and len(train) + len(validation) == len(examples)
    assert train == [e for e in examples if e in in_train]  # nothing lost, the input order kept
    assert validation == [e for e in examples if e in in_validation]
    per_class = Counter(e.label for e in validation)
    for label, n in counts.items():
        assert abs(per_class[label] - share * n) <= 1  # within one example of the ideal share


def test_stratified_split_is_deterministic_per_seed() -> None:
    examples = _examples({0: 40, 1: 20})
    assert stratified_split(examples, 0.2, seed=3) == stratified_split(examples, 0.2, seed=3)
    assert stratified_split(examples, 0.2, seed=3)[1] != stratified_split(examples, 0.2, seed=4)[1]


def test_stratified_split_refuses_bad_shares() -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        stratified_split(_examples({0: 5, 1: 5}), 1.0)
    with pytest.raises(InputError, match="leaves 2 for training and 0 for validation"):
        stratified_split(_examples({0: 1, 1: 1}), 0.1)


def test_make_splits_leaves_the_test_set_untouched() -> None:
    test = [Example("held out", 1), Example("also held out", 0)]
    splits = make_splits(LabelledData(train=_examples({0: 30, 1: 10}), test=test, label_names=["a", "b"]), 0.25)
    assert splits.test == test and splits.label_names == ["a", "b"]
    assert (len(splits.train), len(splits.validation)) == (30, 10)


def test_word_shingles_and_jaccard() -> None:
    assert word_shingles("The cat sat, the CAT sat!") == {("the", "cat", "sat"), ("cat", "sat", "the"),
                                                          ("sat", "the", "cat")}
    assert word_shingles("too short") == {("too", "short")}
    assert word_shingles("  ...  ") == frozenset()
    assert jaccard(frozenset("abc"), frozenset("bcd")) == pytest.approx(2 / 4)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.8, 1.0])
def test_similar_pairs_equals_comparing_every_pair(threshold: float) -> None:
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(8)]  # a small vocabulary: many shingles are shared by chance
    base = [[rng.choice(vocabulary) for _ in range(rng.randint(2, 25))] for _ in range(40)]
    variants = [[w if rng.random() > 0.1 else "changed" for w in words] for words in base]
    texts = base + variants  # pairs at every level of similarity
    sets = [word_shingles(" ".join(words)) for words in texts]
    expected = {(i, j) for i, j in combinations(range(len(sets)), 2)
                if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= threshold}
    assert len(expected) > 5
    assert {(i, j) for i, j, _ in similar_pairs(sets, threshold)} == expected


def test_find_duplicates_counts_exact_near_and_conflicting_repeats() -> None:
    splits = LabelledSplits(
        train=[Example(LONG_REVIEW, 0), Example("Great coffee.", 0), Example("great   COFFEE.", 0),
               Example("Terrible service, cold food.", 1)],
        validation=[Example("Nothing in common with the rest.", 1)],
        test=[Example(LONG_REVIEW.replace("next month", "next week"), 0), Example("Great coffee.", 1),
              Example("A completely different review of tea.", 0)],
        label_names=["great", "other"],
    )
    report = find_duplicates(splits)
    assert report.exact["train~train"] == 1  # "great   COFFEE." repeats "Great coffee."
    assert report.exact["train~test"] == 1 and report.near["train~test"] == 1
    assert report.conflicting["train~test"] == 1  # the copy of "Great coffee." in test is labelled other
    assert sum(report.exact.values()) == 2 and sum(report.near.values()) == 1
    assert report.exact["validation~test"] == report.near["train~validation"] == 0
    near = next(m for m in report.samples["train~test"] if not m.exact)
    assert (near.split, near.index, near.other_split, near.other_index) == ("test", 0, "train", 0)
    assert 0.8 <= near.similarity < 1
    assert report.samples["train~test"][0].exact  # exact matches are shown first
    assert all(naming_problem(name) == "" for name in report.figures())
    assert report.figures()["train_test_near_duplicates_count"] == 1


def test_find_duplicates_finds_nothing_in_distinct_texts() -> None:
    texts = ["the tea is fine", "coffee beans arrived stale", "my dog loves these treats", "too salty for me"]
    splits = LabelledSplits(train=[Example(t, i % 2) for i, t in enumerate(texts)], validation=[], test=[],
                            label_names=["a", "b"])
    report = find_duplicates(splits)
    assert sum(report.exact.values()) == sum(report.near.values()) == 0 and report.samples == {}
