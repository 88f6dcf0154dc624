"""The drift audit's paired uncertainty changes (``build/drift_uncertainty.py``) as a Markdown table."""

from __future__ import annotations

from collections.abc import Mapping

from tunesafe.report.render.fmt import p_phrase
from tunesafe.report.render.table import md_table
from tunesafe.stats import PairedScoreDifference

__all__ = ["uncertainty_change_lines"]


def uncertainty_change_lines(
    changes: Mapping[str, Mapping[str, Mapping[str, PairedScoreDifference]]], reference: str, metric: str = "entropy"
) -> list[str]:
    """A Markdown table of one metric's paired changes: model → condition → metric → change (ends blank)."""
    conditions = list(dict.fromkeys(c for per_model in changes.values() for c in per_model))
    if not conditions:
        return []
    rows = [
        [model, *(_cell(per_model.get(c, {}).get(metric)) for c in conditions)] for model, per_model in changes.items()
    ]
    lines = [
        f"Paired change in {metric} vs {reference} on the same questions (mean difference [95% bootstrap CI], "
        "centred-bootstrap p, n):",
        "",
        *md_table(["model", *conditions], rows),
    ]
    return [*lines, ""]


def _cell(d: PairedScoreDifference | None) -> str:
    if d is None:
        return "–"
    return f"{d.difference:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}] ({p_phrase(d.p_value)}, n={d.n})"
