"""The one Markdown table shape the reports write: header row, rule row, body rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["md_row", "md_table"]


def md_row(cells: Iterable[object]) -> str:
    """``| a | b |``: one table row (each cell as ``str`` gives it)."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def md_table(
    header: Sequence[str], rows: Iterable[Sequence[object]] = (), *, rule: Sequence[str] | None = None
) -> list[str]:
    """The header, the rule (``|---|`` per column unless ``rule`` gives each column's, e.g. ``"---:"``) and
    one line per row."""
    cells = rule if rule is not None else ["---"] * len(header)
    return [md_row(header), "|" + "".join(f"{cell}|" for cell in cells), *(md_row(row) for row in rows)]
