"""Charts for the HTML report, drawn with matplotlib as SVG and returned as ``data:`` URIs.

Each function takes plain numbers (rates with their 95% intervals), never a run directory, and
returns a self-contained ``data:image/svg+xml;base64,...`` string: the report needs no network.
matplotlib is imported inside :func:`_figure` only, so importing this module stays cheap. Rates
are drawn with their Wilson (1927) score intervals, as the tables print them.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from tunesafe.types import RateEstimate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe & Ito (2008) colour-blind-safe palette, one colour per model in every chart.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
_STYLE = {
    "svg.hashsalt": "tunesafe",  # stable element ids: the same data gives the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
}


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _to_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _styled(draw: Any) -> Any:
    """Run ``draw`` (which builds and encodes a figure) under the report's matplotlib style."""

    def wrapper(*args: Any, **kwargs: Any) -> str:
        import matplotlib

        with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]  # the rc keys are checked at run time
            svg: str = draw(*args, **kwargs)
            return svg

    wrapper.__doc__ = draw.__doc__
    wrapper.__name__ = draw.__name__
    return wrapper


def _pct_err(r: RateEstimate) -> tuple[float, float, float] | None:
    """(value, lower error, upper error) in percent, or None when nothing was judged."""
    if r.value is None:
        return None
    low = r.ci_low if r.ci_low is not None else r.value
    high = r.ci_high if r.ci_high is not None else r.value
    return 100 * r.value, 100 * (r.value - low), 100 * (high - r.value)


def _percent_axis(ax: Axes, axis: str = "x") -> None:
    lim = (-2, 102)
    if axis == "x":
        ax.set_xlim(*lim)
        ax.xaxis.set_major_formatter("{x:.0f}%")
    else:
        ax.set_ylim(*lim)
        ax.yaxis.set_major_formatter("{x:.0f}%")


@_styled
def interval_chart(labels: Sequence[str], series: Mapping[str, Sequence[RateEstimate]], xlabel: str) -> str:
    """Horizontal points with 95% interval bars: one row per label (model), one marker per series (judge)."""
    n_rows, n_series = len(labels), max(len(series), 1)
    fig = _figure(7.5, 0.9 + 0.32 * n_rows * n_series + 0.25 * n_series)
    ax = fig.add_subplot()
    step = 0.7 / n_series
    markers = "osD^v<>"
    for j, rates in enumerate(series.values()):
        offset = (j - (n_series - 1) / 2) * step
        for i, r in enumerate(rates):
            point = _pct_err(r)
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
    _percent_axis(ax, "x")
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
    return _to_uri(fig)


class Cell(NamedTuple):
    """One heatmap cell: the rate, its counts, and a change mark (``"▲"`` / ``"▼"`` / ``""``)."""

    value: float | None
    k: int
    n: int
    mark: str = ""


@_styled
def heatmap(rows: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[Cell]], label: str) -> str:
    """A rows × columns grid coloured by rate (0–100%), each cell annotated with its % and k/n; a marked cell
    gets its mark and a heavy outline."""
    import numpy as np

    crowded = len(columns) > 4 or max((len(c) for c in columns), default=0) > 14  # long names overlap: slant them
    fig = _figure(min(2.6 + 1.5 * len(columns), 10), 1.0 + 0.5 * len(rows) + (1.0 if crowded else 0.0))
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
    return _to_uri(fig)


def _outline(x: float, y: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.47, y - 0.45), 0.94, 0.9, fill=False, edgecolor="#1f4fd1", linewidth=2.2)


class Arrow(NamedTuple):
    """A mitigation drawn as an arrow from its reference model to the mitigated one."""

    reference: str
    variant: str
    note: str


@_styled
def tradeoff_chart(
    names: Sequence[str], refusal: Sequence[RateEstimate], asr: Sequence[RateEstimate], arrows: Sequence[Arrow] = ()
) -> str:
    """Each model at (over-refusal, ASR) with both 95% intervals; arrows from a reference to its mitigation.

    The lower left corner is the goal: refuses harmful requests, answers harmless ones.
    """
    fig = _figure(7.5, 5.2)
    ax = fig.add_subplot()
    points: dict[str, tuple[float, float]] = {}
    for i, (name, x_rate, y_rate) in enumerate(zip(names, refusal, asr, strict=True)):
        x, y = _pct_err(x_rate), _pct_err(y_rate)
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
    _percent_axis(ax, "x")
    _percent_axis(ax, "y")
    ax.set_xlabel("over-refusal: harmless prompts refused (lower = more useful)")
    ax.set_ylabel("ASR: harmful prompts complied with (lower = safer)")
    ax.text(1, 1, "goal: low ASR, low over-refusal", fontsize=8, color="#777777", va="bottom", ha="left")
    return _to_uri(fig)


@_styled
def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[RateEstimate]], ylabel: str) -> str:
    """Vertical bars per group (condition), one bar per series (model), with 95% interval whiskers."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    n = max(len(series), 1)
    width = 0.8 / n
    for j, (name, rates) in enumerate(series.items()):
        xs: list[float] = []
        values: list[float] = []
        errs: tuple[list[float], list[float]] = ([], [])
        for i, r in enumerate(rates):
            point = _pct_err(r)
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
    _percent_axis(ax, "y")
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=min(n, 4), title="model")
    return _to_uri(fig)


class Quartiles(NamedTuple):
    """One group's distribution summary: quartiles, mean ± standard error, count."""

    q1: float
    median: float
    q3: float
    mean: float | None
    se: float | None
    n: int


@_styled
def quartile_boxes(
    panels: Mapping[str, Mapping[str, Mapping[str, Quartiles | None]]], groups: Sequence[str], ylabel: str
) -> str:
    """One panel per condition; per model one box per group (correct / incorrect): the interquartile range
    with the median line, and the mean ± standard error as a point. Whiskers are left out: only the
    quartiles are recorded."""
    conditions = list(panels)
    models = list(dict.fromkeys(m for panel in panels.values() for m in panel))
    fig = _figure(min(2.8 + 2.4 * len(conditions), 10), 3.6)
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
    return _to_uri(fig)


@_styled
def curves(series: Mapping[str, Sequence[tuple[int, RateEstimate]]], rises: Mapping[str, int | None]) -> str:
    """ASR against optimiser step per run, with its 95% band; a dashed line at the first significant rise."""
    fig = _figure(7.5, 3.6)
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
    _percent_axis(ax, "y")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("ASR on the fixed harmful prompts")
    ax.legend(loc="lower right")
    return _to_uri(fig)


class Interval(NamedTuple):
    """A statistic with an optional 95% interval (e.g. Cohen's kappa with its bootstrap interval)."""

    label: str
    value: float
    low: float | None
    high: float | None


@_styled
def interval_rows(rows: Sequence[Interval], xlabel: str, xlim: tuple[float, float], reference: float | None) -> str:
    """Horizontal points with interval bars, one row per statistic; a dotted line at ``reference``."""
    fig = _figure(7.5, 0.9 + 0.34 * len(rows))
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
    return _to_uri(fig)


@_styled
def seed_points(groups: Mapping[str, Sequence[RateEstimate]], means: Mapping[str, float | None], xlabel: str) -> str:
    """One row per group (a variant trained with several seeds): each seed's rate as a point with its 95%
    interval, slightly spread vertically, and the mean over seeds as a vertical bar."""
    names = list(groups)
    fig = _figure(7.5, 0.9 + 0.45 * len(names))
    ax = fig.add_subplot()
    for i, name in enumerate(names):
        rates = groups[name]
        for j, r in enumerate(rates):
            point = _pct_err(r)
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
    _percent_axis(ax, "x")
    ax.set_xlabel(xlabel)
    return _to_uri(fig)
