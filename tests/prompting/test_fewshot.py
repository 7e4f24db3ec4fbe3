"""Shot selection: random draws are fixed per seed and shared by all items, balanced draws have equal label counts
interleaved, nearest equals a brute-force cosine ranking of MiniLM embeddings (nearest last), and orderings are
distinct permutations."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.prompting.fewshot import ShotSelector, orderings
from zero2hero.prompting.promptset import Item, PromptSet, Shot

POOL_TEXTS = {
    "great": ["The coffee is rich and smooth, my favourite morning cup.", "These dog treats are a hit with my puppy.",
              "Delicious dark chocolate, not too sweet.", "Perfect green tea, fresh and fragrant.",
              "Crunchy granola with lots of nuts, love it."],
    "other": ["The crackers arrived stale and broken.", "Far too salty, I threw the bag away.",
              "My cat refused to eat this food.", "The tea tasted of dust and plastic.",
              "Chocolate melted in shipping, a sticky mess.", "Overpriced coffee with a burnt taste."],
}
ITEMS = [Item("coffee", {"review": "A bitter, burnt coffee that I would not buy again."}, "other"),
         Item("dog", {"review": "My dog goes crazy for these chewy treats."}, "great")]


def sentiment_set(kind: str = "label") -> PromptSet:
    pool = [Shot({"review": text}, label) for label, texts in POOL_TEXTS.items() for text in texts]
    return PromptSet(name="mini", kind=kind, description="", system=None, templates={"plain": "Review: {review}"},
                     items=ITEMS, pool=pool, labels=["great", "other"] if kind == "label" else [])


def test_random_is_fixed_per_seed_the_same_for_every_item_and_nested():
    ps = sentiment_set()
    selector = ShotSelector(ps, "random", seed=3)
    four = selector.select(ITEMS[0], 4)
    assert four == selector.select(ITEMS[1], 4) == ShotSelector(ps, "random", seed=3).select(ITEMS[0], 4)
    assert selector.select(ITEMS[0], 2) == four[:2]  # more shots only add examples
    assert len({id(s) for s in four}) == 4 and all(s in ps.pool for s in four)
    draws = {tuple(ps.pool.index(s) for s in ShotSelector(ps, "random", seed=seed).select(ITEMS[0], 4))
             for seed in range(5)}
    assert len(draws) > 1  # the seed matters
    assert sorted(map(ps.pool.index, selector.select(ITEMS[0], len(ps.pool)))) == list(range(len(ps.pool)))
    assert selector.select(ITEMS[0], 0) == []


@pytest.mark.parametrize("k", [2, 4, 8, 10])
def test_balanced_has_equal_label_counts_interleaved(k):
    selector = ShotSelector(sentiment_set(), "balanced", seed=1)
    shots = selector.select(ITEMS[0], k)
    assert Counter(s.answer for s in shots) == {"great": k // 2, "other": k // 2}
    assert [s.answer for s in shots] == ["great", "other"] * (k // 2)
    assert len(set(map(id, shots))) == k
    again = ShotSelector(sentiment_set(), "balanced", seed=1)
    assert shots == selector.select(ITEMS[1], k) == again.select(ITEMS[1], k)


def test_balanced_refuses_what_cannot_be_balanced():
    with pytest.raises(InputError, match="cannot be split equally among 2 labels"):
        ShotSelector(sentiment_set(), "balanced").select(ITEMS[0], 3)
    ps = sentiment_set()
    ps.pool = ps.pool + [Shot({"review": "Another bad one."}, "other")]  # 5 great, 7 other
    with pytest.raises(InputError, match="need 6 per label; the pool has fewer of great"):
        ShotSelector(ps, "balanced").select(ITEMS[0], 12)
    with pytest.raises(InputError, match="need labels"):
        ShotSelector(sentiment_set(kind="number"), "balanced")


def test_errors_name_the_problem():
    with pytest.raises(UnknownNameError, match="unknown shot selection strategy 'best'"):
        ShotSelector(sentiment_set(), "best")
    with pytest.raises(InputError, match="asked for 12 shots, the pool of 'mini' has 11"):
        ShotSelector(sentiment_set(), "random").select(ITEMS[0], 12)
    empty = sentiment_set()
    empty.pool = []
    with pytest.raises(InputError, match="no pool"):
        ShotSelector(empty, "random")


def test_nearest_equals_a_brute_force_cosine_ranking(minilm):
    from sklearn.metrics.pairwise import cosine_similarity

    from zero2hero.embeddings.sentence import embed_sentences

    ps = sentiment_set()
    selector = ShotSelector(ps, "nearest", encoder=minilm)
    model, tokenizer = minilm
    pool = embed_sentences([s.variables["review"] for s in ps.pool], model, tokenizer, normalize=False).numpy()
    for item in ITEMS:
        query = embed_sentences([item.variables["review"]], model, tokenizer, normalize=False).numpy()
        similarity = cosine_similarity(query, pool)[0]
        expected = [ps.pool[i] for i in similarity.argsort()[::-1][:3]]  # most similar first
        assert selector.select(item, 3) == expected[::-1]  # ... and placed last
    assert "coffee" in selector.select(ITEMS[0], 1)[0].variables["review"]
    assert "dog" in selector.select(ITEMS[1], 1)[0].variables["review"]


def test_nearest_needs_the_text_variable(minilm):
    selector = ShotSelector(sentiment_set(), "nearest", text_variable="review", encoder=minilm)
    with pytest.raises(InputError, match="no variable 'review'"):
        selector.select(Item("x", {"text": "Nice."}, "great"), 2)


@pytest.mark.parametrize(("k", "n", "expected"), [(3, 10, 6), (3, 4, 4), (4, 5, 5), (1, 3, 1), (0, 2, 1)])
def test_orderings_are_distinct_permutations(k, n, expected):
    shots = sentiment_set().pool[:k]
    result = orderings(shots, n, seed=7)
    assert len(result) == expected == min(n, math.factorial(k))
    assert len({tuple(map(id, order)) for order in result}) == expected
    assert all(sorted(map(id, order)) == sorted(map(id, shots)) for order in result)
    assert result[0] == shots  # the given order first
    assert result == orderings(shots, n, seed=7)


def test_orderings_refuse_zero():
    with pytest.raises(InputError, match="at least 1"):
        orderings(sentiment_set().pool[:3], 0)
