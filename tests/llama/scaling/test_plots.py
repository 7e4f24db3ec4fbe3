"""The figures render from fitted data: one line per IsoFLOP profile, and the fit with its band."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.llama.scaling.test_fit import PARAMS, chinchilla_points, law
from zero2hero.llama.scaling.fit import bootstrap_power_law, isoflop_profiles
from zero2hero.llama.scaling.plots import isoflop_figure, power_law_figure


def test_the_isoflop_figure_draws_every_profile_and_marks_its_optimum(tmp_path: Path) -> None:
    profiles = isoflop_profiles(chinchilla_points(np.geomspace(1e4, 1e6, 7), np.geomspace(1e5, 1e8, 8)))
    figure = isoflop_figure(profiles)
    axes = figure.axes[0]
    assert len(axes.get_legend().get_texts()) == len(profiles)
    for style, inside in ((":", True), ("--", False)):  # dotted at a parabola's minimum, dashed at an edge size
        lines = [line for line in axes.get_lines() if line.get_linestyle() == style]
        expected = sorted(p.optimal_params for p in profiles if p.vertex_inside == inside)
        assert sorted(line.get_xdata()[0] for line in lines) == expected and expected
    figure.savefig(tmp_path / "isoflop.png")
    assert (tmp_path / "isoflop.png").stat().st_size > 10_000


def test_the_power_law_figure_shows_the_points_the_fit_and_its_interval(tmp_path: Path) -> None:
    fit = bootstrap_power_law(PARAMS, law(PARAMS), resamples=20)
    figure = power_law_figure(PARAMS, law(PARAMS), fit, "N", "L(N)")
    texts = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert any(f"{fit.law.exponent:.3f}" in text for text in texts) and len(texts) == 3
