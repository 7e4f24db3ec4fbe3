"""The labs: each chapter's practical exercises as one measured experiment.

A lab is a module ``zero2hero.labs.chNN_<slug>`` that defines

* ``CHAPTER: int`` and ``TITLE: str``;
* ``Config``: a dataclass with at least ``quick: bool = True`` (``quick`` finishes in seconds and is what
  tests and the tour use; ``quick=False`` is the curriculum's experiment at its real size);
* ``run(config: Config, ctx: RunContext) -> LabResult``.

Labs are found by their module names, so a chapter adds its lab by adding its module.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from zero2hero.errors import UnknownNameError

_LAB_MODULE = re.compile(r"^ch(\d\d)_\w+$")


@dataclass(frozen=True)
class LabInfo:
    chapter: int
    slug: str  # e.g. "ch01_text"
    module_name: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module_name)


def available_labs() -> dict[int, LabInfo]:
    """Chapter number -> lab, for every lab module present."""
    labs = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        match = _LAB_MODULE.match(module.name)
        if match:
            chapter = int(match.group(1))
            labs[chapter] = LabInfo(chapter, module.name, f"{__name__}.{module.name}")
    return dict(sorted(labs.items()))


def get_lab(chapter: int) -> LabInfo:
    labs = available_labs()
    if chapter not in labs:
        have = ", ".join(str(c) for c in labs) or "none"
        raise UnknownNameError(f"no lab for chapter {chapter}", f"labs exist for chapters: {have}")
    return labs[chapter]
