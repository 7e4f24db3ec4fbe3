"""Synthetic scenes: captions follow the attributes, pixels follow the scene (colour, place, shape) and the seed,
and the held-out (shape, colour) pairs leave every attribute seen in training."""

from __future__ import annotations

import numpy as np
import pytest

from zero2hero.errors import InputError
from zero2hero.multimodal.scenes import COLOURS, SHAPES, Scene, all_scenes, held_out_combinations, render


def shape_pixels(image: np.ndarray) -> np.ndarray:
    """(size, size) True where the shape is: brighter than the dark background in some channel."""
    return image.max(axis=2) > 120


def test_captions_name_every_attribute():
    assert Scene("circle", "red", "left").caption() == "a red circle on the left"
    assert Scene("square", "blue", "top").caption() == "a blue square at the top"
    assert Scene("triangle", "yellow", "bottom").caption() == "a yellow triangle at the bottom"
    assert len({s.caption() for s in all_scenes()}) == 48


def test_unknown_attribute_is_one_clear_line():
    with pytest.raises(InputError, match="unknown colour 'purple'") as error:
        Scene("circle", "purple", "left")
    assert "\n" not in str(error.value)


def test_render_is_deterministic_per_seed_and_jittered_across_seeds():
    scene = Scene("square", "green", "right")
    first = render(scene, 32, seed=3)
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    assert np.array_equal(first, render(scene, 32, seed=3))
    assert not np.array_equal(first, render(scene, 32, seed=4))


@pytest.mark.parametrize("colour", COLOURS)
def test_the_shape_has_its_colour(colour):
    image = render(Scene("circle", colour, "left"), 32, seed=0).astype(float)
    mean = image[shape_pixels(image.astype(np.uint8))].mean(axis=0)  # (3,) mean RGB of the shape
    red, green, blue = mean
    expected = {"red": red > 2 * max(green, blue), "green": green > 2 * max(red, blue),
                "blue": blue > 2 * max(red, green), "yellow": min(red, green) > 2 * blue}
    assert expected[colour], mean


@pytest.mark.parametrize("position", ["left", "right", "top", "bottom"])
def test_the_shape_is_where_the_caption_says(position):
    for seed in range(5):
        rows, columns = np.nonzero(shape_pixels(render(Scene("triangle", "red", position), 32, seed)))
        x, y = columns.mean() / 32, rows.mean() / 32
        middle_x, middle_y = abs(x - 0.5) < 0.15, abs(y - 0.5) < 0.15
        inside = {"left": x < 0.4 and middle_y, "right": x > 0.6 and middle_y, "top": y < 0.4 and middle_x,
                  "bottom": y > 0.6 and middle_x}
        assert inside[position] and sum(inside.values()) == 1, (x, y)


def test_shapes_fill_their_bounding_box_differently():
    fill = {}
    for shape in SHAPES:
        mask = shape_pixels(render(Scene(shape, "yellow", "top"), 96, seed=1))
        rows, columns = np.nonzero(mask)
        box = (np.ptp(rows) + 1) * (np.ptp(columns) + 1)
        fill[shape] = mask.sum() / box
    assert fill["square"] > 0.9 and 0.7 < fill["circle"] < 0.85 and 0.4 < fill["triangle"] < 0.6, fill


def test_held_out_pairs_keep_every_attribute_in_training():
    held_out = held_out_combinations(seed=0)
    assert held_out == held_out_combinations(seed=0) and len(held_out) == 3
    assert {s for s, _ in held_out} == set(SHAPES) and len({c for _, c in held_out}) == 3
    seen = {(s, c) for s in SHAPES for c in COLOURS} - held_out
    assert {s for s, _ in seen} == set(SHAPES) and {c for _, c in seen} == set(COLOURS)


def test_too_small_an_image_is_one_clear_line():
    with pytest.raises(InputError, match="image size 4 is too small"):
        render(Scene("circle", "red", "left"), size=4)
