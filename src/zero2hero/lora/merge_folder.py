"""``z2h lora merge``: an adapter folder in, an ordinary transformers model folder out.

The base model is loaded, the adapter put into it unmerged, then :func:`zero2hero.lora.inject.unwrap` folds each
update ``scaling · B @ A`` into its base weight and puts the plain linear layers back. What ``save_pretrained``
then writes is a model like any other: ``from_pretrained`` and ``pipeline`` load it without zero2hero or PEFT, and
it costs at inference exactly what the base model costs.
"""

from __future__ import annotations

from pathlib import Path

from zero2hero.errors import InputError
from zero2hero.files import atomic_dir
from zero2hero.lora.adapter_files import CONFIG_FILE, KINDS, load_adapted_model, read_adapter_config
from zero2hero.lora.finetune_adaptation import adapter_folder, tokenizer_beside
from zero2hero.lora.inject import unwrap


def merge_adapter_folder(adapter_dir: Path, out: Path) -> Path:
    """Merge the adapter in ``adapter_dir`` into its base model and ``save_pretrained`` model and tokenizer into
    ``out`` (written whole under a temporary name, then renamed; an existing ``out`` is refused). Returns ``out``.
    """
    adapter_dir, out = adapter_folder(adapter_dir) or Path(adapter_dir), Path(out)  # a run folder: its model/
    if not (adapter_dir / CONFIG_FILE).is_file():
        raise InputError(f"{adapter_dir} is not a LoRA adapter folder (it has no {CONFIG_FILE})",
                         "pass the model/ folder of a `z2h finetune --lora` run, or a folder save_adapter wrote")
    if out.exists():
        raise InputError(f"{out} already exists", "pass --out a new folder name")
    task = read_adapter_config(adapter_dir).task_type
    kind = next((kind for kind, kind_task in KINDS.items() if kind_task == task), None)
    if kind is None:
        raise InputError(f"the adapter in {adapter_dir} has the task type {task!r}, which zero2hero cannot merge",
                         f"merge an adapter whose adapter_config.json has task_type {' or '.join(KINDS.values())}")
    model, base_tokenizer = load_adapted_model(adapter_dir, kind=kind)
    merged = unwrap(model)
    with atomic_dir(out) as tmp:
        merged.save_pretrained(tmp)
        tokenizer_beside(adapter_dir, base_tokenizer).save_pretrained(tmp)
    return out
