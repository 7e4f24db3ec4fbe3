"""Zero-shot accuracy and recall@k on a model whose embeddings are set by hand, and the chance levels."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zero2hero.errors import InputError
from zero2hero.multimodal.retrieval import chance_recall, retrieval_recall, zero_shot_accuracy

WORDS = ["a cat", "a dog", "a fox"]


class HandMadeCLIP(nn.Module):
    """Image i's embedding is row i of ``image_rows``; caption w's is the one-hot of its index in WORDS."""

    def __init__(self, image_rows: torch.Tensor) -> None:
        super().__init__()
        self.image_rows = image_rows

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_rows[images[:, 0, 0, 0].long()]

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        return torch.eye(len(WORDS))[[WORDS.index(c) for c in captions]]


def images_numbered(n: int) -> torch.Tensor:
    """n images whose first pixel holds their index (the hand-made model reads it)."""
    images = torch.zeros(n, 3, 32, 32)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.float32)
    return images


def test_recall_counts_any_image_with_the_same_caption():
    # Images 0, 1 show "a cat", image 2 "a dog", image 3 "a fox"; image 1 looks most like a dog, image 3 like a cat
    # then a dog, and image 0 (a cat) is more fox-like than image 3.
    rows = torch.tensor([[1.0, 0.2, 0.4], [0.5, 0.9, 0.0], [0.1, 1.0, 0.0], [0.8, 0.5, 0.3]])
    captions = ["a cat", "a cat", "a dog", "a fox"]
    recall = retrieval_recall(HandMadeCLIP(rows), images_numbered(4), captions, ks=(1, 2))
    # image → text @1: images 0 and 2 rank their own caption first; @2: image 1 (cat second) too, image 3 not.
    assert recall["image_to_text@1"] == pytest.approx(2 / 4) and recall["image_to_text@2"] == pytest.approx(3 / 4)
    # text → image @1: "a cat" → image 0 (a hit), "a dog" → image 2 (a hit), "a fox" → image 0 (a miss); @2: "a fox"
    # → images 0 and 3, a hit: any image whose caption is "a fox" counts.
    assert recall["text_to_image@1"] == pytest.approx(2 / 3) and recall["text_to_image@2"] == pytest.approx(1.0)
    accuracy = zero_shot_accuracy(HandMadeCLIP(rows), images_numbered(4), WORDS, torch.tensor([0, 0, 1, 2]))
    assert accuracy == pytest.approx(2 / 4)


def test_chance_recall_by_hand_and_by_simulation():
    captions = ["a cat", "a cat", "a dog"]
    chance = chance_recall(captions, ks=(1,))
    # image → text: 1 of 2 distinct captions; text → image: "a cat" 2/3 of first picks, "a dog" 1/3; mean 1/2.
    assert chance == pytest.approx({"image_to_text@1": 0.5, "text_to_image@1": 0.5})
    torch.manual_seed(0)
    captions = ["a cat"] * 5 + ["a dog"] * 2 + ["a fox"] * 3
    trials = [retrieval_recall(HandMadeCLIP(torch.randn(10, 3)), images_numbered(10), captions, ks=(1, 2))
              for _ in range(400)]
    expected = chance_recall(captions, ks=(1, 2))
    for key, value in expected.items():
        assert sum(t[key] for t in trials) / len(trials) == pytest.approx(value, abs=0.05), key


def test_mismatched_lengths_are_one_clear_line():
    with pytest.raises(InputError, match="2 images and 1 captions"):
        retrieval_recall(HandMadeCLIP(torch.eye(3)), images_numbered(2), ["a cat"])
