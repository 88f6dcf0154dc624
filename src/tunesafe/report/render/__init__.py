"""Rendering a built comparison: Markdown (``markdown/``), one self-contained HTML page (``html/``) and
its inline SVG charts (``plots/``). Renderers read a :class:`~tunesafe.report.build.compare.Comparison`
and never a run directory; ``fmt.py`` and ``table.py`` hold the number formats and the Markdown table."""
