"""Reports: run directories in, Markdown, JSON and a self-contained HTML page out.

``build/`` turns audit run directories into a :class:`Comparison` (what report.json holds);
``render/`` writes that comparison as Markdown, HTML and charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tunesafe._util.io import atomic_write_text
from tunesafe.report.build.compare import Comparison, compare_runs
from tunesafe.report.build.effects import EffectRow, EffectSpec
from tunesafe.report.build.paper import PaperSpec, PaperView
from tunesafe.report.build.seeds import SeedGroup
from tunesafe.report.render.html import render_html
from tunesafe.report.render.markdown import render_markdown

__all__ = [
    "Comparison",
    "EffectRow",
    "EffectSpec",
    "PaperSpec",
    "PaperView",
    "ReportFiles",
    "SeedGroup",
    "compare_runs",
    "write_report",
]


class ReportFiles(BaseModel):
    directory: Path
    markdown: Path
    json_path: Path
    html: Path
    comparison: Comparison


def write_report(
    runs: Sequence[Path],
    out_dir: Path,
    *,
    show_harmful: bool = False,
    effects: Sequence[EffectSpec] = (),
    groups: Mapping[str, Sequence[str]] | None = None,
    paper: PaperSpec | None = None,
) -> ReportFiles:
    """Compare ``runs`` (the first is the base) and write ``report.md``, ``report.json`` and ``report.html``.

    ``report.html`` is one self-contained page (charts inline, nothing fetched; see docs/report.md).

    ``effects`` adds paired comparisons of a variant with its own reference run (see ``build/effects.py``);
    ``report.json`` has an ``effects`` list only when some were asked for. ``groups`` (group name → run
    labels, e.g. ``{"harmful": ["harmful.seed1", "harmful.seed2"]}``) aggregates a variant trained once per
    seed (``build/seeds.py``; ``seed_groups`` in JSON only when given); ``paper`` adds the published setup's
    printed figures beside these runs (``build/paper.py``; ``paper`` in JSON only when given).
    """
    comparison = compare_runs(runs, show_harmful=show_harmful, effects=effects, groups=groups, paper=paper)
    out_dir = Path(out_dir)
    markdown, json_path = out_dir / "report.md", out_dir / "report.json"
    atomic_write_text(json_path, comparison.model_dump_json(indent=2, exclude=_absent(comparison)) + "\n")
    atomic_write_text(markdown, render_markdown(comparison))
    page = out_dir / "report.html"
    atomic_write_text(page, render_html(comparison))
    return ReportFiles(directory=out_dir, markdown=markdown, json_path=json_path, html=page, comparison=comparison)


def _absent(comparison: Comparison) -> dict[str, Any]:
    """Optional parts left out of report.json when empty, so reports of runs without them are unchanged."""
    empty = {
        "effects": not comparison.effects,
        "seed_groups": not comparison.seed_groups,
        "graded": not comparison.graded,
        "paper": comparison.paper is None,
    }
    exclude: dict[str, Any] = {key: True for key, is_empty in empty.items() if is_empty}
    if comparison.effects and not any(row.graded for row in comparison.effects):
        exclude["effects"] = {"__all__": {"graded"}}
    return exclude
