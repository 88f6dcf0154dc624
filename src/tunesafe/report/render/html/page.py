"""Comparison → one self-contained HTML page: the plain-language summary first, then charts beside the tables.

The sentences and tables are report.md's own (``render/markdown`` writes them; :func:`markdown_to_html`
turns that small Markdown subset into HTML), so both reports always say the same thing. The charts
come from ``render/plots`` as SVG ``data:`` URIs; the page loads nothing from anywhere: no external CSS,
scripts, fonts or images. Every piece of text is escaped.
"""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.render.html.markup import esc, inline
from tunesafe.report.render.html.sections import page_sections
from tunesafe.report.render.html.style import CSS
from tunesafe.report.render.markdown.document import audit_line

__all__ = ["TITLE", "render_html"]

TITLE = "tunesafe report: what fine-tuning did to the model"


def render_html(comp: Comparison) -> str:
    """The whole page for ``comp``; sections whose data the comparison lacks are left out."""
    sections = page_sections(comp)
    toc = "".join(f'<li><a href="#{s.id}">{esc(s.title)}</a></li>' for s in sections)
    body = "\n".join(f'<section id="{s.id}">\n<h2>{esc(s.title)}</h2>\n{s.body}\n</section>' for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(TITLE)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{esc(TITLE)}</h1>\n<p class="meta">{inline(audit_line(comp))}</p>\n'
        f'<nav class="toc" aria-label="Contents"><ol>{toc}</ol></nav>\n{body}\n</main>\n</body>\n</html>\n'
    )
