"""The review desk: a workspace's serving bundle (``bundle/serve.json``) loaded, ready to classify and reply.

:func:`load_desk` reads the bundle the pipeline's package stage wrote and loads what it names: one fine-tuned
classifier per label (chapter 5's :func:`~zero2hero.finetuning.classify.load_classifier`) and the reply generator,
on llama.cpp (the GGUF file) or transformers (the merged folder). When llama-cpp-python is not installed, the
transformers model serves instead, with a warning saying how to install llama.cpp.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zero2hero.app.generators import LlamaCppReplies, ReplyGenerator, TransformersReplies
from zero2hero.app.limits import Limits
from zero2hero.errors import InputError, UnknownNameError

SERVE_FILE = Path("bundle") / "serve.json"
BACKENDS = ("llamacpp", "transformers")
BUNDLE_HINT = "run `z2h project run` first (its package stage writes bundle/serve.json), then pass its workspace"


@dataclass
class ReviewDesk:
    name: str
    workspace: Path
    labels: dict[str, list[str]]  # label -> its class names, in the classifier's output order
    classifiers: dict[str, tuple[Any, Any]]  # label -> (model, tokenizer)
    max_length: int  # tokens per review the classifiers read
    generator: ReplyGenerator
    limits: Limits
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why another backend than the bundle's serves

    def classify(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, dict]]:
        """Per text ``{"predicted": {label: class}, "probabilities": {label: {class: p}}}`` (each label's sum 1)."""
        from zero2hero.finetuning.classify import predict_probabilities

        results: list[dict[str, dict]] = [{"predicted": {}, "probabilities": {}} for _ in texts]
        for label, (model, tokenizer) in self.classifiers.items():
            rows = predict_probabilities(model, tokenizer, list(texts), batch_size, self.max_length).tolist()
            for result, row in zip(results, rows, strict=True):
                result["probabilities"][label] = dict(zip(self.labels[label], row, strict=True))
                result["predicted"][label] = self.labels[label][max(range(len(row)), key=row.__getitem__)]
        return results

    def reply_pieces(self, text: str, max_new_tokens: int) -> Iterator[str]:
        """The greedy reply to the review ``text`` (at most ``max_new_tokens`` tokens), in pieces as written."""
        return self.generator.pieces(text, max_new_tokens)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "name": self.name, "backend": self.generator.backend, "labels": self.labels,
                "metrics": self.metrics, "notes": self.notes}


def read_bundle(workspace: Path) -> dict[str, Any]:
    """The parsed ``bundle/serve.json`` of ``workspace``, with a clear error when it is missing or broken."""
    path = Path(workspace) / SERVE_FILE
    if not path.is_file():
        raise InputError(f"{workspace} holds no {SERVE_FILE}", BUNDLE_HINT)
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not valid JSON ({err})", "run the package stage again") from None
    missing = [key for key in ("labels", "classifiers", "generator") if key not in bundle]
    if missing:
        raise InputError(f"{path} lacks {', '.join(missing)}", "run the package stage again")
    return bundle


def load_desk(workspace: str | Path, backend: str | None = None) -> ReviewDesk:
    """The review desk of ``workspace``; ``backend``: "llamacpp" or "transformers" (default: the bundle's)."""
    from zero2hero.finetuning.classify import load_classifier

    workspace = Path(workspace)
    bundle = read_bundle(workspace)
    backend = backend or bundle.get("backend", "llamacpp")
    if backend not in BACKENDS:
        raise UnknownNameError(f"unknown backend {backend!r}", f"choose {' or '.join(BACKENDS)}")
    classifiers = {}
    for label, names in bundle["labels"].items():
        model, tokenizer = load_classifier(workspace / bundle["classifiers"][label])
        found = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if found != list(names):
            raise InputError(f"the {label} classifier's classes {found} differ from serve.json's {names}",
                             "run the export and package stages again")
        classifiers[label] = (model, tokenizer)
    generator, notes = _load_generator(workspace, bundle["generator"], backend)
    return ReviewDesk(name=bundle.get("name", workspace.name), workspace=workspace,
                      labels={label: list(names) for label, names in bundle["labels"].items()},
                      classifiers=classifiers, max_length=int(bundle.get("classifier_max_length", 128)),
                      generator=generator, limits=Limits.from_dict(bundle.get("limits", {})),
                      metrics=bundle.get("metrics", {}), notes=notes)


def _load_generator(workspace: Path, paths: dict[str, str], backend: str) -> tuple[ReplyGenerator, list[str]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zero2hero.llama.llamacpp import INSTALL_HINT, llamacpp_available

    folder = workspace / paths["transformers"]
    if not folder.is_dir():
        raise InputError(f"no generator folder at {folder}", "run the export and package stages again")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    notes = []
    if backend == "llamacpp" and not llamacpp_available():
        notes.append(f"llama-cpp-python is not installed: serving the transformers model instead; to serve the "
                     f"GGUF file, {INSTALL_HINT}")
        warnings.warn(notes[-1], stacklevel=3)
        backend = "transformers"
    if backend == "llamacpp":
        return LlamaCppReplies(workspace / paths["gguf"], tokenizer), notes
    model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32")
    return TransformersReplies(model, tokenizer), notes
