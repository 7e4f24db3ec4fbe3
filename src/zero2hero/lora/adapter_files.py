"""An adapter on disk, in PEFT's format: what ``PeftModel.save_pretrained`` writes and ``from_pretrained`` reads.

A LoRA adapter is small: the matrices A and B of each adapted layer, and the modules trained in full (a
classifier's new head), but not the frozen base model, which its config names. The folder holds:

* ``adapter_config.json`` — a PEFT ``LoraConfig``: ``peft_type`` "LORA", ``r``, ``lora_alpha``,
  ``lora_dropout``, ``use_rslora``, ``target_modules`` (the layer names LoRA went into), ``modules_to_save``
  (the modules trained in full), ``base_model_name_or_path`` and ``task_type`` ("SEQ_CLS", "CAUSAL_LM");
* ``adapter_model.safetensors`` — the weights under PEFT's names: ``base_model.model.<layer>.lora_A.weight``
  (r × in), ``base_model.model.<layer>.lora_B.weight`` (out × r) and ``base_model.model.<module>.<param>``
  for a module trained in full. The adapter's own name ("default") is not part of the file: it is chosen
  when loading, so one file can be loaded twice under two names;
* ``config.json`` (classifiers only) — the base model's configuration with the label names
  (``id2label``/``label2id``), so that the head's outputs keep their names, as PEFT users commonly save it.

Either library reads the other's folders: the tests load our adapters with ``peft.PeftModel.from_pretrained``
and PEFT's into our :class:`~zero2hero.lora.layer.LoRALinear` layers, and compare outputs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from zero2hero.errors import InputError, UnknownNameError
from zero2hero.files import atomic_dir, atomic_write_bytes, atomic_write_text
from zero2hero.lora.inject import ALL_LINEAR, add_lora, layers_to_adapt, lora_layers, matches
from zero2hero.lora.layer import LoRALinear, LoRASettings
from zero2hero.lora.switch import AdapterHeads

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
LABELS_FILE = "config.json"  # the base model's config with the label maps, beside a classifier's adapter
PREFIX = "base_model.model."  # PEFT's names start here: PeftModel.base_model (LoraModel) .model (the base)
TASK_TYPES = {"ForSequenceClassification": "SEQ_CLS", "ForCausalLM": "CAUSAL_LM"}  # class name ending -> task
KINDS = {"classifier": "SEQ_CLS", "causal_lm": "CAUSAL_LM"}
FOLDER_HINT = ("an adapter folder holds adapter_config.json (its settings) and adapter_model.safetensors (its "
               "weights), as save_adapter or PEFT's save_pretrained write them")
# PEFT options our LoRALinear does not implement, with the value that means "not used"
NOT_IMPLEMENTED = {"use_dora": False, "bias": "none", "lora_bias": False, "fan_in_fan_out": False, "rank_pattern": {},
                   "alpha_pattern": {}, "layers_to_transform": None, "exclude_modules": None,
                   "target_parameters": None, "trainable_token_indices": None, "layer_replication": None}


@dataclass(frozen=True)
class AdapterConfig:
    """What ``adapter_config.json`` says, in zero2hero's terms."""

    base_model: str | None  # base_model_name_or_path: "minilm", "smollm2", a folder or a hub name
    targets: list[str] | str  # layer names (PEFT's suffix rule), ["all-linear"], or a str: a regular expression
    settings: LoRASettings
    train_in_full: list[str] = field(default_factory=list)  # modules_to_save
    task_type: str | None = None


def save_adapter(model: nn.Module, folder: Path, base_model: str, adapter: str = "default",
                 task_type: str | None = None) -> Path:
    """Write adapter ``adapter`` of ``model`` into the new folder ``folder`` in PEFT's format (atomically).

    ``base_model``: what ``read_adapter_config`` will name as the base (e.g. "minilm" or a folder).
    ``task_type``: PEFT's task type; by default guessed from the model's class (``...ForSequenceClassification``
    → "SEQ_CLS", ``...ForCausalLM`` → "CAUSAL_LM"). Returns ``folder``.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder} already exists and is not an empty folder", "save the adapter to a new folder")
    layers = {name: layer for name, layer in lora_layers(model).items() if adapter in layer.settings}
    if not layers:
        names = sorted({name for layer in lora_layers(model).values() for name in layer.settings})
        raise InputError(f"this model has no LoRA adapter named {adapter!r}",
                         f"its adapters: {', '.join(names)}" if names else "add one with add_lora or load_adapter")
    settings = {layer.settings[adapter] for layer in layers.values()}
    if len(settings) > 1:
        raise InputError(f"adapter {adapter!r} has different settings in different layers ({settings})",
                         "PEFT's format stores one rank and alpha per adapter: add the adapter with one add_lora call")
    heads = _heads_trained_in_full(model, adapter)
    task_type = task_type or next((task for ending, task in TASK_TYPES.items()
                                   if type(model).__name__.endswith(ending)), None)
    tensors = {f"{PREFIX}{name}.lora_{matrix}.weight": getattr(layer, f"lora_{matrix}")[adapter].weight
               for name, layer in layers.items() for matrix in "AB"}
    tensors |= {f"{PREFIX}{path}.{key}": value for path, head in heads.items()
                for key, value in head.state_dict().items()}
    config = _peft_config(settings.pop(), _target_modules(model, list(layers)), sorted(heads), base_model, task_type)
    with atomic_dir(folder) as tmp:
        atomic_write_text(tmp / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
        atomic_write_bytes(tmp / WEIGHTS_FILE, safetensors_bytes(
            {key: value.detach().to("cpu").contiguous().clone() for key, value in tensors.items()},
            metadata={"format": "pt"}))
        if task_type == "SEQ_CLS" and hasattr(getattr(model, "config", None), "to_json_string"):
            atomic_write_text(tmp / LABELS_FILE, model.config.to_json_string())
    return folder


def _heads_trained_in_full(model: nn.Module, adapter: str) -> dict[str, nn.Module]:
    """The modules outside the LoRA layers that adapter ``adapter`` trains in full, by name: those with trainable
    weights (e.g. a head unfrozen by ``add_lora(train_in_full=...)``) and the adapter's own copy of a head that
    :func:`load_adapter` keeps per adapter."""
    heads = {name: module.copies[adapter] for name, module in model.named_modules()
             if isinstance(module, AdapterHeads) and adapter in module.copies}
    wrappers = tuple(f"{name}." for name, module in model.named_modules()
                     if isinstance(module, (LoRALinear, AdapterHeads)))
    for name, param in model.named_parameters():
        if param.requires_grad and not name.startswith(wrappers):
            path = name.rpartition(".")[0]
            heads[path] = model.get_submodule(path)
    return heads


def _target_modules(model: nn.Module, names: list[str]) -> list[str]:
    """``target_modules`` for the wrapped layers ``names``: their last name parts (``["query", "value"]``) when
    those select exactly these layers of the base model, else their full names (as PEFT writes all-linear)."""
    short = sorted({name.rpartition(".")[2] for name in names})
    inside = tuple(f"{name}." for name, module in model.named_modules()
                   if isinstance(module, (LoRALinear, AdapterHeads)))
    linears = [name for name, module in model.named_modules()
               if isinstance(module, (nn.Linear, LoRALinear)) and not name.startswith(inside)]
    return short if [name for name in linears if matches(name, short)] == names else sorted(names)


def _peft_config(settings: LoRASettings, targets: list[str], train_in_full: list[str], base_model: str,
                 task_type: str | None) -> dict[str, object]:
    """The fields of PEFT's ``LoraConfig`` (PEFT fills the ones left out with its defaults)."""
    return {"peft_type": "LORA", "task_type": task_type, "base_model_name_or_path": base_model,
            "r": settings.rank, "lora_alpha": settings.alpha, "lora_dropout": settings.dropout,
            "use_rslora": settings.rank_stabilised, "target_modules": targets,
            "modules_to_save": train_in_full or None, "init_lora_weights": True, "inference_mode": True,
            **NOT_IMPLEMENTED}


def read_adapter_config(folder: Path) -> AdapterConfig:
    """Read and check ``folder/adapter_config.json`` (and that the weights file beside it is whole)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"there is no adapter folder {folder}", f"pass an adapter folder: {FOLDER_HINT}")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{folder} has no {CONFIG_FILE}, so it is not an adapter folder", FOLDER_HINT)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not valid JSON ({err})", "save the adapter again") from None
    if not isinstance(raw, dict) or raw.get("peft_type") != "LORA":
        kind = raw.get("peft_type") if isinstance(raw, dict) else None
        raise InputError(f"{path} describes a {kind or 'non-PEFT'} adapter, not a LoRA one",
                         "zero2hero loads LoRA adapters; load this one with peft.PeftModel.from_pretrained")
    used = [key for key, unused in NOT_IMPLEMENTED.items() if raw.get(key) not in (None, unused)]
    if used:
        raise InputError(f"the adapter in {folder} uses {', '.join(used)}, which zero2hero's LoRA does not implement",
                         "load it with peft.PeftModel.from_pretrained")
    targets = raw.get("target_modules")
    if not targets or not isinstance(targets, str | list):
        raise InputError(f"{path} names no target_modules", "save the adapter again")
    try:
        settings = LoRASettings(int(raw["r"]), float(raw.get("lora_alpha", 8)), float(raw.get("lora_dropout", 0.0)),
                                bool(raw.get("use_rslora", False)))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path} has no valid rank r ({err!r})", "save the adapter again") from None
    _check_weights_file(folder)
    return AdapterConfig(base_model=raw.get("base_model_name_or_path"),
                         targets=[ALL_LINEAR] if targets == ALL_LINEAR else targets, settings=settings,
                         train_in_full=list(raw.get("modules_to_save") or []), task_type=raw.get("task_type"))


def _check_weights_file(folder: Path) -> None:
    """Refuse a missing, corrupt or truncated weights file (reading its header checks that it is whole)."""
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise InputError(f"{folder} has no {WEIGHTS_FILE}", FOLDER_HINT)
    try:
        with safe_open(path, "pt"):
            pass
    except (SafetensorError, OSError) as err:
        raise InputError(f"{path} is corrupt or truncated ({err})", "save or copy the adapter again") from None


def read_adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The adapter's tensors by their names without PEFT's ``base_model.model.`` prefix."""
    path = Path(folder) / WEIGHTS_FILE
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise InputError(f"{path} is corrupt or truncated ({err})", "save or copy the adapter again") from None
    odd = [key for key in tensors if not key.startswith(PREFIX)]
    if odd:
        raise InputError(f"{path} holds weights not named as PEFT names them ({odd[0]})",
                         f"an adapter's weight names start with {PREFIX}: save it with save_adapter or PEFT")
    return {key.removeprefix(PREFIX): value for key, value in tensors.items()}


def load_adapter(model: nn.Module, folder: Path, adapter: str = "default", expected_base: str | None = None
                 ) -> list[str]:
    """Put the adapter saved in ``folder`` into ``model`` (in place) under the name ``adapter``; return the names
    of the LoRA layers it went into.

    Loading is strict: every tensor of the file must find its place with its shape, and every place its tensor,
    else nothing changes and one :class:`InputError` names the adapter's base and this model. A second call with
    another name adds a second adapter on the same base (switch with ``set_adapter``). Modules the adapter trained
    in full (a classifier's head) are kept per adapter (:class:`AdapterHeads`), the base's own one beside them.
    ``expected_base``: refuse an adapter whose config names another base model.
    """
    config = read_adapter_config(folder)
    if expected_base is not None and config.base_model != expected_base:
        raise InputError(f"the adapter in {folder} was made for {config.base_model!r}, not for {expected_base!r}",
                         "load it onto the base model its adapter_config.json names")
    if any(adapter in layer.settings for layer in lora_layers(model).values()):
        raise InputError(f"this model already has an adapter named {adapter!r}", "load it under another name")
    tensors = read_adapter_weights(folder)
    try:
        names = layers_to_adapt(model, _resolve_targets(model, config.targets))
    except InputError as err:
        raise _other_base(folder, config, model, err.message) from None
    _check_lora_shapes(model, config, tensors, names, folder)
    heads = _head_states(model, config, tensors, names, folder)
    add_lora(model, names, config.settings, adapter)
    with torch.no_grad():
        for name in names:
            layer = model.get_submodule(name)
            for matrix in "AB":
                weight = getattr(layer, f"lora_{matrix}")[adapter].weight
                weight.copy_(tensors[f"{name}.lora_{matrix}.weight"].to(weight.dtype))
    for path, state in heads.items():
        module = model.get_submodule(path)
        if not isinstance(module, AdapterHeads):
            parent, _, child = path.rpartition(".")
            module = AdapterHeads(module)
            setattr(model.get_submodule(parent) if parent else model, child, module)
        module.add(adapter, state)
    return names


def _resolve_targets(model: nn.Module, targets: list[str] | str) -> list[str]:
    """PEFT's ``target_modules`` as a string is a regular expression the full module name must match."""
    if isinstance(targets, list):
        return targets
    candidates = list(lora_layers(model)) or [name for name, module in model.named_modules()
                                              if isinstance(module, nn.Linear)]
    chosen = [name for name in candidates if re.fullmatch(targets, name)]
    if not chosen:
        raise InputError(f"the target pattern {targets!r} matches no linear layer of {type(model).__name__}")
    return chosen


def _other_base(folder: Path, config: AdapterConfig, model: nn.Module, detail: str) -> InputError:
    source = getattr(getattr(model, "config", None), "name_or_path", "") or "built in memory"
    return InputError(f"the adapter in {folder} was made for {config.base_model or 'another model'!r}, not for this "
                      f"{type(model).__name__} ({source}): {detail}",
                      "load it onto the base model its adapter_config.json names")


def _check_lora_shapes(model: nn.Module, config: AdapterConfig, tensors: dict[str, torch.Tensor],
                       names: list[str], folder: Path) -> None:
    """Every LoRA tensor of the file has a layer, with the shape that layer needs, and every layer its tensors."""
    expected = {}
    for name in names:
        layer = model.get_submodule(name)
        expected[f"{name}.lora_A.weight"] = (config.settings.rank, layer.in_features)
        expected[f"{name}.lora_B.weight"] = (layer.out_features, config.settings.rank)
    found = {key for key in tensors if re.search(r"\.lora_[AB]\.weight$", key)}
    if found != expected.keys():
        extra, missing = sorted(found - expected.keys()), sorted(expected.keys() - found)
        problems = [f"{len(keys)} {what} (e.g. {keys[0]})" for keys, what in
                    ((extra, "of its LoRA weights have no layer here"), (missing, "LoRA weights it lacks"))
                    if keys]
        raise _other_base(folder, config, model, "; ".join(problems))
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape:
            raise _other_base(folder, config, model, f"{key} is {tuple(tensors[key].shape)}, this model needs {shape}")


def _head_states(model: nn.Module, config: AdapterConfig, tensors: dict[str, torch.Tensor], names: list[str],
                 folder: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The weights of each module trained in full, by module name, checked against the model's module."""
    inside = tuple(f"{name}." for name in [*names, *lora_layers(model)])
    modules = {name: module.original if isinstance(module, AdapterHeads) else module
               for name, module in model.named_modules()
               if config.train_in_full and matches(name, config.train_in_full) and not name.startswith(inside)}
    states: dict[str, dict[str, torch.Tensor]] = {path: {} for path in modules}
    for key in tensors:
        if re.search(r"\.lora_[AB]\.weight$", key):
            continue
        path = next((path for path in modules if key.startswith(f"{path}.")), None)
        if path is None:
            raise _other_base(folder, config, model, f"its weight {key} belongs to no module it trains")
        states[path][key.removeprefix(f"{path}.")] = tensors[key]
    for path, module in modules.items():
        wanted = {key: tuple(value.shape) for key, value in sorted(module.state_dict().items())}
        got = {key: tuple(value.shape) for key, value in sorted(states[path].items())}
        if got != wanted:
            raise _other_base(folder, config, model, f"its {path} weights are {got}, this model's are {wanted}")
    return states


def load_adapted_model(folder: Path, kind: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The adapter's base model (from ``base_model_name_or_path``: "minilm", "smollm2", a folder or a hub name)
    with the adapter loaded into our LoRA layers, in eval mode, and its tokenizer.

    ``kind``: "classifier" (a sequence classifier whose head comes from the adapter; its label names from the
    ``config.json`` beside the adapter when there is one) or "causal_lm".
    """
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from zero2hero.assets import new_head_loading, resolve_model_path

    if kind not in KINDS:
        raise UnknownNameError(f"unknown model kind {kind!r}", f"choose one of {', '.join(KINDS)}")
    folder = Path(folder)
    config = read_adapter_config(folder)
    if config.task_type not in (None, KINDS[kind]):
        raise InputError(f"the adapter in {folder} is for {config.task_type}, not for a {kind}",
                         f"load it as kind {next(k for k, task in KINDS.items() if task == config.task_type)!r}"
                         if config.task_type in KINDS.values() else "load it with peft.PeftModel.from_pretrained")
    if not config.base_model:
        raise InputError(f"{folder / CONFIG_FILE} names no base_model_name_or_path",
                         "load the base model yourself and call load_adapter(model, folder)")
    source = resolve_model_path(config.base_model)
    if kind == "classifier":
        with new_head_loading():  # the head's weights come from the adapter, just below
            model = AutoModelForSequenceClassification.from_pretrained(source, dtype="float32",
                                                                       **_label_maps(folder, config))
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype="float32")
    load_adapter(model, folder)
    return model.eval(), AutoTokenizer.from_pretrained(source)


def _label_maps(folder: Path, config: AdapterConfig) -> dict[str, dict]:
    """``id2label``/``label2id`` from the config.json beside the adapter; without one, as many unnamed labels as
    the saved head has outputs (the rows of its weight)."""
    if (folder / LABELS_FILE).is_file():
        saved = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
        if "id2label" in saved:
            id2label = {int(index): name for index, name in saved["id2label"].items()}
            return {"id2label": id2label, "label2id": {name: index for index, name in id2label.items()}}
    heads = [value for key, value in read_adapter_weights(folder).items()
             if key.endswith(".weight") and value.dim() == 2 and not re.search(r"\.lora_[AB]\.weight$", key)]
    if not heads:
        raise InputError(f"the adapter in {folder} holds no classification head",
                         "save the adapter of a classifier with its head trained in full (modules_to_save)")
    rows = heads[-1].shape[0]
    return {"id2label": {i: f"LABEL_{i}" for i in range(rows)}, "label2id": {f"LABEL_{i}": i for i in range(rows)}}
