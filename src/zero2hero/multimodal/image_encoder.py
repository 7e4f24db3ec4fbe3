"""CLIP's image side: a small CNN from 32 × 32 RGB images to one embedding each, and the input check every image
path of the multimodal package goes through."""

from __future__ import annotations

import torch
from torch import nn

from zero2hero.errors import InputError

IMAGE_SHAPE = (3, 32, 32)  # channels, height, width


def check_images(images: torch.Tensor) -> None:
    """Raise :class:`InputError` (one line: expected vs got) unless ``images`` is a float (batch, 3, 32, 32) tensor."""
    expected = "(batch, " + ", ".join(map(str, IMAGE_SHAPE)) + ") float in [0, 1]"
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a tensor {expected}, got {type(images).__name__}",
                         "stack the images into one torch tensor")
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE or not images.is_floating_point():
        raise InputError(f"images of shape {tuple(images.shape)} ({images.dtype}), expected {expected}",
                         "resize to 32 × 32 RGB and scale to [0, 1], as zero2hero.multimodal.data does")


class ImageEncoder(nn.Module):
    """Three conv blocks (3×3 convolution, batch norm, ReLU, 2×2 max-pool): 32×32 → 16×16 → 8×8 → 4×4, then the 4×4
    feature map flattened (it keeps *where* things are: left/right/top/bottom) and projected to ``dim``."""

    def __init__(self, dim: int = 64, channels: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = IMAGE_SHAPE[0]
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            previous = width
        self.convolutions = nn.Sequential(*layers)
        side = IMAGE_SHAPE[1] // 2 ** len(channels)
        self.projection = nn.Linear(previous * side * side, dim)
        self.dim = dim

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """images (b, 3, 32, 32) -> the last conv block's features (b, channels, 4, 4)."""
        check_images(images)
        return self.convolutions(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (b, 3, 32, 32) in [0, 1] -> embeddings (b, dim), not normalised."""
        return self.projection(self.feature_map(images).flatten(1))
