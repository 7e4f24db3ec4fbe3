"""Fitting scaling laws to the trained points: power laws, their bootstrap intervals, and the IsoFLOP frontier.

* :func:`fit_power_law` fits ``L(x) = E + A·x^(−α)`` (x: non-embedding parameters N, or training tokens D) by least
  squares on ``log L``: each point counts by its *relative* error, as losses of 3 and 6 nats are equally noisy in
  relative terms. E (the loss no size removes: the text's own entropy, plus what this recipe never learns) is
  bounded to ``[0, min L)``. A grid over E gives the start (for each E the fit of ``log(L − E)`` is a straight line),
  ``scipy.optimize.least_squares`` then refines all three numbers.
* :func:`bootstrap_power_law` refits on points drawn with replacement (200 times by default) and reports the 5th
  and 95th percentiles: a 90 % interval, and a band of curves for the plots. With few points the intervals are wide;
  that is what the data says, not a flaw of the fit.
* :func:`isoflop_profiles` is Hoffmann et al.'s "approach 2": at a fixed compute C each size can only afford
  ``D = C / flops_per_token`` tokens (``≈ C / 6N``, see :attr:`Point.compute`); its loss there is interpolated
  (linearly in log C) between its trained budgets. Along that IsoFLOP line a parabola in log N, fitted to the best
  size and up to two sizes on each side of it, gives the size with the lowest loss, hence the compute-optimal N, D
  and tokens per parameter. Only near its minimum is a profile a parabola: sizes far too large for C stop after a
  few hundred steps and their loss rises much faster than a parabola through the minimum would say. N here is every
  parameter (:attr:`Point.total_params`), as Chinchilla counts them: with tied embeddings, the weights that multiply
  and the norm scales.
  :func:`bootstrap_frontier` redoes it on resampled points.
* :func:`fit_joint` is their "approach 3": ``L(N, D) = E + A/N^α + B/D^β`` on every point at once (N: non-embedding,
  as for L(N)), and :func:`bootstrap_joint` its 90 % intervals.

The published values we compare with are in :data:`PUBLISHED` (theirs, cited; not measured here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from zero2hero.errors import InputError
from zero2hero.llama.scaling.points import Point

LEVEL = 0.90  # the bootstrap intervals' coverage
MIN_PROFILE_SIZES = 3  # a parabola needs three sizes at one compute
PARABOLA_REACH = 2  # the IsoFLOP parabola is fitted to the best size and up to this many sizes on each side

# Published values, as commonly quoted from the papers (not measured here):
# Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361): L(N) ∝ N^-0.076 (non-embedding
# parameters, trained to convergence), L(D) ∝ D^-0.095. Hoffmann et al. 2022, "Training Compute-Optimal Large
# Language Models" (Chinchilla, arXiv:2203.15556), the parametric fit L(N, D) = E + A/N^α + B/D^β (their approach
# 3): E = 1.69, α = 0.34, β = 0.28; and about 20 training tokens per parameter at the compute optimum (Chinchilla:
# 70 B parameters, 1.4 T tokens).
PUBLISHED = {
    "kaplan2020_alpha_n": 0.076,
    "kaplan2020_alpha_d": 0.095,
    "hoffmann2022_alpha": 0.34,
    "hoffmann2022_beta": 0.28,
    "hoffmann2022_e_nats": 1.69,
    "hoffmann2022_tokens_per_param": 20.0,
}


@dataclass(frozen=True)
class PowerLaw:
    """``L(x) = E + A·x^(−exponent)``."""

    e: float
    a: float
    exponent: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.e + self.a * np.asarray(x, dtype=float) ** -self.exponent


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def _check_points(x: np.ndarray, y: np.ndarray, needed: int) -> None:
    if len(np.unique(x)) < needed or np.any(x <= 0) or np.any(y <= 0) or x.shape != y.shape:
        raise InputError(f"this power law needs at least {needed} distinct positive x with positive losses; "
                         f"got x={x}, y={y}", "train more sizes (or budgets) before fitting, or fix E at 0")


def fit_power_law(x: Sequence[float], y: Sequence[float], free_e: bool = True) -> PowerLaw:
    """Least-squares fit of ``log y ≈ log(E + A·x^(−α))`` with ``0 ≤ E < min y`` and ``0 ≤ α ≤ 3``.

    ``free_e=False`` fixes E at 0: a straight line in log-log axes, which two points determine (E needs a third
    point, and a fourth before a bootstrap can vary anything).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    _check_points(x, y, 3 if free_e else 2)
    log_x, log_y = np.log(x), np.log(y)
    if not free_e:
        slope, intercept = np.polyfit(log_x, log_y, 1)
        return PowerLaw(0.0, float(np.exp(intercept)), float(-slope))
    e_max = float(y.min()) * (1 - 1e-6)

    def residuals(params: np.ndarray) -> np.ndarray:
        e, log_a, exponent = params
        return np.log(e + np.exp(log_a - exponent * log_x)) - log_y

    best = None
    for e in np.linspace(0.0, e_max, 60, endpoint=False):  # start: for a fixed E, log(y - E) is a line in log x
        slope, intercept = np.polyfit(log_x, np.log(y - e), 1)
        start = np.array([e, intercept, float(np.clip(-slope, 0.0, 3.0))])
        cost = float(np.sum(residuals(start) ** 2))
        if best is None or cost < best[0]:
            best = (cost, start)
    fitted = least_squares(residuals, best[1], bounds=([0.0, -np.inf, 0.0], [e_max, np.inf, 3.0]))
    e, log_a, exponent = fitted.x
    return PowerLaw(float(e), float(np.exp(log_a)), float(exponent))


@dataclass(frozen=True)
class LawFit:
    """A power law, its 90 % bootstrap intervals, and the resampled laws (for bands)."""

    law: PowerLaw
    exponent: Interval
    e: Interval
    resampled: tuple[PowerLaw, ...]

    def band(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The 5th and 95th percentile of the resampled curves at ``x``: two arrays shaped like ``x``."""
        curves = np.stack([law(x) for law in self.resampled])  # (resamples, len(x))
        tail = (1 - LEVEL) / 2 * 100
        return np.percentile(curves, tail, axis=0), np.percentile(curves, 100 - tail, axis=0)


def _interval(values: Sequence[float]) -> Interval:
    tail = (1 - LEVEL) / 2 * 100
    return Interval(float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))


def bootstrap_power_law(x: Sequence[float], y: Sequence[float], resamples: int = 200, seed: int = 0,
                        free_e: bool = True) -> LawFit:
    """The fit on all points, and on ``resamples`` draws of the points with replacement (draws with too few distinct
    x for the fit are drawn again)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    law = fit_power_law(x, y, free_e)
    rng = np.random.default_rng(seed)
    laws: list[PowerLaw] = []
    while len(laws) < resamples:
        pick = rng.integers(0, len(x), len(x))
        if len(np.unique(x[pick])) >= (3 if free_e else 2):
            laws.append(fit_power_law(x[pick], y[pick], free_e))
    return LawFit(law, _interval([w.exponent for w in laws]), _interval([w.e for w in laws]), tuple(laws))


def loss_vs_params(points: Sequence[Point], tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, loss) of the points trained on ``tokens`` tokens, by N (a replica is one more point at its N)."""
    chosen = sorted((p for p in points if p.tokens == tokens), key=lambda p: p.non_embedding_params)
    return np.array([p.non_embedding_params for p in chosen], float), np.array([p.loss for p in chosen])


def loss_vs_tokens(points: Sequence[Point], size: str) -> tuple[np.ndarray, np.ndarray]:
    """(D, loss) of the points of one size, by D."""
    chosen = sorted((p for p in points if p.size == size), key=lambda p: p.tokens)
    return np.array([p.tokens for p in chosen], float), np.array([p.loss for p in chosen])


# ---- IsoFLOP: the compute-optimal frontier ------------------------------------------------------------------------

@dataclass(frozen=True)
class IsoFlopProfile:
    """Losses of the sizes at one compute, and the size with the lowest loss there."""

    compute: float  # C, floating-point operations (Point.compute)
    params: tuple[float, ...]  # N (all parameters) of the sizes that reach C within their trained budgets
    losses: tuple[float, ...]  # their interpolated losses at C
    flops_per_token: tuple[float, ...]  # their training FLOPs per token
    optimal_params: float  # N*: the parabola's vertex (or the best size, when the vertex is not inside)
    vertex_inside: bool  # False: the best size is the smallest or the largest, or the parabola has no minimum there

    @property
    def optimal_tokens(self) -> float:
        """D* = C / (FLOPs per token at N*), interpolated in log-log between the sizes."""
        log_fpt = np.interp(np.log(self.optimal_params), np.log(self.params), np.log(self.flops_per_token))
        return self.compute / float(np.exp(log_fpt))

    @property
    def tokens_per_param(self) -> float:
        return self.optimal_tokens / self.optimal_params

    def parabola(self) -> tuple[np.ndarray, tuple[float, float]]:
        """The fitted parabola's coefficients (``numpy.polyval``'s order, in log N) and the N range it was fitted on."""
        low, high, coefficients = _local_parabola(np.log(self.params), np.array(self.losses))
        return coefficients, (self.params[low], self.params[high - 1])


def _local_parabola(log_n: np.ndarray, losses: np.ndarray) -> tuple[int, int, np.ndarray]:
    """The parabola in log N through the best size and up to :data:`PARABOLA_REACH` sizes on each side (three at
    least): (first index, end index, coefficients)."""
    best = int(np.argmin(losses))
    low, high = max(0, best - PARABOLA_REACH), min(len(losses), best + PARABOLA_REACH + 1)
    if high - low < MIN_PROFILE_SIZES:  # widen on the side that has more sizes
        low, high = (max(0, high - MIN_PROFILE_SIZES), high) if best else (low, min(len(losses), MIN_PROFILE_SIZES))
    return low, high, np.polyfit(log_n[low:high], losses[low:high], 2)


def _by_size(points: Sequence[Point]) -> dict[tuple[float, float], list[tuple[float, float]]]:
    """(N, FLOPs per token) -> [(log C, loss), ...] sorted by C, one entry per distinct budget (replicas averaged)."""
    sizes: dict[tuple[float, float], dict[float, list[float]]] = {}
    for p in points:
        size = sizes.setdefault((float(p.total_params), float(p.flops_per_token)), {})
        size.setdefault(float(np.log(p.compute)), []).append(p.loss)
    return {size: sorted((log_c, float(np.mean(losses))) for log_c, losses in by_c.items())
            for size, by_c in sizes.items()}


def _loss_at(curve: list[tuple[float, float]], log_c: float) -> float | None:
    """A size's loss at log C by linear interpolation between its budgets; None outside them."""
    log_cs = [c for c, _ in curve]
    if len(curve) < 2 or not log_cs[0] <= log_c <= log_cs[-1]:
        return None
    return float(np.interp(log_c, log_cs, [loss for _, loss in curve]))


def compute_budgets(points: Sequence[Point], count: int = 8) -> list[float]:
    """``count`` computes, evenly spaced in log C, at which at least three sizes can be interpolated ([] if none)."""
    curves = _by_size(points)
    spans = [(curve[0][0], curve[-1][0]) for curve in curves.values() if len(curve) >= 2]
    if not spans:
        return []
    grid = np.linspace(min(s for s, _ in spans), max(e for _, e in spans), 400)
    covered = [log_c for log_c in grid if sum(s <= log_c <= e for s, e in spans) >= MIN_PROFILE_SIZES]
    if not covered:
        return []
    return [float(np.exp(log_c)) for log_c in np.linspace(covered[0], covered[-1], count)]


def isoflop_profile(points: Sequence[Point], compute: float) -> IsoFlopProfile | None:
    """The IsoFLOP profile at ``compute``; None when fewer than three sizes reach it."""
    at_c = [(size, _loss_at(curve, float(np.log(compute)))) for size, curve in sorted(_by_size(points).items())]
    at_c = [(size, loss) for size, loss in at_c if loss is not None]
    if len(at_c) < MIN_PROFILE_SIZES:
        return None
    log_n = np.log([n for (n, _), _ in at_c])
    losses = np.array([loss for _, loss in at_c])
    best = int(np.argmin(losses))
    low, high, (curvature, slope, _) = _local_parabola(log_n, losses)
    vertex = -slope / (2 * curvature) if curvature > 0 else np.nan
    inside = bool(0 < best < len(at_c) - 1 and curvature > 0 and log_n[low] <= vertex <= log_n[high - 1])
    optimum = float(np.exp(vertex)) if inside else at_c[best][0][0]
    return IsoFlopProfile(compute, tuple(n for (n, _), _ in at_c), tuple(float(x) for x in losses),
                          tuple(fpt for (_, fpt), _ in at_c), optimum, inside)


def isoflop_profiles(points: Sequence[Point], computes: Sequence[float] | None = None) -> list[IsoFlopProfile]:
    """Profiles at ``computes`` (default: :func:`compute_budgets`); computes too few sizes reach are left out."""
    profiles = [isoflop_profile(points, c) for c in (compute_budgets(points) if computes is None else computes)]
    return [profile for profile in profiles if profile is not None]


@dataclass(frozen=True)
class Frontier:
    """The compute-optimal tokens per parameter: per compute, and their geometric mean, with 90 % intervals."""

    profiles: tuple[IsoFlopProfile, ...]
    tokens_per_param: float  # geometric mean over the profiles
    interval: Interval  # of that mean, over the resamples (each averages the computes it still has a profile at)
    per_compute: tuple[Interval, ...]
    resamples_used: int


def _geometric_mean(values: Sequence[float]) -> float:
    return float(np.exp(np.mean(np.log(values))))


def bootstrap_frontier(points: Sequence[Point], resamples: int = 200, seed: int = 0) -> Frontier | None:
    """The IsoFLOP frontier on all points, and on ``resamples`` draws of the points with replacement (a drawn point
    twice counts once; a point not drawn is missing, so the interpolation and the sizes at each C change).

    Only the computes whose parabola has its minimum among the sizes count (at the others the optimum is beyond the
    ladder, and the best size only bounds it). None when there is no such compute, e.g. on the quick plan's grid,
    where no compute is reached by three sizes."""
    profiles = [profile for profile in isoflop_profiles(points) if profile.vertex_inside]
    if not profiles:
        return None
    computes = [profile.compute for profile in profiles]
    rng = np.random.default_rng(seed)
    per_compute: list[list[float]] = [[] for _ in computes]
    means = []
    for _ in range(resamples):
        drawn = [points[i] for i in sorted(set(rng.integers(0, len(points), len(points)).tolist()))]
        ratios = []
        for k, compute in enumerate(computes):
            profile = isoflop_profile(drawn, compute)
            if profile is not None:
                per_compute[k].append(profile.tokens_per_param)
                ratios.append(profile.tokens_per_param)
        if ratios:
            means.append(_geometric_mean(ratios))
    if not means:
        return None
    intervals = tuple(_interval(values) for values in per_compute)
    return Frontier(tuple(profiles), _geometric_mean([p.tokens_per_param for p in profiles]), _interval(means),
                    intervals, len(means))


# ---- L(N, D): Chinchilla's approach 3 -----------------------------------------------------------------------------

@dataclass(frozen=True)
class JointLaw:
    """``L(N, D) = E + A/N^α + B/D^β``."""

    e: float
    a: float
    alpha: float
    b: float
    beta: float

    def __call__(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.e + self.a * n ** -self.alpha + self.b * d ** -self.beta


def fit_joint(n: Sequence[float], d: Sequence[float], y: Sequence[float], start: JointLaw | None = None) -> JointLaw:
    """Least-squares fit of ``log y ≈ log(E + A·N^(−α) + B·D^(−β))`` with ``0 ≤ E < min y``, ``0 ≤ α, β ≤ 3``.

    Like Hoffmann et al., from a grid of starting exponents (here 3 × 3), keeping the best; or from ``start`` alone
    (the bootstrap starts each resample from the fit on all points). A and B are fitted as logarithms. Needs at least
    3 distinct N, 3 distinct D and 6 points."""
    n, d, y = (np.asarray(v, dtype=float) for v in (n, d, y))
    if len(np.unique(n)) < 3 or len(np.unique(d)) < 3 or len(y) < 6 or np.any(np.concatenate([n, d, y]) <= 0):
        raise InputError(f"the joint law needs 3 distinct N, 3 distinct D and 6 positive points; got {len(y)} points, "
                         f"{len(np.unique(n))} N and {len(np.unique(d))} D", "train more sizes and budgets first")
    log_n, log_d, log_y = np.log(n), np.log(d), np.log(y)
    e_max = float(y.min()) * (1 - 1e-6)

    def residuals(params: np.ndarray) -> np.ndarray:
        e, log_a, alpha, log_b, beta = params
        return np.log(e + np.exp(log_a - alpha * log_n) + np.exp(log_b - beta * log_d)) - log_y

    share = np.log(y.min() / 4)  # a grid start: E at half the lowest loss, the rest split evenly between the terms
    starts = ([np.array([e_max / 2, share + alpha * log_n.mean(), alpha, share + beta * log_d.mean(), beta])
               for alpha in (0.1, 0.3, 0.8) for beta in (0.1, 0.3, 0.8)] if start is None else
              [np.array([min(start.e, 0.99 * e_max), np.log(start.a), start.alpha, np.log(start.b), start.beta])])
    fits = [least_squares(residuals, x0, bounds=([0.0, -np.inf, 0.0, -np.inf, 0.0], [e_max, np.inf, 3.0, np.inf, 3.0]))
            for x0 in starts]
    e, log_a, alpha, log_b, beta = min(fits, key=lambda fitted: fitted.cost).x
    return JointLaw(float(e), float(np.exp(log_a)), float(alpha), float(np.exp(log_b)), float(beta))


@dataclass(frozen=True)
class JointFit:
    """The joint law on all points, and 90 % bootstrap intervals of its exponents and E."""

    law: JointLaw
    alpha: Interval
    beta: Interval
    e: Interval
    resampled: tuple[JointLaw, ...]


def bootstrap_joint(n: Sequence[float], d: Sequence[float], y: Sequence[float], resamples: int = 200,
                    seed: int = 0) -> JointFit:
    """:func:`fit_joint` on all points and on ``resamples`` draws with replacement (draws the fit refuses are drawn
    again)."""
    n, d, y = (np.asarray(v, dtype=float) for v in (n, d, y))
    law = fit_joint(n, d, y)
    rng = np.random.default_rng(seed)
    laws: list[JointLaw] = []
    while len(laws) < resamples:
        pick = rng.integers(0, len(y), len(y))
        if len(np.unique(n[pick])) >= 3 and len(np.unique(d[pick])) >= 3:
            laws.append(fit_joint(n[pick], d[pick], y[pick], start=law))
    return JointFit(law, _interval([w.alpha for w in laws]), _interval([w.beta for w in laws]),
                    _interval([w.e for w in laws]), tuple(laws))


def joint_data(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N non-embedding, D, loss) of every point, as three arrays."""
    return (np.array([p.non_embedding_params for p in points], float), np.array([p.tokens for p in points], float),
            np.array([p.loss for p in points], float))
