"""HarmBench text behaviours (Mazeika et al. 2024, arXiv 2402.04249), from a verified bundled file.

Columns kept: Behavior, FunctionalCategory (standard / contextual / copyright),
SemanticCategory, Tags, ContextString, BehaviorID.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel

REQUIRED_COLUMNS = ("Behavior", "FunctionalCategory", "SemanticCategory", "ContextString", "BehaviorID")


class Behavior(BaseModel):
    id: str
    behavior: str
    functional_category: str
    semantic_category: str
    context: str | None = None
    tags: str | None = None


def read_behaviors(path: Path) -> list[Behavior]:
    """Read a HarmBench behaviours CSV; a missing column is an error naming it."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing HarmBench column(s) {missing}; found {reader.fieldnames}")
        return [
            Behavior(
                id=row["BehaviorID"],
                behavior=row["Behavior"],
                functional_category=row["FunctionalCategory"],
                semantic_category=row["SemanticCategory"],
                context=row["ContextString"] or None,
                tags=row.get("Tags") or None,
            )
            for row in reader
        ]


def load_behaviors(split: str = "test") -> list[Behavior]:
    """The bundled HarmBench split ("test": 320 rows, "val": 80 rows), sha256-verified."""
    from tunesafe.assets import data_file

    return read_behaviors(data_file(f"harmbench-{split}"))
