"""What a scaling study trains: which sizes, which token budgets, and the settings shared by every point.

:data:`QUICK` (3 sizes × 2 budgets, about a minute on 2 cores) shows the method; its fits have wide error bars and
say little. :data:`FULL` (7 sizes spanning 241× in non-embedding parameters and 51× in all parameters, × 5 budgets
spanning 16×) is the experiment; its extra points train the four smallest sizes longer (s0 up to 4 M tokens, s1 and
s2 up to 2 M, s3 1 M), so that at a fixed compute the IsoFLOP profiles reach small models trained past their
optimum as well as large ones stopped short of it; and it trains the three smallest budgets of every size a second
time with the next seed (``replicas``): there the loss is still leaving its plateau, at a step that varies from seed
to seed. Both plans share every setting but the grid, so their points
share one cache: a full run reuses what the quick run trained."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from zero2hero.errors import InputError
from zero2hero.llama.scaling import family

RECIPE_VERSION = 2  # bump when the training code changes what a point's loss would be


@dataclass(frozen=True)
class ScalingPlan:
    """The grid (sizes × budgets) and the settings shared by every point."""

    sizes: tuple[str, ...]
    budgets: tuple[int, ...]  # training tokens per point
    extra_points: tuple[tuple[str, int], ...] = ()  # (size, tokens) beyond the grid: longer runs of small sizes
    replicas: tuple[tuple[str, int], ...] = ()  # (size, tokens) of the grid trained a second time, with seed + 1
    vocab_size: int = 2048
    context: int = 128
    batch_size: int = 2  # sequences per optimizer step: 256 tokens, so that even 32,768 tokens make 128 steps
    tokenizer_chars: int = 2_000_000  # the BPE is trained on this many characters, spread over the training text
    validation_tokens: int = 32_768
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (*self.sizes, *(size for size, _ in self.extra_points)):
            family.size_named(name)
        too_small = [tokens for _, tokens in self.grid() if tokens < self.tokens_per_step]
        if not self.sizes or not self.budgets or too_small:
            raise InputError(f"a plan needs sizes and budgets of at least one step ({self.tokens_per_step} tokens); "
                             f"got sizes {self.sizes}, budgets {self.budgets}",
                             "name at least one size and budgets of batch_size × context tokens or more")
        strays = [point for point in self.replicas if point not in self.grid()]
        if strays:
            raise InputError(f"replicas {strays} are not points of the plan", "repeat only (size, tokens) it trains")

    def grid(self) -> list[tuple[str, int]]:
        """Every (size, tokens) point: sizes × budgets, then the extra points."""
        grid = [(size, tokens) for size in self.sizes for tokens in self.budgets]
        return grid + [point for point in self.extra_points if point not in grid]

    def runs(self) -> list[tuple[str, int, int]]:
        """Every training run, (size, tokens, replica): the grid as replica 0, then the replicas as replica 1."""
        first = [(size, tokens, 0) for size, tokens in self.grid()]
        return first + [(size, tokens, 1) for size, tokens in self.replicas]

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    def recipe_key(self) -> str:
        """A short digest of everything but the grid: points with the same key are interchangeable."""
        grid_fields = ("sizes", "budgets", "extra_points", "replicas")
        settings = {name: value for name, value in asdict(self).items() if name not in grid_fields}
        settings |= {"version": RECIPE_VERSION, "base_lr": family.BASE_LEARNING_RATE,
                     "warmup_share": family.WARMUP_SHARE, "init_std": family.INIT_STD}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


QUICK = ScalingPlan(sizes=("s1", "s2", "s3"), budgets=(16_384, 65_536))
FULL = ScalingPlan(sizes=tuple(size.name for size in family.LADDER),
                   budgets=(32_768, 65_536, 131_072, 262_144, 524_288),
                   extra_points=(("s0", 1_048_576), ("s0", 2_097_152), ("s0", 4_194_304), ("s1", 1_048_576),
                                 ("s1", 2_097_152), ("s2", 1_048_576), ("s2", 2_097_152), ("s3", 1_048_576)),
                   replicas=tuple((size.name, tokens) for size in family.LADDER
                                  for tokens in (32_768, 65_536, 131_072)))
