"""report.md's small Markdown subset as HTML, and the page's HTML pieces: escaped text, hashes, figures.

Every piece of text is escaped before any mark is rendered.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["Section", "esc", "figure", "inline", "markdown_to_html", "short_hash"]


class Section(NamedTuple):
    """One ``<section>`` of the page: its anchor id, its heading and its HTML body."""

    id: str
    title: str
    body: str


def esc(value: Any) -> str:
    """``value`` as escaped text; ``–`` for None."""
    return "–" if value is None else html.escape(str(value))


def short_hash(value: Any) -> str:
    """A hash shortened to 12 characters, the full value on hover; ``–`` when not recorded."""
    if not value:
        return "–"
    text = str(value)
    return f'<code title="{html.escape(text)}">{html.escape(text[:12])}</code>'


def figure(chart_id: str, uri: str, caption: str) -> str:
    return (
        f'<figure id="chart-{chart_id}">\n<img src="{html.escape(uri)}" alt="{html.escape(caption)}">\n'
        f"<figcaption>{html.escape(caption)}</figcaption>\n</figure>"
    )


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_NUMERIC = re.compile(r"^(?:[(<>≤≥~+\-−–] ?)*\d")


def inline(text: str) -> str:
    """Escape ``text``, then render report.md's inline marks: `code`, **bold**, *emphasis*."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _EM.sub(r"<em>\1</em>", out)


def _is_numeric(cell: str) -> bool:
    return bool(_NUMERIC.match(cell)) or cell in ("–", "(base)") or cell.startswith("– (")


def _table(rows: Sequence[str]) -> str:
    """A Markdown table (header, rule, body rows) as HTML; columns of numbers are right-aligned."""
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    header, body = cells[0], cells[2:]
    columns = [[r[i] for r in body if i < len(r) and r[i]] for i in range(len(header))]
    numeric = [bool(col) and all(map(_is_numeric, col)) and any(map(_NUMERIC.match, col)) for col in columns]

    def row_html(row: Sequence[str], tag: str) -> str:
        out = []
        for i, c in enumerate(row):
            classes = " ".join(x for x, on in (("num", i < len(numeric) and numeric[i]), ("nw", len(c) <= 40)) if on)
            attr = f' class="{classes}"' if classes else ""
            out.append(f"<{tag}{attr}>{inline(c)}</{tag}>")
        return "".join(out)

    head = f"<thead><tr>{row_html(header, 'th')}</tr></thead>"
    rows_html = "".join(f"<tr>{row_html(r, 'td')}</tr>" for r in body)
    return f'<div class="table-wrap"><table>{head}<tbody>{rows_html}</tbody></table></div>'


def markdown_to_html(lines: Sequence[str], *, heading_shift: int = 1, skip_title: bool = False) -> str:
    """The Markdown subset report.md uses (headings, tables, bullet lists, paragraphs, inline marks) as HTML.

    ``#`` headings become ``h{n + heading_shift}``; ``skip_title`` drops a leading heading (the HTML
    section has its own title).
    """
    out: list[str] = []
    i, n = 0, len(lines)
    started = False
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            if not (skip_title and not started):
                level = min(len(heading.group(1)) + heading_shift, 6)
                out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            started = True
            i += 1
            continue
        started = True
        j = i
        if line.startswith("|"):
            while j < n and lines[j].startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
        elif line.startswith("- "):
            while j < n and lines[j].startswith("- "):
                j += 1
            out.append("<ul>" + "".join(f"<li>{inline(x[2:])}</li>" for x in lines[i:j]) + "</ul>")
        else:
            while j < n and lines[j].strip() and not lines[j].startswith(("|", "- ", "#")):
                j += 1
            out.append(f"<p>{inline(' '.join(lines[i:j]))}</p>")
        i = j
    return "\n".join(out)
