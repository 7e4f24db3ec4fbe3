"""Using a fine-tuned classifier: texts in, a label and its probability out, on the CPU.

A folder written by ``z2h finetune`` (its ``model/``, or the run folder holding it) is a plain
``save_pretrained`` folder: :func:`classify` loads it with ``AutoModelForSequenceClassification``, as
``transformers.pipeline("text-classification")`` would, and turns the logits into probabilities with a
softmax. A folder whose model has no classification head (a base encoder, a causal LM) is refused.
Another kind of folder, such as the adapter a parameter-efficient method saves (``z2h finetune --lora``), is
loaded by the loader passed as ``load`` (its :meth:`~zero2hero.finetuning.adaptation.Adaptation.load`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch

from zero2hero.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CLASSIFIER_SUFFIX = "ForSequenceClassification"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin",  # what save_pretrained writes,
                "model.safetensors.index.json", "pytorch_model.bin.index.json")  # or the index of its shards
ClassifierLoader = Callable[[Path], "tuple[PreTrainedModel, PreTrainedTokenizerBase]"]  # a folder -> model, tokenizer


class Prediction(NamedTuple):
    label: str  # the most probable label's name
    probability: float  # its probability
    probabilities: dict[str, float]  # every label's name -> probability (they sum to 1)


def classifier_folder(model_dir: str | Path) -> Path:
    """The folder holding the classifier: ``model_dir`` itself, or its ``model/`` (a ``z2h finetune`` run folder).

    Raises :class:`InputError` when it is missing, has no ``config.json``, its model is not a
    ``...ForSequenceClassification`` (checked from ``config.architectures``, without loading weights), or it holds
    no weights (an adapter folder: see ``load`` in :func:`classify`).
    """
    from transformers import AutoConfig

    folder = Path(model_dir)
    if (folder / "model" / "config.json").is_file():
        folder = folder / "model"
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder", "pass the model/ folder of a `z2h finetune` run")
    if not (folder / "config.json").is_file():
        raise InputError(f"{folder} has no config.json",
                         "pass a folder written by save_pretrained, e.g. a run's model/")
    try:
        architectures = AutoConfig.from_pretrained(folder).architectures or []
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}/config.json cannot be read ({str(err).splitlines()[0]})",
                         "pass the model/ folder of a `z2h finetune` run") from None
    if not any(name.endswith(CLASSIFIER_SUFFIX) for name in architectures):
        kind = ", ".join(architectures) or "model without a declared architecture"
        raise InputError(f"{folder} holds a {kind}, not a sequence classifier (no *{CLASSIFIER_SUFFIX} head)",
                         "fine-tune one first with `z2h finetune`, then pass its run folder or its model/")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise InputError(f"{folder} holds no model weights (no {WEIGHT_FILES[0]}, {WEIGHT_FILES[1]} or shards)",
                         "a LoRA adapter folder (`z2h finetune --lora`) is loaded onto its base model: use `z2h "
                         "classify`, or classify(..., load=load_adapted_classifier) from zero2hero.lora")
    return folder


def load_classifier(model_dir: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The classifier of ``model_dir`` (see :func:`classifier_folder`) in eval mode, float32, and its tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = classifier_folder(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype="float32").eval()
    return model, AutoTokenizer.from_pretrained(folder)


def predict_probabilities(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                          batch_size: int = 32, max_length: int | None = None) -> torch.Tensor:
    """Class probabilities, shape (len(texts), num_labels): softmax of the logits, batch by batch.

    Each text is cut to ``max_length`` tokens (default: the tokenizer's ``model_max_length``, which ``z2h
    finetune`` sets to the training length, within the model's position limit); a batch is padded to its
    longest text, and the attention mask keeps the padding out of the result.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}", "use e.g. 32")
    limit = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    max_length = min(max_length or tokenizer.model_max_length, limit)
    model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            parts.append(model(**batch).logits.float().softmax(dim=-1))  # (batch, num_labels)
    return torch.cat(parts) if parts else torch.empty(0, model.config.num_labels)


def classify(model_dir: str | Path, texts: Sequence[str], batch_size: int = 32, max_length: int | None = None,
             load: ClassifierLoader = load_classifier) -> list[Prediction]:
    """Label each text with the fine-tuned classifier in ``model_dir``: one :class:`Prediction` per text.

    ``load`` turns ``model_dir`` into the model and its tokenizer: by default a ``save_pretrained`` classifier
    (:func:`load_classifier`); for an adapter folder, its method's loader.
    """
    if not texts:
        raise InputError("no text to classify", "pass a text, or a file with one text per line")
    empty = [i for i, text in enumerate(texts, 1) if not text.strip()]
    if empty:
        raise InputError(f"text {empty[0]} of {len(texts)} is empty", "give every line some text")
    model, tokenizer = load(Path(model_dir))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    predictions = []
    for row in predict_probabilities(model, tokenizer, texts, batch_size, max_length).tolist():
        best = max(range(len(row)), key=row.__getitem__)
        predictions.append(Prediction(names[best], row[best], dict(zip(names, row, strict=True))))
    return predictions
