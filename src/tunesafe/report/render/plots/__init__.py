"""Charts for the HTML report, drawn with matplotlib as SVG and returned as ``data:`` URIs.

Each function takes plain numbers (rates with their 95% intervals), never a run directory, and
returns a self-contained ``data:image/svg+xml;base64,...`` string: the report needs no network.
matplotlib is imported inside the drawing functions only, so importing this package stays cheap.
Rates are drawn with their Wilson (1927) score intervals, as the tables print them.
"""

from __future__ import annotations

from tunesafe.report.render.plots.distributions import Interval, Quartiles, curves, interval_rows, quartile_boxes
from tunesafe.report.render.plots.rates import (
    Arrow,
    Cell,
    grouped_bars,
    heatmap,
    interval_chart,
    seed_points,
    tradeoff_chart,
)
from tunesafe.report.render.plots.style import PALETTE, color

__all__ = [
    "PALETTE",
    "Arrow",
    "Cell",
    "Interval",
    "Quartiles",
    "color",
    "curves",
    "grouped_bars",
    "heatmap",
    "interval_chart",
    "interval_rows",
    "quartile_boxes",
    "seed_points",
    "tradeoff_chart",
]
