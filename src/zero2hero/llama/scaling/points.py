"""The cache of trained points: one JSON file per (size, budget), and the final weights of chosen points.

Layout under a cache folder (one per recipe, see :meth:`~zero2hero.llama.scaling.plan.ScalingPlan.recipe_key`)::

    data/                     tokenizer.json, train.npy, validation.npy
    points/s3-131072.json     one finished point (a Point as JSON)
    points/s3-131072-r1.json  the same point trained again with the next seed (replica 1)
    weights/s3-524288/        model.safetensors + config.json: fp32 weights of a size at its largest budget
    work/s3-131072/last/      the checkpoint of a point in progress (removed when it finishes)

A point's JSON is written last, atomically, once its weights (if any) are in place: a file present means the
point is finished, so a rerun skips it and an interrupted one resumes from ``work/``.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from zero2hero.assets import cache_dir
from zero2hero.errors import InputError
from zero2hero.files import atomic_write_text


@dataclass(frozen=True)
class Point:
    """One trained model: its size, the tokens it trained on, its held-out loss and what it cost."""

    size: str
    non_embedding_params: int  # N (Kaplan's count: L(N) is fitted on it)
    total_params: int  # every weight; with tied embeddings, N_matmul (Chinchilla's count: the IsoFLOP frontier's)
    flops_per_token: int  # training FLOPs per token, family.training_flops_per_token
    tokens: int  # D: tokens trained on (steps × batch × context)
    steps: int
    loss: float  # mean cross-entropy on the held-out tokens, nats/token
    train_seconds: float  # training steps only (not evaluation, not checkpoint writes)
    learning_rate: float
    warmup_steps: int
    world_size: int  # processes that trained it
    config: dict[str, Any]  # the LlamaConfig fields
    replica: int = 0  # 0: the plan's seed; r: the same point trained again with seed + r

    @property
    def compute(self) -> float:
        """C = flops_per_token · D: ``6·N_matmul·D + 12·n_layer·n_ctx·d_attn·D`` floating-point operations."""
        return float(self.flops_per_token) * self.tokens

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_seconds if self.train_seconds > 0 else float("nan")


def default_root(recipe_key: str) -> Path:
    """The cache folder of a recipe under zero2hero's cache (``$Z2H_CACHE``, else ``~/.cache/zero2hero``)."""
    return cache_dir() / "llama-scaling" / recipe_key


class PointCache:
    """Finished points and kept weights under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def point_path(self, size: str, tokens: int, replica: int = 0) -> Path:
        return self.root / "points" / f"{size}-{tokens}{f'-r{replica}' if replica else ''}.json"

    def weights_dir(self, size: str, tokens: int) -> Path:
        return self.root / "weights" / f"{size}-{tokens}"

    def work_dir(self, size: str, tokens: int, replica: int = 0) -> Path:
        return self.root / "work" / f"{size}-{tokens}{f'-r{replica}' if replica else ''}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def get(self, size: str, tokens: int, replica: int = 0) -> Point | None:
        """The finished point, or None when it was never finished."""
        path = self.point_path(size, tokens, replica)
        return _read_point(path) if path.is_file() else None

    def put(self, point: Point) -> None:
        atomic_write_text(self.point_path(point.size, point.tokens, point.replica),
                          json.dumps(asdict(point), indent=2, sort_keys=True))

    def all_points(self) -> list[Point]:
        """Every finished point in the cache (replicas included), by size, tokens and replica."""
        points = [_read_point(path) for path in (self.root / "points").glob("*.json")]
        return sorted(points, key=lambda p: (p.non_embedding_params, p.tokens, p.replica))


def _read_point(path: Path) -> Point:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Point(**{field.name: raw[field.name] for field in fields(Point)
                        if field.name in raw or field.default is MISSING})
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"the cached point {path} is damaged ({err})",
                         "delete that file: the point will be trained again") from None
