"""The study's figures (matplotlib; the caller saves them): L(N) and L(D) on log-log axes with their fits and
90 % bands, and the IsoFLOP profiles with their optima."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from zero2hero.llama.scaling.fit import IsoFlopProfile, LawFit


def power_law_figure(x: np.ndarray, y: np.ndarray, fit: LawFit, x_label: str, title: str) -> Figure:
    """Measured losses, the fitted law and its bootstrap band, on log-log axes."""
    figure = Figure(figsize=(6, 4.2))
    axes = figure.subplots()
    grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 200)
    low, high = fit.band(grid)
    axes.fill_between(grid, low, high, alpha=0.25, label="90 % bootstrap band")
    law = fit.law
    axes.plot(grid, law(grid), label=f"fit: {law.e:.2f} + {law.a:.3g}·x^(−{law.exponent:.3f}); "
                                     f"exponent 90 % [{fit.exponent.low:.3f}, {fit.exponent.high:.3f}]")
    axes.scatter(x, y, color="black", zorder=3, label="trained models")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel("held-out loss (nats/token)")
    axes.set_title(title)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


def isoflop_figure(profiles: list[IsoFlopProfile]) -> Figure:
    """One curve per compute: loss against N along the IsoFLOP line, the parabola fitted in log N around the best
    size, and a vertical line at the optimum (dotted when the parabola's minimum lies among the sizes, dashed at the
    best size otherwise)."""
    figure = Figure(figsize=(6, 4.2))
    axes = figure.subplots()
    for profile in profiles:
        params, losses = np.array(profile.params), np.array(profile.losses)
        line = axes.plot(params, losses, "o", label=f"C = {profile.compute:.2e} FLOPs")[0]
        coefficients, fitted = profile.parabola()
        grid = np.geomspace(*fitted, 100)
        axes.plot(grid, np.polyval(coefficients, np.log(grid)), color=line.get_color(), alpha=0.6)
        axes.axvline(profile.optimal_params, color=line.get_color(), linestyle=":" if profile.vertex_inside else "--",
                     alpha=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("parameters N (all of them, as Chinchilla counts)")
    axes.set_ylabel("held-out loss (nats/token)")
    axes.set_title("IsoFLOP profiles (dotted: parabola minimum; dashed: best size, optimum beyond the sizes)",
                   fontsize=8)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return figure
