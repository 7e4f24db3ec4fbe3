"""Measuring a CLIP: zero-shot classification and image↔text retrieval recall@k, with the chance levels.

Several images share a caption (every image of "a red circle on the left"), so recall is defined on *captions*:
image → text ranks the distinct captions and counts a hit when the image's own caption is among the top k;
text → image ranks all images for each distinct caption and counts a hit when any of the top k images has that
caption. Both are averaged over their queries (images, distinct captions).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from zero2hero.errors import InputError
from zero2hero.multimodal.clip import TinyCLIP

EVAL_BATCH = 256  # images encoded at once


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block; the model's previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def similarities(model: TinyCLIP, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Cosine similarities (n_images, n_captions) between every image and every caption."""
    with evaluating(model):
        image_rows = torch.cat([model.encode_images(images[i:i + EVAL_BATCH]) for i in range(0, len(images),
                                                                                             EVAL_BATCH)])
        return F.normalize(image_rows, dim=-1) @ F.normalize(model.encode_texts(captions), dim=-1).T


def zero_shot_accuracy(model: TinyCLIP, images: torch.Tensor, class_captions: list[str],
                       labels: torch.Tensor) -> float:
    """The share of images (n, 3, 32, 32) whose most similar class caption is ``class_captions[labels[i]]``."""
    if len(images) != len(labels) or len(images) == 0:
        raise InputError(f"{len(images)} images and {len(labels)} labels", "give one label per image, at least one")
    predicted = similarities(model, images, class_captions).argmax(dim=1)
    return (predicted == labels).float().mean().item()


def retrieval_recall(model: TinyCLIP, images: torch.Tensor, captions: list[str],
                     ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"image_to_text@k": ..., "text_to_image@k": ...}`` for every k: recall on captions (module docstring)."""
    if len(images) != len(captions) or len(images) == 0:
        raise InputError(f"{len(images)} images and {len(captions)} captions", "give one caption per image")
    distinct = sorted(set(captions))
    own = torch.tensor([distinct.index(c) for c in captions])  # (n,) each image's caption among the distinct ones
    scores = similarities(model, images, distinct)  # (n_images, n_distinct)
    result = {}
    for k in ks:
        top_texts = scores.topk(min(k, len(distinct)), dim=1).indices  # (n_images, k)
        result[f"image_to_text@{k}"] = (top_texts == own[:, None]).any(1).float().mean().item()
        top_images = scores.topk(min(k, len(images)), dim=0).indices  # (k, n_distinct)
        result[f"text_to_image@{k}"] = (own[top_images] == torch.arange(len(distinct))).any(0).float().mean().item()
    return result


def chance_recall(captions: list[str], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """The expected :func:`retrieval_recall` of a random ranking, same keys: k / distinct captions for image → text;
    for text → image, 1 − C(n − m, k) / C(n, k) for a caption shown by m of the n images, averaged over captions."""
    n, distinct = len(captions), sorted(set(captions))
    result = {}
    for k in ks:
        result[f"image_to_text@{k}"] = min(k, len(distinct)) / len(distinct)
        misses = [math.comb(n - captions.count(c), k) / math.comb(n, k) for c in distinct]
        result[f"text_to_image@{k}"] = 1.0 - sum(misses) / len(distinct)
    return result
