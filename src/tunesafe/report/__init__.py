"""Reports: run directories in, Markdown, JSON and a self-contained HTML page out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from tunesafe._util.io import atomic_write_text
from tunesafe.report.compare import Comparison, compare_runs
from tunesafe.report.effects import EffectRow, EffectSpec
from tunesafe.report.html import render_html
from tunesafe.report.markdown import render_markdown

__all__ = ["Comparison", "EffectRow", "EffectSpec", "ReportFiles", "compare_runs", "write_report"]


class ReportFiles(BaseModel):
    directory: Path
    markdown: Path
    json_path: Path
    html: Path
    comparison: Comparison


def write_report(
    runs: Sequence[Path], out_dir: Path, *, show_harmful: bool = False, effects: Sequence[EffectSpec] = ()
) -> ReportFiles:
    """Compare ``runs`` (the first is the base) and write ``report.md``, ``report.json`` and ``report.html``.

    ``report.html`` is one self-contained page (charts inline, nothing fetched; see docs/report.md).

    ``effects`` adds paired comparisons of a variant with its own reference run (see ``effects.py``);
    ``report.json`` has an ``effects`` list only when some were asked for.
    """
    comparison = compare_runs(runs, show_harmful=show_harmful, effects=effects)
    out_dir = Path(out_dir)
    markdown, json_path = out_dir / "report.md", out_dir / "report.json"
    exclude = None if comparison.effects else {"effects"}
    atomic_write_text(json_path, comparison.model_dump_json(indent=2, exclude=exclude) + "\n")
    atomic_write_text(markdown, render_markdown(comparison))
    page = out_dir / "report.html"
    atomic_write_text(page, render_html(comparison))
    return ReportFiles(directory=out_dir, markdown=markdown, json_path=json_path, html=page, comparison=comparison)
