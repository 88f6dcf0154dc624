""" "## Paper view": a published setup's printed figures, tunesafe's recomputation from its counts, and this run."""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.paper import PaperRow, PaperView
from tunesafe.report.render.fmt import fmt_rate
from tunesafe.report.render.table import md_table

__all__ = ["paper_lines", "paper_section"]


def paper_section(comp: Comparison) -> list[str]:
    """ "## Paper view": the paper's printed figures, tunesafe's recomputation from its counts, and this run."""
    view = comp.paper
    if view is None:
        return []
    return [f"## Paper view: {view.citation}", "", *paper_lines(view), ""]


def paper_lines(view: PaperView) -> list[str]:
    header = ["paper model", "what", "paper printed", "recomputed from the paper's counts", "this run"]
    lines = [
        view.caution,
        "",
        *md_table([*header, "rate [95% CI] (k/n)", "judge", "n"], [_row(row) for row in view.rows]),
    ]
    return [*lines, "", *view.notes] if view.notes else lines


def _row(row: PaperRow) -> list[str]:
    recomputed = "–"
    if row.recomputed is not None:
        recomputed = f"{row.recomputed:.2f}% ({row.unsafe} unsafe / {(row.unsafe or 0) + (row.safe or 0)})"
    return [
        f"{row.paper_model} ({row.description})",
        f"{row.what} ({row.source})",
        row.printed,
        recomputed,
        row.run or "not mapped",
        fmt_rate(row.rate) if row.rate else "–",
        f"`{row.judge}`" if row.judge else "–",
        str(row.rate.n) if row.rate else "–",
    ]
