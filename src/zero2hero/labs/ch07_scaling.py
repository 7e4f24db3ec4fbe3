"""Lab 7, scaling: a family of our own LLaMA-like models trained from scratch (zero2hero.llama.scaling), how their
held-out loss falls with parameters N, tokens D and compute C, the fitted laws beside the published ones, and what
quantising each size's weights costs.

Two steps of :func:`zero2hero.labs.ch07_llama_models.run`, each a function returning a
:class:`~zero2hero.reporting.Section`. The points are cached (``~/.cache/zero2hero/llama-scaling/``): a rerun reads
what was trained and trains only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zero2hero.errors import InputError
from zero2hero.llama.scaling.fit import (
    MIN_PROFILE_SIZES,
    PUBLISHED,
    Frontier,
    Interval,
    IsoFlopProfile,
    JointFit,
    LawFit,
    bootstrap_frontier,
    bootstrap_joint,
    bootstrap_power_law,
    isoflop_profiles,
    joint_data,
    loss_vs_params,
    loss_vs_tokens,
)
from zero2hero.llama.scaling.plan import FULL, QUICK, ScalingPlan
from zero2hero.llama.scaling.plots import isoflop_figure, power_law_figure
from zero2hero.llama.scaling.points import Point
from zero2hero.llama.scaling.quantize_sizes import QuantRow, best_four_bit, quantization_figure, quantize_sizes
from zero2hero.llama.scaling.run import plan_cache, run_plan
from zero2hero.measure import Stopwatch
from zero2hero.reporting import RunContext, Section, Table

SCALING_PLANS = {"quick": QUICK, "full": FULL}
MIN_FREE_E_POINTS = 4  # E is fitted too only with four distinct x or more (three fix the curve, one more to test it)
FOUR_BIT_GOAL_PCT = 10.0  # the course's goal: a 4-bit model within 10 % of fp32's perplexity


def scaling_plan(name: str) -> ScalingPlan:
    if name not in SCALING_PLANS:
        raise InputError(f"no scaling plan named {name!r}", f"choose {' or '.join(SCALING_PLANS)}")
    return SCALING_PLANS[name]


# ---- step 1: the laws ------------------------------------------------------------------------------------------------

def scaling_laws(plan_name: str, ctx: RunContext) -> Section:
    """Train (or read from the cache) every point of the plan; tables of the points, the fits and the compute-optimal
    sizes; figures L(N), L(D) and the IsoFLOP profiles."""
    plan, section = scaling_plan(plan_name), Section()
    points = _trained_points(plan, plan_name, section)
    fits = _fitted_laws(points, plan, section)
    profiles = _compute_optimum(points, section)
    quick_note = " (quick plan: a few points, wide bands)" if plan_name == "quick" else ""
    section.figures.append(ctx.save_figure(
        power_law_figure(*fits.params_curve, fits.by_params, "non-embedding parameters N",
                         f"L(N) at {max(plan.budgets):,} training tokens"),
        "scaling_loss_vs_params.png", "Held-out loss against parameters N",
        f"Every size trained on {max(plan.budgets):,} tokens; the fit and its 90 % bootstrap band{quick_note}."))
    section.figures.append(ctx.save_figure(
        power_law_figure(*fits.tokens_curve, fits.by_tokens, "training tokens D", f"L(D) of {plan.sizes[-1]}"),
        "scaling_loss_vs_tokens.png", f"Held-out loss of {plan.sizes[-1]} against training tokens D",
        f"Each budget is a complete run: the learning rate warms up and decays to 0 over its own steps{quick_note}."))
    if profiles:
        section.figures.append(ctx.save_figure(
            isoflop_figure(profiles), "scaling_isoflop.png", "IsoFLOP profiles: loss against N at fixed compute",
            "Dotted: the parabola's minimum among the sizes; dashed: the best size, when the optimum lies beyond."))
    return section


def _trained_points(plan: ScalingPlan, plan_name: str, section: Section) -> list[Point]:
    """Every point of the plan, trained or read from the cache; their table and what the run cost."""
    cache = plan_cache(plan)
    cached = sum(cache.get(size, tokens, replica) is not None for size, tokens, replica in plan.runs())
    watch = Stopwatch()
    points = run_plan(plan)
    section.metric("scaling_points_count", len(points), f"the {plan_name} plan: {len(plan.sizes)} sizes × "
                   f"{len(plan.budgets)} budgets, {len(plan.extra_points)} longer runs, {len(plan.replicas)} replicas")
    section.metric("scaling_points_trained_count", len(points) - cached, "trained by this run (the rest: cache)")
    section.metric("scaling_points_train_s", sum(p.train_seconds for p in points),
                   "training seconds of every point, cached ones as recorded when they were trained")
    section.metric("scaling_step_s", watch.seconds, "this run: training what was missing, reading the rest")
    section.tables.append(Table(
        f"The trained points ({plan_name} plan{', wide error bars' if plan_name == 'quick' else ''})",
        ["size", "width × layers", "N (non-embedding)", "all parameters", "tokens D", "compute C (FLOPs)",
         "held-out loss (nats/token)", "train s", "seed"], point_rows(points, plan.seed),
        f"Each point is our Llama (RMSNorm, RoPE, GQA, SwiGLU, tied embeddings) trained from scratch on the course "
        f"corpus with chapter 2's BPE ({plan.vocab_size:,} tokens), context {plan.context}, batch {plan.batch_size}, "
        f"scored on {plan.validation_tokens:,} held-out tokens. C counts every multiply-add of training: "
        f"6·N_matmul·D plus the attention scores (zero2hero.llama.scaling.family). {cached} of {len(points)} points "
        f"came from the cache ({cache.root})."))
    return points


@dataclass(frozen=True)
class DrawnFits:
    """What the figures draw: L(N) at the largest budget and L(D) of the largest size, each with its fit."""

    params_curve: tuple[np.ndarray, np.ndarray]  # (N, loss)
    by_params: LawFit
    tokens_curve: tuple[np.ndarray, np.ndarray]  # (D, loss)
    by_tokens: LawFit


def _fitted_laws(points: Sequence[Point], plan: ScalingPlan, section: Section) -> DrawnFits:
    """L(N) (E = 0, and E fitted with four sizes or more), L(D) of each size, the joint L(N, D) when the grid allows
    it: a table beside the published values, and their metrics."""
    budget, largest = max(plan.budgets), plan.sizes[-1]
    n, losses = loss_vs_params(points, budget)
    kaplan_n = bootstrap_power_law(n, losses, free_e=False)
    fits = [FitRow(f"L(N) at D = {budget:,}, E = 0 (Kaplan's form)", len(n), "α_N", kaplan_n, False,
                   f"{PUBLISHED['kaplan2020_alpha_n']} (Kaplan et al. 2020)")]
    free_n = bootstrap_power_law(n, losses) if len(np.unique(n)) >= MIN_FREE_E_POINTS else None
    if free_n is not None:
        fits.append(FitRow(f"L(N) at D = {budget:,}, E fitted", len(n), "α_N", free_n, True))
        section.metric("scaling_irreducible_loss", free_n.law.e, f"E of L(N) at {budget:,} tokens")
    curves = {size: loss_vs_tokens(points, size) for size in plan.sizes}
    tokens_fits = {size: bootstrap_power_law(*curve, free_e=False) for size, curve in curves.items()}
    fits += [FitRow(f"L(D) of {size}, E = 0 (Kaplan's form)", len(curves[size][0]), "α_D", fit, False,
                    f"{PUBLISHED['kaplan2020_alpha_d']} (Kaplan et al. 2020)") for size, fit in tokens_fits.items()]
    section.metric("scaling_alpha_n_slope", kaplan_n.law.exponent, f"α_N: L ∝ N^−α_N at {budget:,} tokens, E = 0")
    section.metric("scaling_alpha_n_low_slope", kaplan_n.exponent.low, "α_N's 90 % bootstrap interval, low end")
    section.metric("scaling_alpha_n_high_slope", kaplan_n.exponent.high, "α_N's 90 % bootstrap interval, high end")
    section.metric("scaling_alpha_d_slope", tokens_fits[largest].law.exponent, f"α_D of {largest}: L ∝ D^−α_D, E = 0")
    joint_rows: list[list[object]] = []
    n_all, d_all, y_all = joint_data(points)
    if len(np.unique(n_all)) >= 3 and len(np.unique(d_all)) >= 3 and len(points) >= 6:  # what fit_joint needs
        joint = bootstrap_joint(n_all, d_all, y_all)
        joint_rows = joint_fit_rows(joint, len(points))
        section.metric("scaling_joint_alpha_slope", joint.law.alpha, "α of L(N, D) = E + A/N^α + B/D^β")
        section.metric("scaling_joint_beta_slope", joint.law.beta, "β of L(N, D)")
        section.metric("scaling_joint_irreducible_loss", joint.law.e, "E of L(N, D)")
    section.tables.append(Table(
        "Fitted scaling laws with 90 % bootstrap intervals, and the published values (theirs)",
        ["law", "points", "number", "ours", "90 % interval", "published (theirs)"],
        [row for fit in fits for row in fit.rows()] + joint_rows,
        "Kaplan et al. 2020 (arXiv:2001.08361) fitted L = (N_c/N)^α_N on models trained to convergence and "
        "L = (D_c/D)^α_D, with no E; Hoffmann et al. 2022 (Chinchilla, arXiv:2203.15556) fitted L(N, D) = E + A/N^α "
        "+ B/D^β on every run at once. Their models were 10⁴–10⁶ times larger, on other text and another tokenizer: "
        "the exponents compare, E in nats does not. Intervals: 5th and 95th percentile over 200 refits on points drawn "
        "with replacement; a fit on as few points as it needs has nothing to resample, so its interval is a single "
        "value and says nothing." + ("" if joint_rows else " The joint law needs 3 sizes, 3 budgets and 6 points: "
                                        "this plan's grid has too few budgets for it.")))
    return DrawnFits((n, losses), free_n or kaplan_n, curves[largest], tokens_fits[largest])


def _compute_optimum(points: Sequence[Point], section: Section) -> list[IsoFlopProfile]:
    """The IsoFLOP profiles and the compute-optimal tokens per parameter: a table, a metric when there is a frontier."""
    profiles = isoflop_profiles(points)
    frontier = bootstrap_frontier(points) if profiles else None
    if frontier is not None:
        section.metric("scaling_optimal_tokens_per_param_ratio", frontier.tokens_per_param,
                       "D*/N* at the compute optimum, geometric mean over the IsoFLOP profiles")
    section.tables.append(Table(
        "Compute-optimal size at each compute (IsoFLOP profiles, Chinchilla's approach 2)",
        ["compute C (FLOPs)", "sizes on the profile", "N* (all parameters)", "D* (tokens)", "D*/N*", "90 % interval",
         "where the optimum is"], optimum_rows(profiles, frontier),
        f"At a fixed C each size affords D = C ÷ its FLOPs per token; its loss there is interpolated between its "
        f"budgets, and a parabola in log N through the sizes gives N*. Published: about "
        f"{PUBLISHED['hoffmann2022_tokens_per_param']:.0f} tokens per parameter (Hoffmann et al. 2022). "
        + frontier_summary(frontier)))
    return profiles


@dataclass(frozen=True)
class FitRow:
    """One power-law fit as table rows: its exponent, and its E when E was fitted (not fixed at 0)."""

    law: str
    points: int
    number: str  # the exponent's name: α_N, α_D
    fit: LawFit
    e_fitted: bool
    published: str = "—"

    def rows(self) -> list[list[object]]:
        fit = self.fit
        rows: list[list[object]] = [[self.law, self.points, self.number, f"{fit.law.exponent:.3f}",
                                     interval_text(fit.exponent), self.published]]
        if self.e_fitted:
            rows.append([self.law, self.points, "E (nats)", f"{fit.law.e:.3f}", interval_text(fit.e), "—"])
        return rows


def interval_text(interval: Interval) -> str:
    return f"[{interval.low:.3f}, {interval.high:.3f}]"


def joint_fit_rows(joint: JointFit, points: int) -> list[list[object]]:
    """Rows of the joint law L(N, D) = E + A/N^α + B/D^β beside Hoffmann et al.'s values."""
    shown, theirs = "L(N, D) = E + A/N^α + B/D^β", "(Hoffmann et al. 2022)"
    return [[shown, points, "α", f"{joint.law.alpha:.3f}", interval_text(joint.alpha),
             f"{PUBLISHED['hoffmann2022_alpha']} {theirs}"],
            [shown, points, "β", f"{joint.law.beta:.3f}", interval_text(joint.beta),
             f"{PUBLISHED['hoffmann2022_beta']} {theirs}"],
            [shown, points, "E (nats)", f"{joint.law.e:.3f}", interval_text(joint.e),
             f"{PUBLISHED['hoffmann2022_e_nats']} {theirs[:-1]}; other text, other tokenizer)"]]


def point_rows(points: Sequence[Point], seed: int) -> list[list[object]]:
    """One row per point: size, shape, N, all parameters, D, C, loss, training seconds, seed."""
    return [[p.size, f"{p.config['hidden_size']} × {p.config['num_hidden_layers']}", f"{p.non_embedding_params:,}",
             f"{p.total_params:,}", f"{p.tokens:,}", f"{p.compute:.3g}", f"{p.loss:.3f}", f"{p.train_seconds:.1f}",
             seed + p.replica] for p in points]


def frontier_summary(frontier: Frontier | None) -> str:
    """The compute-optimal ratio over the profiles whose minimum lies among the sizes, and what its interval means."""
    if frontier is None:
        return "No profile has its minimum among the sizes, so this plan gives no compute-optimal ratio, only bounds."
    summary = (f"Over the profiles whose minimum lies among the sizes: D*/N* = {frontier.tokens_per_param:.3g}, 90 % "
               f"[{frontier.interval.low:.3g}, {frontier.interval.high:.3g}].")
    if min(len(profile.params) for profile in frontier.profiles) == MIN_PROFILE_SIZES:
        summary += (" A parabola through exactly three sizes fits them with no error left, and a resample that drops "
                    "one of them leaves no profile at that compute: such an interval has little or no width and says "
                    "nothing.")
    return summary


def optimum_where(profile: IsoFlopProfile) -> str:
    """Whether the profile's optimum lies among its sizes, or at which edge of the ladder."""
    if profile.vertex_inside:
        return "among the sizes (parabola minimum)"
    if profile.optimal_params == min(profile.params):
        return "at the edge: the smallest size is best, the optimum lies below it"
    if profile.optimal_params == max(profile.params):
        return "at the edge: the largest size is best, the optimum lies above it"
    return "no minimum: the parabola opens downwards (best size shown)"


def optimum_rows(profiles: Sequence[IsoFlopProfile], frontier: Frontier | None) -> list[list[object]]:
    """One row per IsoFLOP profile; the interval of D*/N* for the profiles the frontier kept."""
    intervals = {} if frontier is None else {
        profile.compute: interval for profile, interval in zip(frontier.profiles, frontier.per_compute, strict=True)}
    rows = []
    for profile in profiles:
        interval = intervals.get(profile.compute)
        rows.append([f"{profile.compute:.3g}", len(profile.params), f"{profile.optimal_params:,.0f}",
                     f"{profile.optimal_tokens:,.0f}", f"{profile.tokens_per_param:.3g}",
                     f"[{interval.low:.3g}, {interval.high:.3g}]" if interval is not None else "—",
                     optimum_where(profile)])
    return rows or [["—", 0, "—", "—", "—", "—", "no compute is reached by three sizes' budgets"]]


# ---- step 2: quantisation across sizes -------------------------------------------------------------------------------

def quantization_by_size(plan_name: str, ctx: RunContext) -> Section:
    """Every size's kept fp32 weights in each format: perplexity and its increase, a figure, and whether the best
    4-bit format stays within :data:`FOUR_BIT_GOAL_PCT` of fp32 on the largest size."""
    plan = scaling_plan(plan_name)
    rows = quantize_sizes(plan)
    largest = max(rows, key=lambda row: row.params).size
    section = Section()
    for row in rows:
        if row.size == largest and row.format != "fp32":
            section.metric(f"quantized_{row.format}_increase_pct", row.increase_pct,
                           f"perplexity over fp32, largest size {largest}")
    section.tables.append(Table(
        f"Perplexity of each size with every matmul weight quantised ({plan_name} plan, {plan.validation_tokens:,} "
        f"held-out tokens)", ["size", "N (non-embedding)", "format", "loss (nats/token)", "perplexity",
                              "increase over fp32"],
        [[r.size, f"{r.params:,}", r.format, f"{r.loss:.4f}", f"{r.perplexity:.2f}", f"{r.increase_pct:+.2f} %"]
         for r in rows],
        f"The weights each size kept at {max(plan.budgets):,} tokens, quantised and decoded back to fp32 "
        "(zero2hero.llama.scaling.quantize_sizes); the RMSNorm scales stay fp32, as llama.cpp keeps them."))
    note, best = four_bit_verdict(rows, largest)
    section.metric("quantized_best_four_bit_increase_pct", best.increase_pct, f"{best.format} on {largest}")
    section.notes.append(note)
    section.figures.append(ctx.save_figure(
        quantization_figure(rows), "quantization_by_size.png", "Perplexity increase of each format against N",
        "Every matmul weight of each trained size quantised; the dashed line is the course's 10 % goal for 4 bits."))
    return section


def four_bit_verdict(rows: Sequence[QuantRow], size: str) -> tuple[str, QuantRow]:
    """An observation on whether the best 4-bit format of ``size`` is within the goal, and that format's row."""
    best = best_four_bit(rows, size)
    within = best.increase_pct <= FOUR_BIT_GOAL_PCT
    return (f"Quantisation across sizes: on the largest size, {size} (N = {best.params:,}), the best 4-bit format is "
            f"{best.format} at {best.increase_pct:+.2f} % perplexity over fp32: "
            f"{'within' if within else 'beyond'} the {FOUR_BIT_GOAL_PCT:.0f} % goal."), best
