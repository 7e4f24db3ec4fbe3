"""Putting LoRA into a model: find the linear layers to adapt by name, wrap each in :class:`LoRALinear`,
freeze everything else (but the modules to train in full, such as a new classifier head), and count.

Target patterns follow PEFT's rule, so the same list means the same layers in both: a pattern matches a
module whose dotted name *is* the pattern or *ends with* ``.pattern`` (``query`` matches
``bert.encoder.layer.0.attention.self.query``). ``all-linear`` means every ``nn.Linear`` except the output
layer (a language model's ``lm_head``, a classifier's head), which is usually trained in full or left alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from zero2hero.errors import InputError
from zero2hero.finetuning.parameters import trainable_parameters as trainable_parameters  # counted as for any model
from zero2hero.finetuning.parameters import trainable_summary as trainable_summary
from zero2hero.lora.layer import LoRALinear, LoRASettings
from zero2hero.lora.switch import AdapterHeads

ALL_LINEAR = "all-linear"
OUTPUT_LAYER_NAMES = ("lm_head", "classifier", "score", "cls")  # heads "all-linear" leaves out


def parse_targets(text: str | Iterable[str]) -> list[str]:
    """``"q_proj,v_proj"`` or ``["q_proj", "v_proj"]`` -> ``["q_proj", "v_proj"]`` (blanks dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    targets = [item.strip() for item in items if item.strip()]
    if not targets:
        raise InputError("no LoRA target given", "pass e.g. --targets query,value or --targets all-linear")
    return targets


def matches(name: str, targets: list[str]) -> bool:
    """PEFT's rule: the module's full name equals a pattern or ends with ``.`` + a pattern."""
    return any(name == target or name.endswith(f".{target}") for target in targets)


def find_targets(model: nn.Module, targets: list[str]) -> list[str]:
    """Names of the ``nn.Linear`` modules of ``model`` that ``targets`` select, in the model's order.

    Raises :class:`InputError` listing the linear layer names that exist when nothing matches.
    """
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if targets == [ALL_LINEAR]:
        chosen = [name for name in linears if name.rpartition(".")[2] not in OUTPUT_LAYER_NAMES
                  and not name.startswith(tuple(f"{head}." for head in OUTPUT_LAYER_NAMES))]
    else:
        chosen = [name for name in linears if matches(name, targets)]
    if not chosen:
        short = sorted({name.rpartition(".")[2] for name in linears})
        raise InputError(f"the LoRA targets {','.join(targets)} match no linear layer of {type(model).__name__}",
                         f"its linear layers are named: {', '.join(short)} (or use all-linear)")
    return chosen


def layers_to_adapt(model: nn.Module, targets: str | Iterable[str]) -> list[str]:
    """The names :func:`add_lora` wraps (or, once the model carries LoRA, the LoRA layers ``targets`` select)."""
    wanted = parse_targets(targets)
    existing = list(lora_layers(model))
    if existing:
        return [name for name in existing if wanted == [ALL_LINEAR] or matches(name, wanted)]
    return find_targets(model, wanted)


def add_lora(model: nn.Module, targets: str | Iterable[str], settings: LoRASettings, adapter: str = "default",
             train_in_full: Iterable[str] = ()) -> list[str]:
    """Wrap the targeted linear layers of ``model`` (in place) in :class:`LoRALinear` and freeze the rest.

    ``train_in_full``: names of modules whose own weights stay trainable (e.g. ``["classifier"]``, the new head
    of a classification model, which starts random and must learn). Calling it again with another ``adapter``
    name adds a second adapter to the same layers (the base is never copied). Returns the wrapped names.
    """
    names = layers_to_adapt(model, targets)
    if lora_layers(model):  # a second adapter goes into the layers that already carry LoRA
        for name in names:
            model.get_submodule(name).add_adapter(adapter, settings)
        return names
    for param in model.parameters():  # 1. freeze the whole pretrained model
        param.requires_grad_(False)
    for name in names:  # 2. swap each targeted linear for the same linear with an adapter beside it
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), settings, adapter))
    for module_name in train_in_full:  # 3. unfreeze what must train in full
        for param in model.get_submodule(module_name).parameters():
            param.requires_grad_(True)
    return names


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Every :class:`LoRALinear` of ``model`` by name."""
    return {name: module for name, module in model.named_modules() if isinstance(module, LoRALinear)}


def set_adapter(model: nn.Module, name: str | None) -> None:
    """Make ``name`` the active adapter of every LoRA layer and every per-adapter head (None: the pretrained
    model alone)."""
    for layer in lora_layers(model).values():
        layer.set_adapter(name)
    for module in model.modules():
        if isinstance(module, AdapterHeads):
            module.set_adapter(name)


def merge(model: nn.Module) -> None:
    """Fold the active adapter into every base weight: inference then costs what the base model costs."""
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge(model: nn.Module) -> None:
    """Take the merged updates back out of the base weights."""
    for layer in lora_layers(model).values():
        layer.unmerge()


def unwrap(model: nn.Module) -> nn.Module:
    """Merge the active adapter and put the plain base layers back (in place): a model without LoRA modules
    that ``save_pretrained`` writes as an ordinary transformers checkpoint."""
    for name, layer in lora_layers(model).items():
        if layer.merged is None:
            layer.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.base)
    for name, module in list(model.named_modules()):  # a head kept per adapter: the active one stays
        if isinstance(module, AdapterHeads):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module.current())
    return model
