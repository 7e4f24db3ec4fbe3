"""The same training loop on several processes: distributed data parallel (DDP).

Each process holds a full copy of the model and trains on its own share of every batch
(:func:`zero2hero.finetuning.batching.rank_share`). After the backward pass DDP averages the gradients
of all processes (an all-reduce), so every copy takes the same optimizer step and the copies stay
identical. With a per-process batch of B on N processes, a step sees the same N×B examples, and gives the
same update, as one process with a batch of N×B (up to floating-point rounding): that is what the tests check.

Run it with torchrun, which starts the processes and tells each its ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` (the loop reads them; with ``WORLD_SIZE`` > 1 it starts the process group and wraps the model)::

    torchrun --nproc_per_node 2 -m zero2hero.finetuning.distributed --config config.json --data splits.json

(add ``--adaptation lora.json`` to train with a parameter-efficient method: see :func:`adaptation_from_json`).

On a CPU the processes talk through the ``gloo`` backend. The same command scales up unchanged:

* one node with 8 GPUs: ``torchrun --nproc_per_node 8 -m zero2hero.finetuning.distributed ...`` — each
  process takes the GPU of its ``LOCAL_RANK`` and the ``nccl`` backend (GPU-to-GPU over NVLink/PCIe);
* several nodes: run the same command on each node with ``--nnodes 4 --nproc_per_node 8
  --rdzv-backend c10d --rdzv-endpoint HOST:29400 --rdzv-id RUN_NAME``, where HOST is one of the nodes: the
  processes meet there and get ranks 0..31.

The global batch is ``batch_size × gradient_accumulation_steps × WORLD_SIZE``: when you add processes,
lower the per-process batch or the accumulation steps to keep the hyper-parameters of a run.

Only rank 0 writes checkpoints and ``history.json``; every process evaluates the whole validation set
(the copies are identical, so they reach the same early-stopping decision without extra messages).
``--resume`` works, but the checkpoint holds rank 0's random state only and every process restores it:
with dropout on, a resumed multi-process run is close to, not bit-identical with, an uninterrupted one.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from zero2hero.errors import InputError, Zero2HeroError
from zero2hero.finetuning.data import Example, LabelledSplits


@dataclass(frozen=True)
class World:
    """This process's place among the processes training together."""

    rank: int = 0  # 0..world_size-1 over all nodes
    local_rank: int = 0  # index on this node (which GPU to use)
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """Read ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` as torchrun sets them (one process when they are absent)."""
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                 int(os.environ.get("WORLD_SIZE", 1)))


def join(world: World, device: torch.device) -> None:
    """Start the process group (once): ``nccl`` between GPUs, ``gloo`` between CPU processes."""
    if world.world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def wrap(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """Wrap the model in DDP when there are several processes (it averages gradients in ``backward``)."""
    if world.world_size == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def mean_over_processes(value: float, world: World, device: torch.device) -> float:
    """The mean of a number over all processes (each process's training loss, for the log)."""
    if world.world_size == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.item() / world.world_size


def wait_for_all(world: World) -> None:
    """Barrier: the other processes wait while rank 0 writes a checkpoint."""
    if world.world_size > 1:
        dist.barrier()


def splits_from_json(path: Path) -> LabelledSplits:
    """Read splits written as {"train": [{"text", "label"}...], "validation": [...], "test": [...], "label_names"}."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        parts = {name: [Example(str(row["text"]), int(row["label"])) for row in raw.get(name, [])]
                 for name in ("train", "validation", "test")}
        return LabelledSplits(**parts, label_names=[str(name) for name in raw["label_names"]])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"cannot read the splits in {path}: {err}",
                         'write {"train": [{"text": ..., "label": 0}, ...], "validation": [...], '
                         '"label_names": [...]}') from None


def main(argv: list[str] | None = None) -> None:
    """Entry point for torchrun: train with a JSON config (TrainConfig fields) on JSON splits."""
    from zero2hero.finetuning.loop import train
    from zero2hero.finetuning.train_config import TrainConfig

    parser = argparse.ArgumentParser(description="Fine-tune a classifier on one or several processes.")
    parser.add_argument("--config", type=Path, required=True, help="JSON object of TrainConfig fields")
    parser.add_argument("--data", type=Path, required=True, help="JSON splits (see splits_from_json)")
    parser.add_argument("--resume", action="store_true", help="continue from the output folder's last checkpoint")
    parser.add_argument("--adaptation", type=Path, default=None,
                        help='JSON {"class": "package.module:Name", "settings": {...}}: a parameter-efficient method '
                             '(e.g. zero2hero.lora.finetune_adaptation:LoRAAdaptation); default: every weight trains')
    args = parser.parse_args(argv)
    try:
        adaptation = adaptation_from_json(args.adaptation) if args.adaptation else None
        train(splits_from_json(args.data), _config_from_json(args.config, TrainConfig), adaptation,
              resume=args.resume)
    except Zero2HeroError as err:  # one line, no traceback
        sys.exit(f"error: {err}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def adaptation_from_json(path: Path) -> Any:
    """The :class:`~zero2hero.finetuning.adaptation.Adaptation` a JSON file names: its class by import path and the
    settings it is made with. Named, not imported here, because the methods come from later chapters (LoRA: 6)."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        module_name, class_name = spec["class"].split(":")
        adaptation_class = getattr(importlib.import_module(module_name), class_name)
        return adaptation_class(**spec.get("settings", {}))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError) as err:
        if isinstance(err, Zero2HeroError):
            raise
        raise InputError(f"cannot make the adaptation in {path}: {err}",
                         'write {"class": "zero2hero.lora.finetune_adaptation:LoRAAdaptation", '
                         '"settings": {"rank": 8, "alpha": 16, "targets": "query,value"}}') from None


def _config_from_json(path: Path, config_class: type) -> Any:
    try:
        return config_class(**json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as err:
        if isinstance(err, Zero2HeroError):
            raise
        raise InputError(f"cannot read the configuration in {path}: {err}",
                         "write a JSON object whose keys are TrainConfig fields") from None


if __name__ == "__main__":
    main()
