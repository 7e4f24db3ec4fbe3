"""LoRA in chapter 5's fine-tuning loop: :class:`LoRAAdaptation` is the
:class:`~zero2hero.finetuning.adaptation.Adaptation` that ``z2h finetune --lora`` passes to ``train``.

``prepare`` wraps the targeted linear layers in :class:`~zero2hero.lora.layer.LoRALinear` and freezes every other
weight but the classification head, which is new (random) and so trains in full. The best checkpoint is the
adapter in PEFT's format (``save_adapter``: the LoRA matrices, the head, the model's config naming the labels)
with the tokenizer; ``load`` rebuilds the classifier from the base model the adapter names, with the adapter
unmerged in our LoRA layers. ``z2h classify`` uses :func:`load_adapted_classifier` for such a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from zero2hero.errors import InputError
from zero2hero.finetuning.adaptation import classifier_head_name
from zero2hero.lora.adapter_files import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_adapted_model,
    read_adapter_config,
    save_adapter,
)
from zero2hero.lora.inject import add_lora, parse_targets
from zero2hero.lora.layer import LoRASettings
from zero2hero.reporting import Section

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TASK_TYPE = "SEQ_CLS"  # PEFT's task type of a sequence classifier's adapter


@dataclass(frozen=True)
class LoRAAdaptation:
    """Fine-tune with LoRA: adapters of rank ``rank`` on the ``targets`` layers, and the head, train; the rest is
    frozen. Out-of-range settings raise :class:`InputError` at construction."""

    kind: ClassVar[str] = "lora"
    rank: int = 8
    alpha: float = 16.0  # the update is scaled by alpha / rank
    targets: str = "query,value"  # comma-separated linear layer names (PEFT's suffix rule), or all-linear
    dropout: float = 0.0  # on the LoRA path's input

    def __post_init__(self) -> None:
        self.settings()  # checks rank, alpha and dropout
        object.__setattr__(self, "targets", ",".join(parse_targets(self.targets)))  # " query, value" -> "query,value"

    def settings(self) -> LoRASettings:
        return LoRASettings(self.rank, self.alpha, self.dropout)

    def prepare(self, model: PreTrainedModel) -> None:
        add_lora(model, self.targets, self.settings(), train_in_full=[classifier_head_name(model)])

    def save(self, folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, base_model: str) -> None:
        save_adapter(model, folder, base_model, task_type=TASK_TYPE)
        tokenizer.save_pretrained(folder)

    def load(self, folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return load_adapted_classifier(folder)

    def describe(self) -> str:
        dropout = f", dropout {self.dropout:g}" if self.dropout else ""
        return f"LoRA (rank {self.rank}, alpha {self.alpha:g}{dropout}, on {self.targets})"

    def report(self, model_dir: Path) -> Section:
        section = Section()
        section.metric("adapter_mb", (Path(model_dir) / WEIGHTS_FILE).stat().st_size / 1e6,
                       f"size of model/{WEIGHTS_FILE}: the LoRA matrices and the classification head")
        section.notes.append("model/ is a LoRA adapter over its base model: run `z2h classify <this folder> \"some "
                             "text\"` to use it as it is, or `z2h lora merge <this folder>/model --out DIR` for a "
                             "plain model that `from_pretrained` and `pipeline` load.")
        return section


def adapter_folder(model_dir: Path) -> Path | None:
    """``model_dir``, or its ``model/`` (a ``z2h finetune`` run folder), whichever holds a LoRA adapter
    (``adapter_config.json``); None when neither does."""
    return next((folder for folder in (Path(model_dir), Path(model_dir) / "model") if (folder / CONFIG_FILE).is_file()),
                None)


def load_adapted_classifier(model_dir: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The classifier of a ``z2h finetune --lora`` run (its folder or its ``model/``): the base model with the
    adapter unmerged in our LoRA layers, in eval mode, and the tokenizer saved beside the adapter."""
    folder = adapter_folder(model_dir)
    if folder is None:
        raise InputError(f"{model_dir} holds no LoRA adapter (no {CONFIG_FILE} in it or in its model/)",
                         "pass the run folder of a `z2h finetune --lora` run, or its model/")
    task = read_adapter_config(folder).task_type
    if task != TASK_TYPE:
        raise InputError(f"{folder} holds a LoRA adapter for {task or 'an unstated task'}, not for sequence "
                         "classification", "pass the model/ folder of a `z2h finetune --lora` run")
    model, base_tokenizer = load_adapted_model(folder, kind="classifier")
    return model.eval(), tokenizer_beside(folder, base_tokenizer)


def tokenizer_beside(adapter_dir: Path, base_tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """The tokenizer saved beside an adapter, if any (``z2h finetune`` saves it with the training max length,
    so texts are cut where training cut them), else the base model's."""
    from transformers import AutoTokenizer

    has_own = (Path(adapter_dir) / "tokenizer_config.json").is_file()
    return AutoTokenizer.from_pretrained(adapter_dir) if has_own else base_tokenizer
