"""The labs: each chapter's practical exercises as one measured experiment.

A lab is the module ``zero2hero.labs.<lab_id>`` named by its chapter in :mod:`zero2hero.chapters`
(e.g. ``ch02_tokenization_embeddings``). It defines

* ``CHAPTER: int`` and ``TITLE: str``;
* ``Config``: a dataclass whose fields are the lab's options, with ``quick: bool = True`` (``quick``
  finishes in seconds and is what tests and the tour use; ``quick=False`` is the curriculum's experiment at
  its real size);
* ``QUICK: dict``: the option values quick mode uses instead of the defaults — the one place where quick
  sizing lives; a value the user passes always wins over it (see :func:`zero2hero.labs.runner.make_config`);
* ``run(config: Config, ctx: RunContext) -> LabResult``: a short list of ``ctx.step(...)`` lines, each
  followed by one helper call that takes inputs and returns a :class:`~zero2hero.reporting.Section`
  (tables, figures, notes, metrics) which ``run`` adds to the result.

The contract is checked for every lab by ``tests/labs/test_contract.py`` and written out in
docs/contracts.md.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType

from zero2hero.chapters import CHAPTERS
from zero2hero.errors import UnknownNameError


@dataclass(frozen=True)
class LabInfo:
    chapter: int
    lab_id: str  # the module's name, e.g. "ch01_text_fundamentals"

    @property
    def module_name(self) -> str:
        return f"{__name__}.{self.lab_id}"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module_name)


def available_labs() -> dict[int, LabInfo]:
    """Chapter number -> lab, for every chapter whose lab module exists (found without importing it)."""
    labs = {}
    for ch in CHAPTERS:
        if importlib.util.find_spec(f"{__name__}.{ch.lab_id}") is not None:
            labs[ch.number] = LabInfo(ch.number, ch.lab_id)
    return labs


def get_lab(chapter: int) -> LabInfo:
    labs = available_labs()
    if chapter not in labs:
        have = ", ".join(str(c) for c in labs) or "none"
        raise UnknownNameError(f"no lab for chapter {chapter}", f"labs exist for chapters: {have}")
    return labs[chapter]
