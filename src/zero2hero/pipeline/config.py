"""The project's configuration: one YAML file of sections, each a dataclass validated when it is built.

``load_config(path, quick, overrides)`` reads the file (default: the shipped ``configs/review_desk.yaml``), applies
its ``quick:`` block when ``quick`` is set, then each ``section.key=value`` override (the value typed by YAML, so
``--set generator.steps=32`` is an int). A relative path in the file (``data.source``, ``labels.topics``,
``labels.replies``, a model ``base``) is read from the config file's folder. Every problem raises
:class:`~zero2hero.errors.InputError` naming the setting and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.text.io import read_text_file

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "review_desk.yaml"
FINE_FOODS = "fine-foods"
BUILTIN_RULES = "builtin"
DEFAULT_BASES = {"classifier": "minilm", "generator": "smollm2"}
BACKENDS = ("llamacpp", "transformers")
GGUF_FORMATS = ("q8_0", "q4_0", "q5_0", "q4_k", "f32")  # what chapter 7's writer (zero2hero.llama.gguf_writer) makes


def _require(condition: bool, setting: str, value: Any, allowed: str) -> None:
    if not condition:
        raise InputError(f"{setting} = {value!r} is not allowed", f"use {allowed}")


def _positive_int(setting: str, value: Any) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value > 0, setting, value,
             "a whole number above 0")


def _optional_positive_int(setting: str, value: Any) -> None:
    if value is not None:
        _positive_int(setting, value)


def _positive_number(setting: str, value: Any) -> None:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0, setting, value,
             "a number above 0")


def _share(setting: str, value: Any) -> None:
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1, setting, value,
             "a share between 0 and 1, e.g. 0.1")


def _text(setting: str, value: Any) -> None:
    _require(isinstance(value, str) and value.strip() != "", setting, value, "a non-empty text")


@dataclass(frozen=True)
class DataConfig:
    source: str = FINE_FOODS  # "fine-foods", or a CSV / JSONL file of your own reviews
    text_column: str = "text"
    sentiment_column: str = "label"
    max_reviews: int | None = None  # a seeded sample stratified by sentiment; None keeps every review

    def __post_init__(self) -> None:
        for name in ("source", "text_column", "sentiment_column"):
            _text(f"data.{name}", getattr(self, name))
        _optional_positive_int("data.max_reviews", self.max_reviews)


@dataclass(frozen=True)
class CleanConfig:
    min_chars: int = 20
    max_chars: int = 2000
    near_duplicate_threshold: float = 0.8  # Jaccard similarity of word 3-grams (chapter 5's splits)

    def __post_init__(self) -> None:
        _positive_int("clean.min_chars", self.min_chars)
        _positive_int("clean.max_chars", self.max_chars)
        _require(self.max_chars > self.min_chars, "clean.max_chars", self.max_chars,
                 f"a length above clean.min_chars ({self.min_chars})")
        _require(isinstance(self.near_duplicate_threshold, (int, float)) and 0 < self.near_duplicate_threshold <= 1,
                 "clean.near_duplicate_threshold", self.near_duplicate_threshold, "a similarity in (0, 1], e.g. 0.8")


@dataclass(frozen=True)
class LabelsConfig:
    topics: str = BUILTIN_RULES  # "builtin" (rules/topics.yaml) or your own YAML file of the same shape
    replies: str = BUILTIN_RULES  # "builtin" (rules/replies.yaml) or your own

    def __post_init__(self) -> None:
        _text("labels.topics", self.topics)
        _text("labels.replies", self.replies)


@dataclass(frozen=True)
class SplitConfig:
    dev_share: float = 0.1
    test_share: float = 0.1

    def __post_init__(self) -> None:
        _share("split.dev_share", self.dev_share)
        _share("split.test_share", self.test_share)
        _require(self.dev_share + self.test_share < 0.9, "split.dev_share + split.test_share",
                 self.dev_share + self.test_share, "shares that leave at least a tenth for training")


@dataclass(frozen=True)
class ClassifierConfig:
    base: str = "minilm"  # "minilm" or a local model folder
    rank: int = 8
    alpha: int = 16
    targets: str = "query,value"
    epochs: int = 1
    learning_rate: float = 1.0e-3
    batch_size: int = 16
    max_length: int = 128
    processes: int = 2
    threads_per_process: int = 1

    def __post_init__(self) -> None:
        _check_training("classifier", self)
        _positive_int("classifier.epochs", self.epochs)


@dataclass(frozen=True)
class GeneratorConfig:
    base: str = "smollm2"  # "smollm2" or a local model folder
    rank: int = 8
    alpha: int = 16
    targets: str = "q_proj,v_proj"
    steps: int = 200
    learning_rate: float = 1.0e-3
    batch_size: int = 8
    max_length: int = 256
    train_examples: int | None = None  # None: every training review
    processes: int = 2
    threads_per_process: int = 1

    def __post_init__(self) -> None:
        _check_training("generator", self)
        _positive_int("generator.steps", self.steps)
        _optional_positive_int("generator.train_examples", self.train_examples)


def _check_training(section: str, config: ClassifierConfig | GeneratorConfig) -> None:
    _text(f"{section}.base", config.base)
    _text(f"{section}.targets", config.targets)
    for name in ("rank", "alpha", "batch_size", "max_length", "processes", "threads_per_process"):
        _positive_int(f"{section}.{name}", getattr(config, name))
    _positive_number(f"{section}.learning_rate", config.learning_rate)


@dataclass(frozen=True)
class EvaluateConfig:
    classifier_examples: int | None = None  # None: the whole test split
    reply_examples: int = 40
    max_new_tokens: int = 64
    baseline: str = "prompting"  # the generator's base model prompted alone, without the adapter

    def __post_init__(self) -> None:
        _optional_positive_int("evaluate.classifier_examples", self.classifier_examples)
        _positive_int("evaluate.reply_examples", self.reply_examples)
        _positive_int("evaluate.max_new_tokens", self.max_new_tokens)
        _require(self.baseline == "prompting", "evaluate.baseline", self.baseline, "prompting")


@dataclass(frozen=True)
class ExportConfig:
    gguf_format: str = "q8_0"

    def __post_init__(self) -> None:
        _require(self.gguf_format in GGUF_FORMATS, "export.gguf_format", self.gguf_format,
                 f"one of {', '.join(GGUF_FORMATS)}")


@dataclass(frozen=True)
class ServeConfig:
    backend: str = "llamacpp"
    max_request_bytes: int = 20000
    max_review_chars: int = 4000
    max_new_tokens: int = 96
    max_concurrent_generations: int = 2
    max_batch_items: int = 256

    def __post_init__(self) -> None:
        _require(self.backend in BACKENDS, "serve.backend", self.backend, f"one of {', '.join(BACKENDS)}")
        for name in ("max_request_bytes", "max_review_chars", "max_new_tokens", "max_concurrent_generations",
                     "max_batch_items"):
            _positive_int(f"serve.{name}", getattr(self, name))


SECTIONS: dict[str, type] = {
    "data": DataConfig, "clean": CleanConfig, "labels": LabelsConfig, "split": SplitConfig,
    "classifier": ClassifierConfig, "generator": GeneratorConfig, "evaluate": EvaluateConfig,
    "export": ExportConfig, "serve": ServeConfig,
}
TOP_LEVEL = ("name", "seed")


@dataclass(frozen=True)
class ProjectConfig:
    name: str = "review-desk"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    quick: bool = False  # whether the file's quick: block was applied (not a parameter of any stage)

    def __post_init__(self) -> None:
        _require(isinstance(self.name, str) and self.name.replace("-", "").replace("_", "").isalnum(), "name",
                 self.name, "letters, digits, - and _ (it names the workspace folder)")
        _require(isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0, "seed",
                 self.seed, "a whole number, 0 or above")

    @property
    def run_name(self) -> str:
        """The default workspace folder's name: ``<name>`` or ``<name>-quick``."""
        return f"{self.name}-quick" if self.quick else self.name


def to_params(config: ProjectConfig) -> dict[str, Any]:
    """The resolved configuration as ``params.yaml`` holds it: ``name``, ``seed`` and one dict per section."""
    params: dict[str, Any] = {"name": config.name, "seed": config.seed}
    for section in SECTIONS:
        params[section] = dataclasses.asdict(getattr(config, section))
    return params


def load_config(path: str | Path | None = None, quick: bool = False, overrides: list[str] | None = None
                ) -> ProjectConfig:
    """The project configuration of ``path`` (default: the shipped review desk), quick block and overrides applied."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise InputError(f"{path}: no such config file", "pass a YAML file like the shipped review_desk.yaml, or "
                                                         "leave it out to use that one")
    try:
        settings = yaml.safe_load(read_text_file(path)) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path} is not valid YAML: {err}".replace("\n", " "), "fix the file's syntax") from None
    if not isinstance(settings, dict):
        raise InputError(f"{path} holds no settings", "write one key per section (name, seed, data, clean, ...)")
    quick_block = settings.pop("quick", None) or {}
    if not isinstance(quick_block, dict):
        raise InputError(f"quick: in {path} is not a mapping", "write it as `quick: {generator.steps: 16, ...}`")
    if quick:
        for key, value in quick_block.items():
            _set(settings, str(key), value)
    for override in overrides or []:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {override!r} is not of the form section.key=value",
                             "write e.g. --set generator.steps=32")
        _set(settings, key.strip(), yaml.safe_load(text) if text.strip() else None)
    return _build(settings, path.parent.resolve(), quick)


def _set(settings: dict[str, Any], key: str, value: Any) -> None:
    section, dot, name = key.partition(".")
    if not dot:
        if key not in TOP_LEVEL:
            raise UnknownNameError(f"unknown setting {key!r}", f"use section.key for {', '.join(SECTIONS)}, "
                                                               f"or one of {', '.join(TOP_LEVEL)}")
        settings[key] = value
        return
    values = settings.setdefault(section, {})
    if not isinstance(values, dict):
        raise InputError(f"section {section!r} is not a mapping", f"write {section}: {{{name}: ...}}")
    values[name] = value


def _build(settings: dict[str, Any], folder: Path, quick: bool) -> ProjectConfig:
    unknown = sorted(set(settings) - set(SECTIONS) - set(TOP_LEVEL))
    if unknown:
        raise UnknownNameError(f"unknown config section {unknown[0]!r}",
                               f"use {', '.join(TOP_LEVEL + tuple(SECTIONS))}")
    sections = {}
    for section, cls in SECTIONS.items():
        values = settings.get(section) or {}
        if not isinstance(values, dict):
            raise InputError(f"section {section!r} is not a mapping", f"write {section}: {{key: value, ...}}")
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(values) - known)
        if extra:
            raise UnknownNameError(f"unknown setting {section}.{extra[0]}",
                                   f"{section} takes {', '.join(sorted(known))}")
        sections[section] = cls(**_resolve_paths(section, _floats(cls, values), folder))
    top = {key: settings[key] for key in TOP_LEVEL if key in settings}
    return ProjectConfig(**top, **sections, quick=quick)


def _floats(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Float settings written ``2e-4``: YAML 1.1 reads that as a string (it wants ``2.0e-4``), so convert it."""
    converted = dict(values)
    for f in dataclasses.fields(cls):
        value = converted.get(f.name)
        if f.type == "float" and isinstance(value, str):
            try:
                converted[f.name] = float(value)
            except ValueError:
                pass  # left as it is: validation names the setting
    return converted


def _resolve_paths(section: str, values: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Relative file and folder settings read from the config file's folder; the built-in names kept as they are."""
    keep = {"data": {FINE_FOODS}, "labels": {BUILTIN_RULES}, "classifier": set(DEFAULT_BASES.values()),
            "generator": set(DEFAULT_BASES.values())}.get(section)
    if keep is None:
        return values
    keys = {"data": ("source",), "labels": ("topics", "replies")}.get(section, ("base",))
    resolved = dict(values)
    for key in keys:
        value = resolved.get(key)
        if isinstance(value, str) and value.strip() and value not in keep:
            path = Path(value).expanduser()
            local = path if path.is_absolute() else (folder / path).resolve()
            if key != "base" or local.exists():  # a base may also be a model hub name
                resolved[key] = str(local)
    return resolved
