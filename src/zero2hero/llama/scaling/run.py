"""Running a plan: every (size, budget) point, each trained once and cached, in order of cost; and the replicas, the
points the plan trains a second time with the next seed (where seed-to-seed noise is as large as the effects).

:func:`run_plan` is what the lab calls. A point already in the cache is read, not trained; a point interrupted
half-way resumes from its checkpoint. The largest budget of each size also keeps its final fp32 weights (for
quantising them later), written before the point itself, so a cached point always has them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from zero2hero.finetuning.distributed import World
from zero2hero.llama.scaling.data import TokenData, course_data
from zero2hero.llama.scaling.family import llama_config, size_named, training_flops_per_token
from zero2hero.llama.scaling.plan import ScalingPlan
from zero2hero.llama.scaling.points import Point, PointCache, default_root
from zero2hero.llama.scaling.train import ONE_PROCESS, PointSpec, finish_work, save_weights, train_point


def plan_cache(plan: ScalingPlan, root: Path | None = None) -> PointCache:
    """The cache of the plan's recipe: under ``root`` if given, else under zero2hero's cache folder."""
    return PointCache(Path(root) if root is not None else default_root(plan.recipe_key()))


def plan_data(plan: ScalingPlan, cache: PointCache) -> TokenData:
    return course_data(plan.vocab_size, plan.tokenizer_chars, cache.data_dir)


def train_and_cache(plan: ScalingPlan, size: str, tokens: int, root: Path | None = None, world: World = ONE_PROCESS,
                    data: TokenData | None = None, progress: bool = True, replica: int = 0) -> Point:
    """The point (size, tokens) of the plan: from the cache, else trained (resuming if interrupted) and cached.

    ``replica`` r trains the same point with the seed ``plan.seed + r`` (other initial weights, other batches)."""
    cache = plan_cache(plan, root)
    keep_weights = tokens == max(plan.budgets) and replica == 0
    cached = cache.get(size, tokens, replica)
    if cached is not None and (not keep_weights or cache.weights_dir(size, tokens).is_dir()):
        return cached
    spec = PointSpec(size, tokens, plan.context, plan.batch_size, plan.seed + replica)
    work = cache.work_dir(size, tokens, replica)
    point, model = train_point(spec, data or plan_data(plan, cache), work, plan.validation_tokens, world,
                               progress=progress)
    point = replace(point, replica=replica)
    if world.is_main:
        if keep_weights:
            save_weights(cache.weights_dir(size, tokens), model)
        cache.put(point)
        finish_work(work)
    return point


def run_plan(plan: ScalingPlan, root: Path | None = None, progress: bool = True) -> list[Point]:
    """Every run of the plan (:meth:`ScalingPlan.runs`), cheapest first; returns them by size, budget and replica."""
    cache = plan_cache(plan, root)
    data = plan_data(plan, cache)
    runs = sorted(plan.runs(), key=lambda run: (training_flops_per_token(
        llama_config(size_named(run[0]), plan.vocab_size, plan.context), plan.context) * run[1], run[2]))
    points = [train_and_cache(plan, size, tokens, cache.root, data=data, progress=progress, replica=replica)
              for size, tokens, replica in runs]
    return sorted(points, key=lambda p: (p.non_embedding_params, p.tokens, p.replica))

