"""The report as one self-contained HTML page (``page.py``): sections, tables and inline charts."""

from __future__ import annotations

from tunesafe.report.render.html.markup import markdown_to_html
from tunesafe.report.render.html.page import render_html

__all__ = ["markdown_to_html", "render_html"]
