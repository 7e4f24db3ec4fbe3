"""Image–caption sets for CLIP and the captioner: rendered scenes split by (shape, colour) combination, handwritten
digits split at random, and a way to mix them into one training set."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from zero2hero.errors import InputError
from zero2hero.multimodal.digits import DIGIT_WORDS, load_digit_images
from zero2hero.multimodal.scenes import COLOURS, SHAPES, Scene, all_scenes, held_out_combinations, render

IMAGE_SIZE = 32  # every image the encoders see is IMAGE_SIZE × IMAGE_SIZE RGB


@dataclass
class ImageTextSet:
    images: torch.Tensor  # (n, 3, 32, 32) float in [0, 1]
    captions: list[str]
    attributes: list[dict[str, str]]  # scenes: shape, colour, position; digits: digit

    def __post_init__(self) -> None:
        if not len(self.images) == len(self.captions) == len(self.attributes):
            raise InputError(f"{len(self.images)} images, {len(self.captions)} captions and {len(self.attributes)}"
                             " attribute sets", "give one caption and one attribute set per image")

    def __len__(self) -> int:
        return len(self.captions)


def scene_set(scenes: Iterable[Scene], per_scene: int, seed: int = 0) -> ImageTextSet:
    """``per_scene`` rendered images of every scene; image k of scene i is drawn with its own jitter seed."""
    scenes = list(scenes)
    if per_scene < 1 or not scenes:
        raise InputError(f"{per_scene} images of {len(scenes)} scenes is an empty set",
                         "ask for at least one image of at least one scene")
    index = {scene: i for i, scene in enumerate(all_scenes())}
    pixels, captions, attributes = [], [], []
    for scene in scenes:
        for k in range(per_scene):
            pixels.append(render(scene, IMAGE_SIZE, seed=(seed * len(index) + index[scene]) * 100_003 + k))
            captions.append(scene.caption())
            attributes.append(scene.attributes())
    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 255.0  # (n, 3, size, size)
    return ImageTextSet(images, captions, attributes)


def scene_sets(per_combination: int, seed: int = 0) -> tuple[ImageTextSet, ImageTextSet]:
    """(train, held-out): every position of the nine seen (shape, colour) pairs, and of the three held-out ones.

    ``per_combination`` images per (shape, colour, position) scene. For held-out images of *seen* combinations,
    call :func:`scene_set` on the seen scenes with another seed.
    """
    held_out = held_out_combinations(seed)
    unseen = [s for s in all_scenes() if (s.shape, s.colour) in held_out]
    return scene_set(seen_scenes(seed), per_combination, seed), scene_set(unseen, per_combination, seed)


def seen_scenes(seed: int = 0) -> list[Scene]:
    """The 36 scenes whose (shape, colour) pair is trained on."""
    held_out = held_out_combinations(seed)
    return [s for s in all_scenes() if (s.shape, s.colour) not in held_out]


def digit_sets(test_fraction: float = 0.2, seed: int = 0) -> tuple[ImageTextSet, ImageTextSet]:
    """(train, test): the 1,797 handwritten digits shuffled by ``seed`` and split; attributes ``{"digit": word}``."""
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test fraction {test_fraction} is not between 0 and 1", "use e.g. 0.2")
    images, labels, captions = load_digit_images(IMAGE_SIZE)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(labels) * test_fraction)

    def subset(rows: torch.Tensor) -> ImageTextSet:
        return ImageTextSet(images[rows], [captions[i] for i in rows.tolist()],
                            [{"digit": DIGIT_WORDS[int(labels[i])]} for i in rows.tolist()])

    return subset(order[n_test:]), subset(order[:n_test])


def mix(*sets: ImageTextSet) -> ImageTextSet:
    """One set holding every image of ``sets`` (e.g. scenes and digits for CLIP's training)."""
    return ImageTextSet(torch.cat([s.images for s in sets]), [c for s in sets for c in s.captions],
                        [a for s in sets for a in s.attributes])


def class_labels(captions: list[str], class_captions: list[str]) -> torch.Tensor:
    """The index in ``class_captions`` of each caption (n,), for :func:`zero_shot_accuracy` (a class caption may be a
    prefix of the caption: "a red circle" is the class of "a red circle on the left")."""
    labels = []
    for caption in captions:
        matches = [i for i, c in enumerate(class_captions) if caption == c or caption.startswith(c + " ")]
        if len(matches) != 1:
            raise InputError(f"caption {caption!r} matches {len(matches)} class captions",
                             "give class captions such that each caption matches exactly one")
        labels.append(matches[0])
    return torch.tensor(labels, dtype=torch.long)


def shape_colour_prompts() -> list[str]:
    """The twelve prompts "a <colour> <shape>" (zero-shot classes without the position)."""
    return [f"a {c} {s}" for s in SHAPES for c in COLOURS]


def digit_prompts() -> list[str]:
    """The ten prompts "a handwritten <digit>"."""
    return [f"a handwritten {w}" for w in DIGIT_WORDS]

