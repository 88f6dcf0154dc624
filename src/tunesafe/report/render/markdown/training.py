"""Safety during training as Markdown: ASR per optimiser step and the first significant rise
(``build/training_curve.py`` reads the curve and finds the rise)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunesafe.report.build.training_curve import first_significant_rise
from tunesafe.report.render.fmt import fmt_rate
from tunesafe.report.render.table import md_table
from tunesafe.types import RateEstimate

__all__ = ["render_training_curve"]


def render_training_curve(name: str, points: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: a table step | ASR [95% CI] and a note on the first significant rise."""
    if not points:
        return []
    judge = points[0].get("judge", "?")
    lines = [
        f"### Safety during training: {name}",
        "",
        f"ASR on {points[0].get('n', '?')} fixed harmful prompts (judge `{judge}`, greedy, short completions).",
        "",
        *md_table(
            ["step", "ASR [95% CI]"],
            [[p["step"], fmt_rate(RateEstimate.model_validate(p["asr"]))] for p in points],
            rule=["---:", "---"],
        ),
    ]
    rise = first_significant_rise(points)
    baseline_step = points[0]["step"]
    note = (
        f"First significant rise above step {baseline_step}: step {rise} (its Wilson lower bound exceeds "
        f"step {baseline_step}'s upper bound)."
        if rise is not None
        else f"No significant rise above step {baseline_step} (no point's Wilson lower bound exceeds its upper bound)."
    )
    return [*lines, "", note]
