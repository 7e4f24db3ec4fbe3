"""Stage train_generator: the reply generator's LoRA fine-tune (:mod:`zero2hero.pipeline.reply_sft`) on the train
split, in this process or on ``generator.processes`` processes under torchrun.

Out: ``models/generator/``, a PEFT adapter folder (``adapter_config.json``, ``adapter_model.safetensors``) with the
tokenizer. The run's checkpoint stays in the stage's checkpoint folder until the stage is done, so a killed run,
started again, goes on from its last checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from typing import Any

from zero2hero.files import atomic_write_text
from zero2hero.pipeline.reply_sft import RESULT_FILE, ReplySFTConfig, train_replies
from zero2hero.pipeline.stage_context import StageContext
from zero2hero.pipeline.stage_io import read_records, replaced_dir, run_torchrun

CHECKPOINTS_PER_RUN = 4  # a checkpoint every quarter of the steps


def sft_config(params: dict[str, Any], seed: int) -> ReplySFTConfig:
    """The ``generator`` section as the fine-tune's settings."""
    steps = int(params["steps"])
    return ReplySFTConfig(base=str(params["base"]), rank=int(params["rank"]), alpha=float(params["alpha"]),
                          targets=str(params["targets"]), steps=steps, learning_rate=float(params["learning_rate"]),
                          batch_size=int(params["batch_size"]), max_length=int(params["max_length"]),
                          train_examples=params.get("train_examples"), seed=seed,
                          checkpoint_every=max(1, steps // CHECKPOINTS_PER_RUN))


def run(ctx: StageContext) -> dict[str, Any]:
    params = ctx.params["generator"]
    config = sft_config(params, int(ctx.params["seed"]))
    processes, threads = int(params["processes"]), int(params["threads_per_process"])
    checkpoint = ctx.checkpoint_dir()
    adapter = checkpoint / "adapter"  # written by the run's rank 0, then moved into the out
    shutil.rmtree(adapter, ignore_errors=True)
    train_file = ctx.path("data/splits/train.jsonl")
    ctx.progress(f"fine-tuning the reply generator: {config.steps} steps of {config.batch_size} on {processes} "
                 f"process(es)")
    if processes == 1:
        import torch

        torch.set_num_threads(threads)
        train_replies(read_records(train_file), config, adapter, checkpoint)
    else:
        checkpoint.mkdir(parents=True, exist_ok=True)
        atomic_write_text(checkpoint / "config.json", json.dumps(asdict(config)))
        run_torchrun("zero2hero.pipeline.reply_sft",
                     ["--config", str(checkpoint / "config.json"), "--data", str(train_file), "--out", str(adapter),
                      "--checkpoint", str(checkpoint)], processes, threads)
    result = json.loads((checkpoint / RESULT_FILE).read_text(encoding="utf-8"))
    with replaced_dir(ctx.path("models/generator")) as out:
        shutil.copytree(adapter, out, dirs_exist_ok=True)
    shutil.rmtree(checkpoint, ignore_errors=True)
    losses = [record["loss"] for record in result["losses"]]
    return {"base": config.base, "processes": processes, "steps": config.steps, "batch_size": config.batch_size,
            "examples": result["examples"], "reviews_cut": result["cut"], "dropped_too_long": result["dropped"],
            "trainable_parameters": result["trainable_parameters"], "total_parameters": result["total_parameters"],
            "seconds": result["seconds"], "tokens_per_s": result["tokens"] / result["seconds"],
            "resumed_from_step": result["resumed_from_step"], "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None, "losses": losses}
