"""Exercise checks: the same tests run against a learner's ``exercises.py`` and the reference library.

Layout, per chapter NN:

* ``course/NN-<slug>/exercises.py`` — the stubs a learner fills in; each has the reference function's
  signature and docstring and a body that raises ``NotImplementedError``;
* ``tests/exercises/test_chNN_exercises.py`` — the checks. The module defines ``CHAPTER = NN`` and
  ``REFERENCE = {"function_name": "zero2hero.module", ...}``, and uses the ``ex`` fixture, which is the
  learner's module (``--exercises=stub`` or a path) or the reference functions (``--exercises=solution``).

CI runs the checks on the reference, and asserts that each of them fails on the untouched stubs.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

from zero2hero.errors import UnknownNameError, Zero2HeroError


def repo_root() -> Path:
    """The zero2hero checkout (the folder holding ``course/`` and ``tests/exercises/``)."""
    candidates = [Path(__file__).resolve().parents[3], Path.cwd(), *Path.cwd().parents]
    for folder in candidates:
        if (folder / "course").is_dir() and (folder / "tests" / "exercises").is_dir():
            return folder
    raise Zero2HeroError("cannot find the zero2hero course folder",
                         "run `z2h check` from inside your clone of the zero2hero repository")


def chapter_folder(chapter: int) -> Path:
    """``course/NN-<slug>/`` of a chapter, named by the chapter registry."""
    from zero2hero.chapters import CHAPTERS

    folder = next((repo_root() / "course" / ch.folder_name for ch in CHAPTERS if ch.number == chapter), None)
    if folder is None or not folder.is_dir():
        raise UnknownNameError(f"no course folder for chapter {chapter}", "see `z2h list` for the chapters")
    return folder


def chapters_with_exercises() -> list[int]:
    tests = repo_root() / "tests" / "exercises"
    return sorted(int(p.stem[len("test_ch"):][:2]) for p in tests.glob("test_ch[0-9][0-9]_exercises.py"))


def stub_path(chapter: int) -> Path:
    path = chapter_folder(chapter) / "exercises.py"
    if not path.exists():
        raise UnknownNameError(f"chapter {chapter} has no exercises.py", "see `z2h list` for what each chapter has")
    return path


def check_file(chapter: int) -> Path:
    path = repo_root() / "tests" / "exercises" / f"test_ch{chapter:02d}_exercises.py"
    if not path.exists():
        have = ", ".join(map(str, chapters_with_exercises())) or "none"
        raise UnknownNameError(f"no exercise checks for chapter {chapter}", f"chapters with exercises: {have}")
    return path


def load_learner_module(path: Path) -> ModuleType:
    """Import a learner's exercises.py from its path (a syntax error is reported, not raised raw)."""
    spec = importlib.util.spec_from_file_location(f"z2h_exercises_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass defined in the file looks its module up there
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        del sys.modules[spec.name]
        raise Zero2HeroError(f"{path}:{err.lineno}: syntax error: {err.msg}",
                             "fix the line and run the check again") from None
    return module


def reference_namespace(reference: dict[str, str]) -> SimpleNamespace:
    """The reference implementations named in a check module's ``REFERENCE`` mapping."""
    return SimpleNamespace(**{name: getattr(importlib.import_module(module), name)
                              for name, module in reference.items()})


def is_untouched_stub(path: Path) -> bool:
    """True when every function in the file is a docstring plus ``raise NotImplementedError``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    return bool(functions) and all(_raises_not_implemented(f) for f in functions)


def _raises_not_implemented(function: ast.FunctionDef) -> bool:
    body = [n for n in function.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    target = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"
