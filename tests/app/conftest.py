"""A tiny serving bundle, built locally in seconds: the shape of what the pipeline's package stage writes.

Two 2-layer BERT classifiers with MiniLM's tokenizer (sentiment: great/other; topic: three classes), the tiny
2-layer LLaMA with SmolLM2's tokenizer as the merged generator, its Q8_0 GGUF (chapter 7's writer, with the shipped
SmolLM2 tokenizer metadata so llama.cpp can tokenize) and ``bundle/serve.json``. The weights are random: answers
are meaningless but deterministic, which is what the API, browser and load tests compare.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.tiny_models import write_tiny_classifier_base, write_tiny_generator_base

LABELS = {"sentiment": ["great", "other"], "topic": ["taste", "delivery", "price"]}
WEIGHT_SCALE = 10.0
REVIEW = "The tea arrived quickly and tastes wonderful, I will order again."


def _write_classifier(base: Path, names: list[str], folder: Path, seed: int) -> None:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(seed)  # the new head's weights
    model = BertForSequenceClassification.from_pretrained(
        base, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)


def write_tiny_bundle(workspace: Path, backend: str = "llamacpp") -> Path:
    """Write a tiny serving bundle into ``workspace``; return it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zero2hero.llama.gguf_deploy import shipped_tokenizer_metadata
    from zero2hero.llama.gguf_writer import write_gguf
    from zero2hero.llama.model import from_transformers

    base = write_tiny_classifier_base(workspace / "bases" / "classifier")
    for seed, (label, names) in enumerate(LABELS.items()):
        _write_classifier(base, names, workspace / "export" / "classifier" / label, seed)
    base = write_tiny_generator_base(workspace / "bases" / "generator")
    generator = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    with torch.no_grad():  # at the initial scale every reply is a run of newlines; ten times it, varied words
        for weight in generator.parameters():
            if weight.dim() == 2:
                weight.mul_(WEIGHT_SCALE)
    generator.save_pretrained(workspace / "export" / "generator")
    AutoTokenizer.from_pretrained(base).save_pretrained(workspace / "export" / "generator")
    tuned = from_transformers(generator)
    write_gguf(tuned, workspace / "export" / "generator-q8_0.gguf", "q8_0",
               tokenizer_metadata=shipped_tokenizer_metadata())
    serve = {"name": "tiny-desk", "created_from": str(workspace), "labels": LABELS,
             "classifiers": {label: f"export/classifier/{label}" for label in LABELS},
             "classifier_max_length": 48,
             "generator": {"transformers": "export/generator", "gguf": "export/generator-q8_0.gguf"},
             "backend": backend,
             "limits": {"max_request_bytes": 20000, "max_review_chars": 4000, "max_new_tokens": 12,
                        "max_concurrent_generations": 2, "max_batch_items": 256},
             "metrics": {"sentiment_accuracy": 0.5, "topic_accuracy": 0.33, "reply_token_f1": 0.0}}
    (workspace / "bundle").mkdir(parents=True, exist_ok=True)
    (workspace / "bundle" / "serve.json").write_text(json.dumps(serve, indent=2), encoding="utf-8")
    return workspace


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bundle(tmp_path_factory.mktemp("tiny-desk"))


@pytest.fixture(scope="session")
def llamacpp_desk(tiny_workspace: Path):
    """The tiny desk on llama.cpp (skipped where llama-cpp-python is not installed: it is an optional extra)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is an optional extra (pip install 'zero2hero[llamacpp]')")
    from zero2hero.app.desk import load_desk

    return load_desk(tiny_workspace, backend="llamacpp")


@pytest.fixture(scope="session")
def transformers_desk(tiny_workspace: Path):
    from zero2hero.app.desk import load_desk

    return load_desk(tiny_workspace, backend="transformers")


@pytest.fixture(scope="session", params=["transformers", "llamacpp"])
def desk(request: pytest.FixtureRequest):
    """The tiny desk on each backend."""
    return request.getfixturevalue(f"{request.param}_desk")


@pytest.fixture(scope="session")
def served(transformers_desk) -> Iterator[str]:
    """The tiny desk (transformers) served by uvicorn on a free loopback port: its base URL."""
    from zero2hero.app.background import serving
    from zero2hero.app.server import create_app

    with serving(create_app(transformers_desk, transformers_desk.limits)) as base_url:
        yield base_url
