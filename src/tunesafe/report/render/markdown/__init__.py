"""The report as Markdown: one module per part of report.md, assembled by ``document.py``."""

from __future__ import annotations

from tunesafe.report.render.markdown.document import render_markdown
from tunesafe.report.render.markdown.summary import summary_lines

__all__ = ["render_markdown", "summary_lines"]
