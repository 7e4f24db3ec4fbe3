from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from zero2hero.embeddings import (
    cosine_similarity,
    embed_sentences,
    mean_pooling,
    nearest_neighbours,
    one_hot,
    one_hot_vs_dense,
    pca_2d,
)
from zero2hero.errors import InputError


def test_one_hot_matches_torch_and_costs() -> None:
    ids = [3, 0, 7, 3]
    assert torch.equal(one_hot(ids, 8), torch.nn.functional.one_hot(torch.tensor(ids), 8).float())
    with pytest.raises(InputError):
        one_hot([8], 8)
    cost = one_hot_vs_dense(30522, 384)
    assert cost.one_hot_bytes_per_token == 4 * 30522 and cost.dense_bytes_per_token == 1536
    assert cost.distinct_pair_cosine == 0.0 and cost.one_hot_sparsity > 0.9999


def test_cosine_similarity_matches_torch() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(4, 16), torch.randn(5, 16)
    expected = torch.nn.functional.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)
    assert torch.allclose(cosine_similarity(a, b), expected, atol=1e-6)
    assert cosine_similarity(torch.zeros(1, 3), torch.ones(1, 3)).item() == 0.0
    with pytest.raises(InputError, match="matrices"):
        cosine_similarity(torch.randn(3), torch.randn(3))


def test_nearest_neighbours_excluding_self() -> None:
    keys = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    scores, idx = nearest_neighbours(keys, keys, k=1, exclude_self=True)
    assert idx[:, 0].tolist() == [1, 0, 1]


def test_pca_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6))
    points, ratio = pca_2d(torch.tensor(x, dtype=torch.float32))
    reference = PCA(n_components=2).fit(x)
    theirs = reference.transform(x)
    # Components are defined up to sign: compare absolute coordinates.
    assert np.allclose(np.abs(points.numpy()), np.abs(theirs), atol=1e-3)
    assert np.allclose(ratio.numpy(), reference.explained_variance_ratio_, atol=1e-5)


def test_mean_pooling_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    assert mean_pooling(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_minilm_sentence_embeddings_rank_paraphrases_first(minilm) -> None:
    model, tokenizer = minilm
    sentences = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]
    emb = embed_sentences(sentences, model, tokenizer)
    assert emb.shape == (3, 384) and torch.allclose(emb.norm(dim=1), torch.ones(3))
    sims = cosine_similarity(emb, emb)
    assert sims[0, 1] > sims[0, 2] + 0.2
    # Padding must not change a sentence's embedding: embed alone vs in a batch with a longer one.
    alone = embed_sentences(sentences[:1], model, tokenizer)
    assert torch.allclose(alone, emb[:1], atol=1e-5)
    with pytest.raises(InputError):
        embed_sentences(["ok", " "], model, tokenizer)
