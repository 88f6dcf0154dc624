"""The charts' shared look: the colour-blind-safe palette, the matplotlib style, SVG ``data:`` URIs.

matplotlib is imported inside :func:`new_figure` and :func:`styled` only, so importing this module stays cheap.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

from tunesafe.types import RateEstimate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


__all__ = ["PALETTE", "color", "new_figure", "pct_err", "percent_axis", "styled", "to_uri"]


# Okabe & Ito (2008) colour-blind-safe palette, one colour per model in every chart.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


P = ParamSpec("P")
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


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def styled(draw: Callable[P, str]) -> Callable[P, str]:
    """Run ``draw`` (which builds and encodes a figure) under the report's matplotlib style."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
        import matplotlib

        with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]  # the rc keys are checked at run time
            return draw(*args, **kwargs)

    return wrapper


def pct_err(r: RateEstimate) -> tuple[float, float, float] | None:
    """(value, lower error, upper error) in percent, or None when nothing was judged."""
    if r.value is None:
        return None
    low = r.ci_low if r.ci_low is not None else r.value
    high = r.ci_high if r.ci_high is not None else r.value
    return 100 * r.value, 100 * (r.value - low), 100 * (high - r.value)


def percent_axis(ax: Axes, axis: str = "x") -> None:
    lim = (-2, 102)
    if axis == "x":
        ax.set_xlim(*lim)
        ax.xaxis.set_major_formatter("{x:.0f}%")
    else:
        ax.set_ylim(*lim)
        ax.yaxis.set_major_formatter("{x:.0f}%")
