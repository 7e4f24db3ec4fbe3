"""Real images that ship offline: scikit-learn's bundled handwritten digits (UCI "Optical Recognition of
Handwritten Digits", 1,797 images of 8 × 8 pixels with 17 grey levels, no download), made into CLIP inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_caption(label: int) -> str:
    """The caption of a digit image, e.g. "a handwritten seven"."""
    return f"a handwritten {DIGIT_WORDS[label]}"


def load_digit_images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All 1,797 digits: images (n, 3, size, size) in [0, 1] (bright ink on black, like the scenes' bright shapes on
    a dark background; bilinear upscaling, grey copied to 3 channels), labels (n,) and captions."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (n, 1, 8, 8), 0..16 -> 0..1
    images = F.interpolate(grey, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    labels = torch.tensor(digits.target, dtype=torch.long)
    return images.expand(-1, 3, -1, -1).contiguous(), labels, [digit_caption(int(y)) for y in labels]
