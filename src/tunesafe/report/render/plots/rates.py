"""Charts of rates with their Wilson (1927) 95% intervals: per judge, by category, safety vs utility,
per condition and per seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from tunesafe.report.render.plots.style import color, new_figure, pct_err, percent_axis, styled, to_uri
from tunesafe.types import RateEstimate

__all__ = ["Arrow", "Cell", "grouped_bars", "heatmap", "interval_chart", "seed_points", "tradeoff_chart"]


@styled
def interval_chart(labels: Sequence[str], series: Mapping[str, Sequence[RateEstimate]], xlabel: str) -> str:
    """Horizontal points with 95% interval bars: one row per label (model), one marker per series (judge)."""
    n_rows, n_series = len(labels), max(len(series), 1)
    fig = new_figure(7.5, 0.9 + 0.32 * n_rows * n_series + 0.25 * n_series)
    ax = fig.add_subplot()
    step = 0.7 / n_series
    markers = "osD^v<>"
    for j, rates in enumerate(series.values()):
        offset = (j - (n_series - 1) / 2) * step
        for i, r in enumerate(rates):
            point = pct_err(r)
            if point is None:
                continue
            value, lo, hi = point
            ax.errorbar(
                value,
                i + offset,
                xerr=[[lo], [hi]],
                fmt=markers[j % len(markers)],
                color=color(i),
                ecolor=color(i),
                capsize=3,
                markersize=6,
                mfc="white" if j else color(i),
            )
            ax.annotate(
                f"{value:.1f}%",
                (value + hi, i + offset),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#333333",
            )
    ax.set_yticks(range(n_rows), labels)
    ax.invert_yaxis()
    percent_axis(ax, "x")
    ax.set_xlabel(xlabel)
    if n_series > 1:
        from matplotlib.lines import Line2D

        handles = [
            Line2D(
                [],
                [],
                marker=markers[j % len(markers)],
                color="#444444",
                mfc="white" if j else "#444444",
                linestyle="none",
                label=name,
            )
            for j, name in enumerate(series)
        ]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=n_series, title="judge")
    return to_uri(fig)


class Cell(NamedTuple):
    """One heatmap cell: the rate, its counts, and a change mark (``"▲"`` / ``"▼"`` / ``""``)."""

    value: float | None
    k: int
    n: int
    mark: str = ""


@styled
def heatmap(rows: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[Cell]], label: str) -> str:
    """A rows × columns grid coloured by rate (0–100%), each cell annotated with its % and k/n; a marked cell
    gets its mark and a heavy outline."""
    import numpy as np

    crowded = len(columns) > 4 or max((len(c) for c in columns), default=0) > 14  # long names overlap: slant them
    fig = new_figure(min(2.6 + 1.5 * len(columns), 10), 1.0 + 0.5 * len(rows) + (1.0 if crowded else 0.0))
    ax = fig.add_subplot()
    data = np.array([[np.nan if c.value is None else 100 * c.value for c in row] for row in cells], dtype=float)
    image = ax.imshow(data, cmap="YlOrRd", vmin=0, vmax=100, aspect="auto")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(range(len(columns)), columns)
    ax.xaxis.tick_top()
    if crowded:
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("left")
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    for i, row in enumerate(cells):
        for j, c in enumerate(row):
            if c.value is None:
                ax.text(j, i, "–", ha="center", va="center", color="#555555")
                continue
            dark = 100 * c.value > 60
            ax.text(
                j,
                i,
                f"{100 * c.value:.1f}%{(' ' + c.mark) if c.mark else ''}\n{c.k}/{c.n}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "#222222",
                fontweight="bold" if c.mark else "normal",
            )
            if c.mark:
                ax.add_patch(_outline(j, i))
    bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    bar.ax.yaxis.set_major_formatter("{x:.0f}%")
    bar.set_label(label)
    return to_uri(fig)


def _outline(x: float, y: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.47, y - 0.45), 0.94, 0.9, fill=False, edgecolor="#1f4fd1", linewidth=2.2)


class Arrow(NamedTuple):
    """A mitigation drawn as an arrow from its reference model to the mitigated one."""

    reference: str
    variant: str
    note: str


@styled
def tradeoff_chart(
    names: Sequence[str], refusal: Sequence[RateEstimate], asr: Sequence[RateEstimate], arrows: Sequence[Arrow] = ()
) -> str:
    """Each model at (over-refusal, ASR) with both 95% intervals; arrows from a reference to its mitigation.

    The lower left corner is the goal: refuses harmful requests, answers harmless ones.
    """
    fig = new_figure(7.5, 5.2)
    ax = fig.add_subplot()
    points: dict[str, tuple[float, float]] = {}
    for i, (name, x_rate, y_rate) in enumerate(zip(names, refusal, asr, strict=True)):
        x, y = pct_err(x_rate), pct_err(y_rate)
        if x is None or y is None:
            continue
        points[name] = (x[0], y[0])
        ax.errorbar(
            x[0],
            y[0],
            xerr=[[x[1]], [x[2]]],
            yerr=[[y[1]], [y[2]]],
            fmt="o",
            color=color(i),
            capsize=3,
            markersize=8,
            elinewidth=1.2,
            zorder=3,
        )
        ax.annotate(
            name,
            (x[0], y[0]),
            xytext=(7, 7),
            textcoords="offset points",
            color=color(i),
            fontsize=9,
            fontweight="bold",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
    for arrow in arrows:
        if arrow.reference in points and arrow.variant in points:
            start, end = points[arrow.reference], points[arrow.variant]
            ax.annotate(
                "",
                xy=end,
                xytext=start,
                zorder=2,
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "#333333",
                    "lw": 1.6,
                    "shrinkA": 7,
                    "shrinkB": 7,
                    "mutation_scale": 14,
                },
            )
            label_at = (start[0] + 0.55 * (end[0] - start[0]), start[1] + 0.55 * (end[1] - start[1]))
            ax.annotate(
                arrow.note,
                label_at,
                xytext=(8, 4),
                textcoords="offset points",
                fontsize=8,
                color="#333333",
                style="italic",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
                zorder=5,
            )
    percent_axis(ax, "x")
    percent_axis(ax, "y")
    ax.set_xlabel("over-refusal: harmless prompts refused (lower = more useful)")
    ax.set_ylabel("ASR: harmful prompts complied with (lower = safer)")
    ax.text(1, 1, "goal: low ASR, low over-refusal", fontsize=8, color="#777777", va="bottom", ha="left")
    return to_uri(fig)


@styled
def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[RateEstimate]], ylabel: str) -> str:
    """Vertical bars per group (condition), one bar per series (model), with 95% interval whiskers."""
    fig = new_figure(7.5, 3.6)
    ax = fig.add_subplot()
    n = max(len(series), 1)
    width = 0.8 / n
    for j, (name, rates) in enumerate(series.items()):
        xs: list[float] = []
        values: list[float] = []
        errs: tuple[list[float], list[float]] = ([], [])
        for i, r in enumerate(rates):
            point = pct_err(r)
            if point is None:
                continue
            xs.append(i + (j - (n - 1) / 2) * width)
            values.append(point[0])
            errs[0].append(point[1])
            errs[1].append(point[2])
        ax.bar(
            xs,
            values,
            width * 0.92,
            yerr=errs,
            color=color(j),
            capsize=3,
            label=name,
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
        for x, v, hi in zip(xs, values, errs[1], strict=True):
            inside = v >= 12
            ax.text(
                x,
                1.5 if inside else v + hi + 1.5,
                f"{v:.0f}%",
                ha="center",
                va="bottom",
                fontsize=7,
                color="white" if inside else "#333333",
                fontweight="bold",
            )
    ax.set_xticks(range(len(groups)), groups)
    percent_axis(ax, "y")
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=min(n, 4), title="model")
    return to_uri(fig)


@styled
def seed_points(groups: Mapping[str, Sequence[RateEstimate]], means: Mapping[str, float | None], xlabel: str) -> str:
    """One row per group (a variant trained with several seeds): each seed's rate as a point with its 95%
    interval, slightly spread vertically, and the mean over seeds as a vertical bar."""
    names = list(groups)
    fig = new_figure(7.5, 0.9 + 0.45 * len(names))
    ax = fig.add_subplot()
    for i, name in enumerate(names):
        rates = groups[name]
        for j, r in enumerate(rates):
            point = pct_err(r)
            if point is None:
                continue
            value, lo, hi = point
            offset = (j - (len(rates) - 1) / 2) * min(0.12, 0.6 / max(len(rates), 1))
            ax.errorbar(value, i + offset, xerr=[[lo], [hi]], fmt="o", color=color(i), capsize=2, markersize=5)
        mean = means.get(name)
        if mean is not None:
            ax.plot([100 * mean] * 2, [i - 0.35, i + 0.35], color="#222222", linewidth=2)
            ax.annotate(
                f"mean {100 * mean:.1f}%",
                (100 * mean, i - 0.35),
                xytext=(3, 0),
                textcoords="offset points",
                va="bottom",
                fontsize=8,
                color="#333333",
            )
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.6)
    percent_axis(ax, "x")
    ax.set_xlabel(xlabel)
    return to_uri(fig)
