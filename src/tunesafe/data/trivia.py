"""Trivia questions with a false context, for the knowledge-drift audit (Kumar 2024, arXiv 2409.19476).

Each item has a question, its answer and accepted aliases, one plausible wrong answer, and one
sentence asserting the wrong answer (the "false context" injected before the question). Sources:

- the bundled set ``trivia.jsonl``, authored for tunesafe from well-established facts;
- the published 1,000-question file format of the seed paper's repository
  (``id, question, true_answer, wrong_answer, context``; JSON list or any table format);
- a user file (CSV / JSONL / JSON / Parquet) in either shape.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tunesafe.data import bundled_path

BUNDLED_FILE = "trivia.jsonl"
PUBLISHED_COLUMNS = ("id", "question", "true_answer", "wrong_answer", "context")
NATIVE_COLUMNS = ("id", "question", "answer", "wrong_answer", "false_context")


class TriviaItem(BaseModel):
    """One question: ``answer`` plus ``aliases`` are correct; ``false_context`` asserts ``wrong_answer``."""

    id: str
    question: str
    answer: str
    aliases: list[str] = Field(default_factory=list)
    wrong_answer: str
    false_context: str
    domain: str | None = None


def load_trivia(source: str | Path | None = None) -> list[TriviaItem]:
    """The bundled set, or a file in tunesafe's shape or the published one (detected from its columns).

    Raises:
        ValueError: a missing column, an empty cell or a repeated id, naming the file and row.
    """
    if source is None:
        path = bundled_path(BUNDLED_FILE)
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return _items(rows, str(path))
    rows = _read(Path(source))
    return _items(rows, str(source))


def _read(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            return data
    from tunesafe.data.tables import read_table

    return read_table(path)


def _items(rows: Sequence[dict[str, Any]], source: str) -> list[TriviaItem]:
    if not rows:
        raise ValueError(f"{source}: no questions")
    keys = set(rows[0])
    published = set(PUBLISHED_COLUMNS) <= keys and "answer" not in keys
    needed = PUBLISHED_COLUMNS if published else NATIVE_COLUMNS
    items, seen = [], set()
    for number, row in enumerate(rows, start=1):
        missing = [c for c in needed if c not in row or str(row[c]).strip() == ""]
        if missing:
            raise ValueError(f"{source}: row {number}: missing or empty {missing}; expected columns {list(needed)}")
        item = _from_published(row) if published else TriviaItem.model_validate(row)
        if item.id in seen:
            raise ValueError(f"{source}: row {number}: id {item.id!r} repeats an earlier row")
        seen.add(item.id)
        items.append(item)
    return items


def _from_published(row: dict[str, Any]) -> TriviaItem:
    """The seed paper's shape: one gold string, no aliases; ``context`` asserts ``wrong_answer``."""
    return TriviaItem(
        id=str(row["id"]),
        question=str(row["question"]),
        answer=str(row["true_answer"]),
        wrong_answer=str(row["wrong_answer"]),
        false_context=str(row["context"]),
    )
