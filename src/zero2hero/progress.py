"""Progress of a long loop: one callback shape for every training loop, and a bar that draws it on a terminal.

Every training loop of zero2hero that takes a ``progress`` argument calls it after each step as
``progress(step, total_steps, value)``, with ``value`` the step's loss (or, for RL, its mean reward). A test passes a
list's ``append``-like function; a lab passes :func:`step_bar`, which draws a tqdm bar when the output is a terminal
and stays silent in logs and files.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

from tqdm.auto import tqdm

StepProgress = Callable[[int, int, float], None]
Item = TypeVar("Item")


def on_terminal() -> bool:
    """True when stderr is a terminal (where a bar can redraw itself), False in a log file or a captured test."""
    return sys.stderr.isatty()


def step_bar(description: str, value_name: str = "loss") -> StepProgress:
    """A :data:`StepProgress` drawing a bar named ``description`` with the last value (e.g. ``loss 2.31``) beside it.

    The bar opens at the first call and closes itself after the last step, leaving no line behind.
    """
    opened: list[tqdm] = []  # the bar, once the first step has told its total

    def update(step: int, total: int, value: float) -> None:
        if not opened:
            opened.append(tqdm(total=total, desc=description, unit="step", leave=False, disable=not on_terminal()))
        line = opened[0]
        line.update(step - line.n)
        line.set_postfix_str(f"{value_name} {value:.4f}", refresh=False)
        if step >= total:
            line.close()

    return update


def bar(items: Iterable[Item], description: str, total: int | None = None, unit: str = "batch") -> Iterable[Item]:
    """``items`` with a bar on a terminal (none in a log): for loops that are not training, e.g. generation."""
    return tqdm(items, desc=description, total=total, unit=unit, leave=False, disable=not on_terminal())
