"""Head-only fine-tuning: the pretrained encoder stays frozen and only the new classification head learns — the
cheapest adaptation there is (a linear probe trained by the fine-tuning loop), and the floor any other must beat.

It keeps the whole model as its checkpoint, like full fine-tuning (the frozen weights are the pretrained ones, so
the head's 770 numbers alone would do; a whole model is what ``from_pretrained`` and ``z2h classify`` load).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from zero2hero.finetuning.adaptation import classifier_head_name
from zero2hero.reporting import Section

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class HeadOnly:
    """Train the classification head only (an :class:`~zero2hero.finetuning.adaptation.Adaptation`)."""

    kind: ClassVar[str] = "head_only"

    def prepare(self, model: PreTrainedModel) -> None:
        head = f"{classifier_head_name(model)}."
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith(head))

    def save(self, folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, base_model: str) -> None:
        from zero2hero.finetuning.checkpoint import save_model_folder

        save_model_folder(model, tokenizer, folder)

    def load(self, folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from zero2hero.finetuning.classify import load_classifier

        return load_classifier(folder)

    def describe(self) -> str:
        return "head only (the encoder frozen)"

    def report(self, model_dir: Path) -> Section:
        return Section()
