"""Image–caption sets: the bundled digits made 32×32 RGB, scene sets split by combination, mixing and labels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zero2hero.errors import InputError
from zero2hero.multimodal import data
from zero2hero.multimodal.digits import load_digit_images
from zero2hero.multimodal.scenes import held_out_combinations


def test_digits_are_the_bundled_images_upscaled():
    from sklearn.datasets import load_digits

    images, labels, captions = load_digit_images(32)
    assert images.shape == (1797, 3, 32, 32) and images.min() >= 0.0 and images.max() <= 1.0
    assert torch.equal(images[:, 0], images[:, 2])
    original = torch.tensor(load_digits().images, dtype=torch.float32) / 16.0  # (n, 8, 8)
    shrunk = F.avg_pool2d(images[:, :1], 4).squeeze(1)  # back to 8×8
    assert torch.corrcoef(torch.stack([shrunk.flatten(), original.flatten()]))[0, 1] > 0.9
    assert labels[7].item() == 7 and captions[7] == "a handwritten seven"


def test_scene_sets_hold_out_whole_combinations():
    train, held_out = data.scene_sets(per_combination=2, seed=0)
    assert len(train) == 9 * 4 * 2 and len(held_out) == 3 * 4 * 2
    assert train.images.shape == (72, 3, 32, 32) and train.images.dtype == torch.float32
    pairs = held_out_combinations(0)
    assert all((a["shape"], a["colour"]) not in pairs for a in train.attributes)
    assert all((a["shape"], a["colour"]) in pairs for a in held_out.attributes)
    first = train.attributes[0]
    assert train.captions[0].startswith(f"a {first['colour']} {first['shape']} ")


def test_digit_sets_split_without_overlap_and_mix_concatenates():
    train, test = data.digit_sets(test_fraction=0.2, seed=0)
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert test.attributes[0]["digit"] in test.captions[0]
    scenes, _ = data.scene_sets(1)
    mixed = data.mix(scenes, test)
    assert len(mixed) == len(scenes) + len(test) and mixed.captions[-1] == test.captions[-1]
    assert torch.equal(mixed.images[: len(scenes)], scenes.images)


def test_class_labels_match_prefixes_and_refuse_ambiguity():
    labels = data.class_labels(["a red circle on the left", "a blue square at the top"], data.shape_colour_prompts())
    assert data.shape_colour_prompts()[labels[0]] == "a red circle"
    assert data.shape_colour_prompts()[labels[1]] == "a blue square"
    with pytest.raises(InputError, match="matches 0 class captions"):
        data.class_labels(["a purple star"], data.shape_colour_prompts())


def test_mismatched_set_is_one_clear_line():
    with pytest.raises(InputError, match="2 images, 1 captions") as error:
        data.ImageTextSet(torch.zeros(2, 3, 32, 32), ["a red circle on the left"], [{}])
    assert "\n" not in str(error.value)
