"""The pipeline's stages as data — name, parameters, inputs, outputs, code — and the ``dvc.yaml`` made from them.

DVC runs a stage again when the md5 of one of its deps, one of its params or its command changed. The code is
made a parameter: ``code.yaml`` maps each stage to the SHA-256 of its source (:func:`code_fingerprints`: the stage
module and every zero2hero module it imports, directly or not, plus the data files it reads), and each stage lists
``code.yaml: [its name]`` among its params. So editing a stage's code reruns it and what depends on it, and
nothing else.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zero2hero.files import atomic_write_text
from zero2hero.pipeline.cache_key import file_sha256
from zero2hero.pipeline.config import BUILTIN_RULES, FINE_FOODS
from zero2hero.pipeline.labelling import RULES_FOLDER

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # src/zero2hero
STAGE_MODULE = "zero2hero.pipeline.stages.{name}"


@dataclass(frozen=True)
class Stage:
    name: str
    params: tuple[str, ...]  # params.yaml keys: a section ("data") or one setting ("classifier.max_length")
    deps: tuple[str, ...]  # workspace paths it reads
    outs: tuple[str, ...]  # workspace paths it writes (DVC outputs)
    large_outs: bool = False  # model folders: DVC hashes them but keeps no second copy in its cache
    data_files: tuple[Path, ...] = ()  # files the code reads, fingerprinted with it (e.g. the built-in rules)

    @property
    def module(self) -> str:
        return STAGE_MODULE.format(name=self.name)


SPLITS = "data/splits"
STAGES: tuple[Stage, ...] = (
    Stage("collect", ("data", "seed"), (), ("data/raw.jsonl",)),
    Stage("clean", ("clean",), ("data/raw.jsonl",), ("data/clean.jsonl",)),
    Stage("label", ("labels",), ("data/clean.jsonl",), ("data/labelled.jsonl",),
          data_files=(RULES_FOLDER / "topics.yaml", RULES_FOLDER / "replies.yaml")),
    Stage("stats", ("classifier.base", "classifier.max_length", "generator.base", "generator.max_length"),
          ("data/labelled.jsonl",), ("reports/stats.json",)),
    Stage("split", ("split", "seed"), ("data/labelled.jsonl",), (SPLITS,)),
    Stage("train_classifier", ("classifier", "seed"), (SPLITS,), ("models/classifier",), large_outs=True),
    Stage("train_generator", ("generator", "seed"), (SPLITS,), ("models/generator",), large_outs=True),
    Stage("evaluate", ("evaluate", "seed", "labels", "classifier.base", "classifier.max_length", "generator.base",
                       "generator.max_length"),
          (SPLITS, "models/classifier", "models/generator"), ("reports/eval.json", "reports/replies.md")),
    Stage("export", ("export", "classifier.base", "generator.base"), ("models/classifier", "models/generator"),
          ("export",), large_outs=True),
    Stage("package", ("name", "serve", "classifier.max_length", "export.gguf_format"), ("export", "reports/eval.json"),
          ("bundle/serve.json",)),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def get_stage(name: str) -> Stage:
    from zero2hero.errors import UnknownNameError

    for stage in STAGES:
        if stage.name == name:
            return stage
    raise UnknownNameError(f"unknown pipeline stage {name!r}", f"choose one of {', '.join(STAGE_NAMES)}")


def stage_deps(stage: Stage, params: dict[str, Any]) -> list[str]:
    """The stage's inputs for these parameters: its workspace paths, plus the user's own source and rule files."""
    deps = list(stage.deps)
    if stage.name == "collect" and params["data"]["source"] != FINE_FOODS:
        deps.append(params["data"]["source"])
    if stage.name == "label":
        deps += [params["labels"][kind] for kind in ("topics", "replies") if params["labels"][kind] != BUILTIN_RULES]
    return deps


def stage_params(stage: Stage, params: dict[str, Any]) -> dict[str, Any]:
    """The part of ``params`` the stage reads, keyed as in :attr:`Stage.params`."""
    chosen = {}
    for key in stage.params:
        section, _, name = key.partition(".")
        chosen[key] = params[section][name] if name else params[section]
    return chosen


def dvc_yaml(params: dict[str, Any]) -> dict[str, Any]:
    """The ``dvc.yaml`` document: one DVC stage per :data:`STAGES` entry."""
    stages = {}
    for stage in STAGES:
        entry: dict[str, Any] = {"cmd": f"python -m zero2hero.pipeline.stage {stage.name}"}
        deps = stage_deps(stage, params)
        if deps:
            entry["deps"] = deps
        entry["params"] = [*stage.params, {"code.yaml": [stage.name]}]
        entry["outs"] = [{out: {"cache": False}} if stage.large_outs else out for out in stage.outs]
        stages[stage.name] = entry
    return {"stages": stages}


def write_dvc_yaml(workspace: Path) -> bool:
    """Write ``dvc.yaml`` for the workspace's ``params.yaml``; True when its content changed (else left untouched)."""
    params = yaml.safe_load((Path(workspace) / "params.yaml").read_text(encoding="utf-8"))
    return write_if_changed(Path(workspace) / "dvc.yaml", yaml.safe_dump(dvc_yaml(params), sort_keys=False))


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds exactly that; True when it was written."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


def code_fingerprints() -> dict[str, str]:
    """``{stage name: SHA-256 of its code}`` over the stage module, its zero2hero imports and its data files."""
    return {stage.name: _fingerprint(stage) for stage in STAGES}


def _fingerprint(stage: Stage) -> str:
    files = sorted(module_closure(stage.module)) + sorted(stage.data_files)
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(PACKAGE_ROOT.parent).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def module_file(module: str) -> Path | None:
    """The source file of a zero2hero module (``a/b.py`` or ``a/b/__init__.py``), or None if it is not one."""
    parts = module.split(".")
    if parts[0] != PACKAGE_ROOT.name:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_closure(module: str) -> set[Path]:
    """The source files of ``module`` and of every zero2hero module it imports, transitively (read, not run)."""
    from zero2hero.errors import Zero2HeroError

    first = module_file(module)
    if first is None:
        raise Zero2HeroError(f"the pipeline stage module {module} is missing", "reinstall zero2hero (pip install -e .)")
    seen: set[Path] = set()
    todo = [(module, first)]
    while todo:
        name, path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for imported in _imports(name, path):
            found = module_file(imported)
            if found is not None and found not in seen:
                todo.append((imported, found))
    return seen


def _imports(module: str, path: Path) -> list[str]:
    """Module names an import statement of ``path`` may load: ``a.b`` and, for ``from a.b import c``, ``a.b.c``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names
