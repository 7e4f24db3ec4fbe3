"""Checkpoints: the best model so far, and everything needed to resume a run exactly where it stopped.

Two folders in the run's output folder:

* ``best/`` — the model (safetensors weights + config.json) and its tokenizer, as ``save_pretrained``
  writes them, so ``AutoModelForSequenceClassification.from_pretrained("best")`` and
  ``pipeline("text-classification", model="best")`` load it;
* ``last/`` — the same plus ``training_state.pt`` and ``run.json``. Resuming *exactly* (the same weights, to
  the last bit, as a run that never stopped) needs more than the weights: AdamW's two moment estimates per
  weight, the scheduler's step, every random generator (dropout draws from torch's), and the position in the
  data (the epoch and how many of its batches were done; the order itself is rebuilt from the seed).
  ``run.json`` says which configuration and data made the run, so another one cannot resume from it.

With a parameter-efficient method (an :class:`~zero2hero.finetuning.adaptation.Adaptation`, such as chapter 6's
LoRA) most weights are frozen: they are the pretrained ones, reloaded at resume. So ``best/`` holds what the
method saves (LoRA: its adapter), and ``last/`` only the weights that train (``trainable.safetensors``) beside
the optimizer's state: megabytes instead of the whole model.

Each folder is written whole in a temporary sibling, then renamed into place: a run killed while saving
leaves the previous checkpoint, never half of a new one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from zero2hero.errors import InputError
from zero2hero.files import move_into_place, temporary_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from zero2hero.finetuning.adaptation import Adaptation

STATE_FILE = "training_state.pt"
RUN_FILE = "run.json"
TRAINABLE_FILE = "trainable.safetensors"  # a partly frozen model's last/: only the weights that train


@dataclass
class TrainingState:
    """Where a run stands between two optimizer steps."""

    global_step: int = 0  # optimizer steps done
    epoch: int = 0  # the epoch in progress
    batches_done: int = 0  # batches of that epoch's order already trained on
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per optimizer step
    best_macro_f1: float | None = None
    best_step: int | None = None
    evaluations_without_improvement: int = 0


def capture_rng() -> dict[str, Any]:
    """The state of every random generator training touches: Python's, NumPy's, torch's (and CUDA's)."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, [int(key) for key in keys], int(position), int(has_gauss), float(cached_gaussian)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put every generator back where :func:`capture_rng` found it."""
    random.setstate(tuple(item if not isinstance(item, list) else tuple(item) for item in state["python"]))
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def replace_folder(final: Path, write: Callable[[Path], None]) -> None:
    """Write a folder with ``write(tmp)`` in a temporary sibling, then swap it in for ``final``.

    The old folder is renamed aside first and removed only once the new one is in place; if the swap
    itself fails the old one is put back.
    """
    final = Path(final)
    with temporary_dir(final) as new:
        write(new)
        with temporary_dir(final) as aside:
            previous = aside / "previous"
            if final.exists():
                final.rename(previous)
            try:
                move_into_place(new, final)
            except BaseException:
                if previous.exists():
                    previous.rename(final)
                raise


def save_model_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """``save_pretrained`` the model (safetensors + config.json) and its tokenizer into ``folder``."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def save_best(folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
              adaptation: Adaptation | None = None, base_model: str = "") -> None:
    """Replace ``folder`` with the model and tokenizer, loadable by ``from_pretrained`` and ``pipeline``; with an
    ``adaptation``, with what it saves instead (``base_model``: the pretrained model it names)."""
    if adaptation is None:
        replace_folder(folder, lambda tmp: save_model_folder(model, tokenizer, tmp))
    else:
        replace_folder(folder, lambda tmp: adaptation.save(tmp, model, tokenizer, base_model))


def trainable_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights of ``model`` that train (``requires_grad``), by their state-dict names."""
    return {name: param.detach() for name, param in model.named_parameters() if param.requires_grad}


def save_last(folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
              optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
              state: TrainingState, run: dict[str, Any]) -> None:
    """Replace ``folder`` with everything a resume needs (see the module docstring). A model with frozen
    weights (an adaptation's) saves only its trainable ones: the frozen ones are the pretrained weights."""
    partly_frozen = not all(param.requires_grad for param in model.parameters())

    def write(tmp: Path) -> None:
        if partly_frozen:
            save_file({name: weight.contiguous() for name, weight in trainable_weights(model).items()},
                      tmp / TRAINABLE_FILE)
        else:
            save_model_folder(model, tokenizer, tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": capture_rng(), "state": asdict(state)}, tmp / STATE_FILE)
        (tmp / RUN_FILE).write_text(json.dumps(run, indent=2, sort_keys=True), encoding="utf-8")

    replace_folder(folder, write)


def check_same_run(folder: Path, run: dict[str, Any]) -> None:
    """Refuse to resume from ``folder`` if it was written by another configuration or other data."""
    if not (folder / STATE_FILE).is_file() or not (folder / RUN_FILE).is_file():
        raise InputError(f"there is no checkpoint to resume from in {folder}",
                         "train without resume first, or point the output folder at an earlier run")
    saved = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    differing = sorted(key for key in saved.keys() | run.keys() if saved.get(key) != run.get(key))
    if differing:
        changes = ", ".join(f"{key}: {saved.get(key)!r} then, {run.get(key)!r} now" for key in differing)
        raise InputError(f"the checkpoint in {folder} comes from another run ({changes})",
                         "resume with the configuration and data it was made with, or train from scratch "
                         "in a new output folder")


def load_last(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              scheduler: torch.optim.lr_scheduler.LRScheduler, run: dict[str, Any]) -> TrainingState:
    """Load the ``last/`` checkpoint into model, optimizer, scheduler and the random generators; return the state."""
    check_same_run(folder, run)
    if (folder / TRAINABLE_FILE).is_file():
        load_trainable(folder / TRAINABLE_FILE, model)
    else:
        model.load_state_dict(load_file(folder / "model.safetensors"), strict=True)
    saved = torch.load(folder / STATE_FILE, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng(saved["rng"])
    return TrainingState(**saved["state"])


def load_trainable(path: Path, model: torch.nn.Module) -> None:
    """Load the trainable weights saved by :func:`save_last` into ``model``; they must be exactly its trainable ones."""
    saved = load_file(path)
    expected = trainable_weights(model).keys()
    if saved.keys() != expected:
        missing, extra = sorted(expected - saved.keys()), sorted(saved.keys() - expected)
        raise InputError(f"{path} does not hold this model's trainable weights (missing: {missing[:3]}, "
                         f"unexpected: {extra[:3]})",
                         "resume with the model and adaptation settings the run was made with")
    model.load_state_dict(saved, strict=False)
