"""The layout's one-way rules (DESIGN.md): a chapter's package may import an earlier chapter's package, never a later
one's, and no chapter package imports the layers that compose them (labs, benchmarks, exercise checks, the CLI).

Imports are read from the source with ``ast``, wherever they are: at the top, inside functions, under
``TYPE_CHECKING``. The registry :data:`zero2hero.chapters.CHAPTERS` says which package belongs to which chapter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import zero2hero
from zero2hero.chapters import CHAPTERS

SOURCE = Path(zero2hero.__file__).parent
CHAPTER_OF = {package: chapter.number for chapter in CHAPTERS for package in chapter.packages}
WRITTEN = sorted(package for package in CHAPTER_OF if (SOURCE / package / "__init__.py").is_file())
COMPOSING = ("labs", "bench", "checks", "cli")  # built on the chapter packages, so never imported by them


def imported_packages(source: str, module: str) -> set[str]:
    """The ``zero2hero.<name>`` packages (or top-level modules) that the code ``source`` of the dotted module
    ``module`` (e.g. ``zero2hero.lora.inject``) imports, anywhere in it, relative imports resolved."""
    here = module.split(".")[:-1]  # the module's package: what `from . import x` starts from
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            start = ".".join(here[:len(here) - node.level + 1] if node.level else [])
            base = ".".join(part for part in (start, node.module or "") if part)
            names = [f"{base}.{alias.name}" for alias in node.names] if base == "zero2hero" else [base]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("zero2hero.")}
    return found


def package_imports(package: str) -> dict[str, set[str]]:
    """For each module of ``zero2hero.<package>`` (its path relative to the source root), what it imports."""
    imports = {}
    for path in sorted((SOURCE / package).rglob("*.py")):
        relative = path.relative_to(SOURCE.parent)
        module = ".".join(relative.with_suffix("").parts)
        if path.name == "__init__.py":
            module = f"{module}.__init__"  # its package is the folder itself
        imports[str(relative)] = imported_packages(path.read_text(encoding="utf-8"), module)
    return imports


def test_the_rules_read_the_package_of_every_written_chapter() -> None:
    """Else the rules below would pass for a package they never read: every chapter with a course folder has its
    packages in the source (chapters 1 to 6 at least), each in the registry under its chapter."""
    course = SOURCE.parents[1] / "course"
    written_chapters = [chapter for chapter in CHAPTERS if (course / chapter.folder_name).is_dir()]
    assert len(written_chapters) >= 5
    for chapter in written_chapters:
        assert set(chapter.packages) <= set(WRITTEN), f"chapter {chapter.number}'s packages are not all in {SOURCE}"
    assert CHAPTER_OF["finetuning"] == 5 and CHAPTER_OF["lora"] == 6 and "lora" in WRITTEN


@pytest.mark.parametrize("package", WRITTEN)
def test_a_chapter_package_imports_no_later_chapter(package: str) -> None:
    later = [f"{module} imports zero2hero.{name} (chapter {CHAPTER_OF[name]})"
             for module, names in package_imports(package).items() for name in sorted(names)
             if CHAPTER_OF.get(name, 0) > CHAPTER_OF[package]]
    assert not later, f"chapter {CHAPTER_OF[package]}'s {package} depends on a later chapter: " + "; ".join(later)


@pytest.mark.parametrize("package", WRITTEN)
def test_a_chapter_package_imports_no_lab_benchmark_check_or_cli(package: str) -> None:
    upward = [f"{module} imports zero2hero.{name}" for module, names in package_imports(package).items()
              for name in sorted(names) if name in COMPOSING]
    assert not upward, "; ".join(upward)


def test_imports_are_found_wherever_they_are() -> None:
    source = '''
from typing import TYPE_CHECKING
import zero2hero.text.clean
from zero2hero.errors import InputError
from zero2hero import transformer, files as f
from . import layer
from .. import quantization
from ..lora import inject
if TYPE_CHECKING:
    from zero2hero.tokenization.bpe import Merges

def later():
    import torch
    from zero2hero.finetuning.loop import train
'''
    assert imported_packages(source, "zero2hero.embeddings.vectors") == {
        "text", "errors", "transformer", "files", "embeddings", "quantization", "lora", "tokenization", "finetuning"}
    assert imported_packages("from . import layer", "zero2hero.lora.__init__") == {"lora"}
