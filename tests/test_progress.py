"""The progress callback shape and its bar: drawn on a terminal only."""

from __future__ import annotations

import pytest

from zero2hero import progress


@pytest.mark.parametrize("terminal", [True, False])
def test_step_bar_draws_only_on_a_terminal(monkeypatch, capsys, terminal: bool) -> None:
    monkeypatch.setattr(progress, "on_terminal", lambda: terminal)
    update = progress.step_bar("demo training", value_name="reward")
    for step in (1, 2, 3):
        update(step, 3, 0.25 * step)
    drawn = capsys.readouterr().err
    assert ("demo training" in drawn) is terminal


def test_bar_passes_every_item_through(monkeypatch) -> None:
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    assert list(progress.bar(range(5), "batches")) == [0, 1, 2, 3, 4]
