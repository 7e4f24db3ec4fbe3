"""What a parameter-efficient method must give the fine-tuning loop, so that a later chapter plugs one in.

Full fine-tuning (``adaptation=None``) trains every weight and keeps the whole model as its best checkpoint.
A parameter-efficient method (LoRA, chapter 6) changes three things: which weights train (it puts its own
layers into the model and freezes the rest), what the best checkpoint holds (its own small files), and how
that checkpoint becomes a classifier again. The loop knows such a method only through :class:`Adaptation`,
so chapter 5 never imports the chapters after it: the later chapter passes its method in, e.g.
``train(splits, config, LoRAAdaptation(rank=8))``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from torch import nn

from zero2hero.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.reporting import Section

HEAD_NAMES = ("classifier", "score")  # a BERT-like sequence classifier's head, a LLaMA-like one's (PEFT's names)


class Adaptation(Protocol):
    """A parameter-efficient way to fine-tune a classifier. Implementations are frozen dataclasses: their fields
    are their settings, which make part of a run's identity (``--resume`` with other ones is refused) and of
    the ``config.json`` of its run folder."""

    kind: ClassVar[str]  # a short name, e.g. "lora"

    def prepare(self, model: PreTrainedModel) -> None:
        """Change the freshly loaded classifier in place, before the optimizer is made: add the method's layers
        and leave ``requires_grad`` on only for the weights to train (the new head among them, see
        :func:`classifier_head_name`)."""

    def save(self, folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, base_model: str) -> None:
        """Write what the best checkpoint keeps into the empty ``folder``; ``base_model`` names the pretrained
        model the classifier is rebuilt from."""

    def load(self, folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The classifier (eval mode, float32) and its tokenizer from a folder :meth:`save` wrote, or from the
        run folder holding it as ``model/``."""

    def describe(self) -> str:
        """A few words for a report's title, e.g. ``LoRA (rank 8, alpha 16, on query,value)``."""

    def report(self, model_dir: Path) -> Section:
        """What a run's report says about ``model_dir``, the folder :meth:`save` wrote: its size, how to use it."""


def adaptation_settings(adaptation: Adaptation) -> dict[str, Any]:
    """The adaptation as a run's ``config.json`` records it: its kind and its fields."""
    return {"kind": adaptation.kind, **asdict(adaptation)}


def adaptation_identity(adaptation: Adaptation | None) -> dict[str, Any]:
    """The settings an adaptation adds to a run's identity, each named ``<kind>_<field>`` (e.g. ``lora_rank``), so a
    resume with another value names it; none for full fine-tuning."""
    if adaptation is None:
        return {}
    return {f"{adaptation.kind}_{name}": value for name, value in asdict(adaptation).items()}


def classifier_head_name(model: nn.Module) -> str:
    """The name of the classification head of a ``...ForSequenceClassification`` model (``classifier``, ``score``):
    the module an adaptation trains in full, as it starts random."""
    children = dict(model.named_children())
    name = next((name for name in HEAD_NAMES if name in children), None)
    if name is None:
        raise InputError(f"{type(model).__name__} has no classification head named {' or '.join(HEAD_NAMES)}",
                         "adapt a BERT-like or LLaMA-like sequence classifier, or fine-tune every weight")
    return name
