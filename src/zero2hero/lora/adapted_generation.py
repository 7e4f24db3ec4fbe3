"""``z2h generate --adapter DIR``: generate with a causal LM's LoRA adapter, unmerged, on the base it was made for.

The adapter names its base model (``base_model_name_or_path``). Generation runs on that base unless another
model is asked for; a model that is not the adapter's base is refused at once, before any weight is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zero2hero.errors import InputError
from zero2hero.lora.adapter_files import KINDS, load_adapter, read_adapter_config

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Loader = Callable[[str], "tuple[PreTrainedModel, PreTrainedTokenizerBase]"]


def adapter_loader(adapter_dir: Path, model: str | None = None) -> tuple[str, Loader]:
    """The model to generate with (``model``, or the adapter's base when None) and a loader that returns it with
    the adapter in our LoRA layers, in eval mode. Raises :class:`InputError` for an adapter of another kind of
    model or of another base than ``model``."""
    adapter_dir = Path(adapter_dir)
    config = read_adapter_config(adapter_dir)
    if config.task_type not in (None, KINDS["causal_lm"]):
        raise InputError(f"the adapter in {adapter_dir} is for {config.task_type}, not for generating text",
                         "pass --adapter the adapter of a causal language model (task_type CAUSAL_LM)")
    if model is None:
        if not config.base_model:
            raise InputError(f"the adapter in {adapter_dir} names no base model", "pass --model, its base model")
        model = config.base_model
    elif config.base_model and not same_model(model, config.base_model):
        raise InputError(f"the adapter in {adapter_dir} was made for {config.base_model!r}, not for {model!r}",
                         "leave out --model to generate with the adapter's base, or pass an adapter of this model")

    def load(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        from zero2hero.assets import load_causal_lm

        base, tokenizer = load_causal_lm(name)
        load_adapter(base, adapter_dir)
        return base.eval(), tokenizer  # eval: the new LoRA layers' dropout off

    return model, load


def same_model(first: str, second: str) -> bool:
    """Whether two model names or folders name the same model (``models/x`` and ``/home/me/models/x`` do)."""
    if first == second:
        return True
    one, other = Path(first).expanduser(), Path(second).expanduser()
    return one.is_dir() and other.is_dir() and one.resolve() == other.resolve()
