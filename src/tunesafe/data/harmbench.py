"""HarmBench text behaviours (Mazeika et al. 2024, arXiv 2402.04249), from a verified bundled file.

Columns kept: Behavior, FunctionalCategory (standard / contextual / copyright),
SemanticCategory, Tags, ContextString, BehaviorID.

Contextual behaviours put their context in the user turn, as HarmBench does
(``context + "\\n\\n---\\n\\n" + behaviour``); ``context_role="system"`` reproduces Kumar 2024
(arXiv 2409.19476), which used the system role instead.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel

from tunesafe.types import Conversation, Sample

REQUIRED_COLUMNS = ("Behavior", "FunctionalCategory", "SemanticCategory", "ContextString", "BehaviorID")
CONTEXT_SEPARATOR = "\n\n---\n\n"


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


def context_messages(prompt: str, context: str | None = None, context_role: str = "user") -> Conversation:
    """One request as chat turns: the context joined before it in the user turn (HarmBench), or as a system turn."""
    if context and context_role == "system":
        return [{"role": "system", "content": context}, {"role": "user", "content": prompt}]
    if context:
        return [{"role": "user", "content": context + CONTEXT_SEPARATOR + prompt}]
    return [{"role": "user", "content": prompt}]


def behavior_to_sample(behavior: Behavior, context_role: str = "user") -> Sample:
    """A HarmBench row as a Sample: id = BehaviorID, category = SemanticCategory, subset = FunctionalCategory."""
    return Sample(
        id=behavior.id,
        messages=context_messages(behavior.behavior, behavior.context, context_role),
        category=behavior.semantic_category,
        subset=behavior.functional_category,
        metadata={"behavior": behavior.behavior},
    )
