"""Charts of distributions and curves: answer-uncertainty quartiles, ASR during training, statistics
with intervals (e.g. Cohen's kappa)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from tunesafe.report.render.plots.style import color, new_figure, percent_axis, styled, to_uri
from tunesafe.types import RateEstimate

__all__ = ["Interval", "Quartiles", "curves", "interval_rows", "quartile_boxes"]


class Quartiles(NamedTuple):
    """One group's distribution summary: quartiles, mean ± standard error, count."""

    q1: float
    median: float
    q3: float
    mean: float | None
    se: float | None
    n: int


@styled
def quartile_boxes(
    panels: Mapping[str, Mapping[str, Mapping[str, Quartiles | None]]], groups: Sequence[str], ylabel: str
) -> str:
    """One panel per condition; per model one box per group (correct / incorrect): the interquartile range
    with the median line, and the mean ± standard error as a point. Whiskers are left out: only the
    quartiles are recorded."""
    conditions = list(panels)
    models = list(dict.fromkeys(m for panel in panels.values() for m in panel))
    fig = new_figure(min(2.8 + 2.4 * len(conditions), 10), 3.6)
    axes = fig.subplots(1, len(conditions), sharey=True, squeeze=False)[0]
    shades = ("#4C9F70", "#C8553D", "#7A7A7A")
    width = 0.8 / max(len(groups), 1)
    for ax, condition in zip(axes, conditions, strict=True):
        for i, model in enumerate(models):
            for g, group in enumerate(groups):
                q = panels[condition].get(model, {}).get(group)
                if q is None:
                    continue
                x = i + (g - (len(groups) - 1) / 2) * width
                stats = {"med": q.median, "q1": q.q1, "q3": q.q3, "whislo": q.q1, "whishi": q.q3, "fliers": []}
                ax.bxp(
                    [stats],
                    positions=[x],
                    widths=width * 0.85,
                    showfliers=False,
                    showcaps=False,
                    patch_artist=True,
                    boxprops={"facecolor": shades[g % 3], "alpha": 0.35, "edgecolor": shades[g % 3]},
                    medianprops={"color": shades[g % 3], "linewidth": 2},
                )
                if q.mean is not None:
                    ax.errorbar(x, q.mean, yerr=q.se or 0, fmt="D", color=shades[g % 3], markersize=4, capsize=2)
                ax.text(
                    x,
                    0,
                    f"n={q.n}",
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=6.5,
                    color="#555555",
                )
        ax.set_xticks(range(len(models)), models, rotation=20 if len(models) > 3 else 0)
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_title(condition)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylabel(ylabel)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=shades[g % 3], alpha=0.5, label=group) for g, group in enumerate(groups)]
    fig.legend(handles=handles, loc="outside upper center", ncols=len(groups), title="answer")
    return to_uri(fig)


@styled
def curves(series: Mapping[str, Sequence[tuple[int, RateEstimate]]], rises: Mapping[str, int | None]) -> str:
    """ASR against optimiser step per run, with its 95% band; a dashed line at the first significant rise."""
    fig = new_figure(7.5, 3.6)
    ax = fig.add_subplot()
    for i, (name, points) in enumerate(series.items()):
        steps = [s for s, r in points if r.value is not None]
        rates = [r for _, r in points if r.value is not None]
        values = [100 * (r.value or 0) for r in rates]
        ax.plot(steps, values, "o-", color=color(i), label=name, markersize=4)
        lows = [100 * (r.ci_low if r.ci_low is not None else r.value or 0) for r in rates]
        highs = [100 * (r.ci_high if r.ci_high is not None else r.value or 0) for r in rates]
        ax.fill_between(steps, lows, highs, color=color(i), alpha=0.15, linewidth=0)
        rise = rises.get(name)
        if rise is not None:
            ax.axvline(rise, color=color(i), linestyle="--", linewidth=1)
            ax.annotate(
                f"first significant rise: step {rise}",
                (rise, 100),
                xytext=(4, -12),
                textcoords="offset points",
                fontsize=8,
                color=color(i),
            )
    percent_axis(ax, "y")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("ASR on the fixed harmful prompts")
    ax.legend(loc="lower right")
    return to_uri(fig)


class Interval(NamedTuple):
    """A statistic with an optional 95% interval (e.g. Cohen's kappa with its bootstrap interval)."""

    label: str
    value: float
    low: float | None
    high: float | None


@styled
def interval_rows(rows: Sequence[Interval], xlabel: str, xlim: tuple[float, float], reference: float | None) -> str:
    """Horizontal points with interval bars, one row per statistic; a dotted line at ``reference``."""
    fig = new_figure(7.5, 0.9 + 0.34 * len(rows))
    ax = fig.add_subplot()
    for i, row in enumerate(rows):
        lo = row.value - row.low if row.low is not None else 0
        hi = row.high - row.value if row.high is not None else 0
        ax.errorbar(row.value, i, xerr=[[lo], [hi]], fmt="o", color=color(0), capsize=3)
        ax.annotate(
            f"{row.value:.2f}", (row.value + hi, i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8
        )
    if reference is not None:
        ax.axvline(reference, color="#999999", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(rows)), [r.label for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel)
    return to_uri(fig)
