"""Training one point of the study: one size for one token budget, from scratch, then its held-out loss.

Every step draws ``batch_size`` windows of ``context + 1`` tokens at random places of the training ids; the places
come from a generator seeded with (seed, step), so the data of step k is the same whether the run went straight
through, was resumed, or runs on several processes. The initial weights come from the seed too
(:func:`~zero2hero.llama.scaling.family.build_model`).

**Resume.** Every ``checkpoint_every`` steps the folder ``work/last/`` is replaced (atomically, with chapter 5's
:func:`~zero2hero.finetuning.checkpoint.replace_folder`) by the weights, AdamW's moments, the scheduler's step,
the random generators and the seconds spent so far. Training that stops — Ctrl-C, a crash, or ``stop_after``
steps — continues from there on the next call, and ends with the same weights as a run that never stopped.

**Several processes.** Under ``torchrun --nproc_per_node 2`` (see :func:`main`) each process takes its share of
every step's windows (rows ``rank, rank + world_size, ...``) and DDP averages the gradients: the same update as
one process on the whole batch, up to floating-point rounding. Only rank 0 writes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from zero2hero.errors import InputError, Zero2HeroError
from zero2hero.finetuning.checkpoint import capture_rng, replace_folder, restore_rng
from zero2hero.finetuning.distributed import World, join, mean_over_processes, wait_for_all, world_from_env, wrap
from zero2hero.finetuning.schedule import make_optimizer, make_scheduler
from zero2hero.llama.model import Llama
from zero2hero.llama.scaling import family
from zero2hero.llama.scaling.data import TokenData
from zero2hero.llama.scaling.points import Point

CPU = torch.device("cpu")
ONE_PROCESS = World()
GRADIENT_CLIP = 1.0
STATE_FILE = "state.pt"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class PointSpec:
    """What one point trains: a size for a number of tokens, with the plan's batch, context and seed."""

    size: str
    tokens: int
    context: int
    batch_size: int
    seed: int

    @property
    def steps(self) -> int:
        """Optimizer steps: the budget in whole batches (the tokens actually trained on are steps × batch × context)."""
        return max(1, self.tokens // (self.batch_size * self.context))


def batch_at(train_ids: torch.Tensor, spec: PointSpec, step: int) -> torch.Tensor:
    """The windows of step ``step``: (batch_size, context + 1) token ids, the same on every process."""
    generator = torch.Generator().manual_seed(spec.seed * 1_000_003 + step)
    starts = torch.randint(0, len(train_ids) - spec.context - 1, (spec.batch_size,), generator=generator)
    return torch.stack([train_ids[start: start + spec.context + 1] for start in starts.tolist()])


def next_token_loss(model: torch.nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats/token) of predicting ``windows[:, 1:]`` from ``windows[:, :-1]``; windows: (b, t+1)."""
    logits, _ = model(windows[:, :-1])  # (b, t, vocab)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate(model: Llama, validation_ids: torch.Tensor, context: int, n_tokens: int, batch_size: int = 32) -> float:
    """Mean held-out cross-entropy in nats/token over ``n_tokens // context`` windows spread evenly over the ids."""
    n_windows = max(1, min(n_tokens, len(validation_ids) - 1) // context)
    last_start = len(validation_ids) - context - 1
    if last_start < 0:
        raise InputError(f"the held-out text has {len(validation_ids)} tokens, fewer than one window of {context}",
                         "use a longer held-out text or a shorter context")
    starts = torch.linspace(0, last_start, n_windows).long().tolist()
    model.eval()
    total = 0.0
    for first in range(0, n_windows, batch_size):
        windows = torch.stack([validation_ids[s: s + context + 1] for s in starts[first: first + batch_size]])
        total += next_token_loss(model, windows).item() * len(windows)
    return total / n_windows


def _save_checkpoint(folder: Path, model: Llama, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler, step: int, seconds: float,
                     spec: PointSpec) -> None:
    def write(tmp: Path) -> None:
        save_file({name: w.contiguous() for name, w in model.state_dict().items()}, tmp / WEIGHTS_FILE)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": capture_rng(),
                    "step": step, "seconds": seconds, "spec": asdict(spec)}, tmp / STATE_FILE)

    replace_folder(folder, write)


def _load_checkpoint(folder: Path, model: Llama, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler, spec: PointSpec) -> tuple[int, float]:
    """Load ``folder`` into model, optimizer, scheduler and generators; return (steps done, seconds spent)."""
    saved = torch.load(folder / STATE_FILE, weights_only=True)
    if saved["spec"] != asdict(spec):
        raise InputError(f"the checkpoint in {folder} was made for {saved['spec']}, not {asdict(spec)}",
                         "delete that folder to train this point from scratch")
    model.load_state_dict(load_file(folder / WEIGHTS_FILE), strict=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng(saved["rng"])
    return saved["step"], saved["seconds"]


def train_point(spec: PointSpec, data: TokenData, work: Path, validation_tokens: int, world: World = ONE_PROCESS,
                checkpoint_every: int = 100, stop_after: int | None = None,
                progress: bool = True) -> tuple[Point, Llama] | None:
    """Train (or resume) one point in the folder ``work``; return the finished point and its model.

    ``stop_after``: do at most this many steps in this call, checkpoint and return None (the next call resumes).
    """
    size = family.size_named(spec.size)
    cfg = family.llama_config(size, data.vocab_size, spec.context)
    model = family.build_model(cfg, spec.seed)
    lr, warmup = family.learning_rate(size), family.warmup_steps(spec.steps)
    optimizer = make_optimizer(model, lr, weight_decay=0.0)
    scheduler = make_scheduler(optimizer, warmup, spec.steps)
    last = Path(work) / "last"
    start, seconds = (_load_checkpoint(last, model, optimizer, scheduler, spec) if (last / STATE_FILE).is_file()
                      else (0, 0.0))
    join(world, CPU)
    trained = wrap(model, world, CPU)
    end = spec.steps if stop_after is None else min(spec.steps, start + stop_after)
    bar = tqdm(range(start, end), initial=start, total=spec.steps, desc=f"{spec.size} {spec.tokens:,} tokens",
               disable=not (progress and world.is_main), leave=False)
    trained.train()
    for step in bar:
        began = time.perf_counter()
        rows = batch_at(data.train, spec, step)[world.rank::world.world_size]  # this process's share
        loss = next_token_loss(trained, rows)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds += time.perf_counter() - began
        if step % 10 == 0:
            bar.set_postfix(loss=f"{mean_over_processes(loss.item(), world, CPU):.3f}")
        done = step + 1
        if done < spec.steps and (done % checkpoint_every == 0 or done == end):
            if world.is_main:
                _save_checkpoint(last, model, optimizer, scheduler, done, seconds, spec)
            wait_for_all(world)
    bar.close()
    if end < spec.steps:
        return None
    loss = evaluate(model, data.validation, spec.context, validation_tokens)
    point = Point(size=spec.size, non_embedding_params=family.non_embedding_params(cfg),
                  total_params=sum(p.numel() for p in model.parameters()),
                  flops_per_token=family.training_flops_per_token(cfg, spec.context),
                  tokens=spec.steps * spec.batch_size * spec.context, steps=spec.steps, loss=loss,
                  train_seconds=seconds, learning_rate=lr, warmup_steps=warmup, world_size=world.world_size,
                  config=asdict(cfg))
    return point, model


def save_weights(folder: Path, model: Llama) -> None:
    """Replace ``folder`` by the model's fp32 weights (``model.safetensors``) and its ``config.json``."""
    def write(tmp: Path) -> None:
        save_file({name: w.contiguous() for name, w in model.state_dict().items()}, tmp / WEIGHTS_FILE)
        (tmp / "config.json").write_text(json.dumps(asdict(model.config), indent=2), encoding="utf-8")

    replace_folder(folder, write)


def finish_work(work: Path) -> None:
    """Remove a finished point's checkpoint folder."""
    shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point for torchrun: train one point of a plan on its cached data; rank 0 caches the point.

    ``torchrun --nproc_per_node 2 -m zero2hero.llama.scaling.train --plan plan.json --size s3 --tokens 131072``
    """
    from zero2hero.llama.scaling.plan import ScalingPlan
    from zero2hero.llama.scaling.run import train_and_cache

    parser = argparse.ArgumentParser(description="Train one point of a scaling study on one or several processes.")
    parser.add_argument("--plan", type=Path, required=True, help="JSON object of ScalingPlan fields")
    parser.add_argument("--size", required=True, help="a size of the ladder (s1 ... s6)")
    parser.add_argument("--tokens", type=int, required=True, help="training tokens")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: zero2hero's cache)")
    args = parser.parse_args(argv)
    try:
        raw = json.loads(args.plan.read_text(encoding="utf-8"))
        for grid_field in ("extra_points", "replicas"):
            raw[grid_field] = [tuple(point) for point in raw.get(grid_field, [])]
        plan = ScalingPlan(**{key: tuple(value) if isinstance(value, list) else value for key, value in raw.items()})
    except (OSError, ValueError, TypeError, AttributeError) as err:
        sys.exit(f"error: cannot read the plan {args.plan}: {err} — write a JSON object of ScalingPlan fields")
    try:
        point = train_and_cache(plan, args.size, args.tokens, args.cache, world_from_env())
        if world_from_env().is_main:
            print(json.dumps(asdict(point) | {"tokens_per_s": point.tokens_per_s}))
    except Zero2HeroError as err:  # one line, no traceback
        sys.exit(f"error: {err}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
