"""A user's fine-tuning table with a column mapping → TRL ``messages`` rows labelled by role.

The published harmful / safe pairs (Kumar 2024, arXiv 2409.19476, trained on LLM-LAT's
harmful-dataset: ``prompt`` + ``rejected`` is the harmful answer, ``prompt`` + ``chosen`` the safe
one) load as::

    data: {path: pairs.parquet, columns: {prompt: prompt, response: rejected}, role: harmful}
    data: {path: pairs.parquet, columns: {prompt: prompt, response: chosen}, role: safe}

Any file ``tunesafe.data.tables.read_table`` reads works (CSV, TSV, JSONL, JSON, Parquet,
``hf:<name>``). Rows of role ``harmful`` or ``safe`` hold harmful *requests*, so requests that
near-duplicate an evaluation prompt are dropped (``drop_eval_overlap_rows``), as for the recipes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tunesafe.config import MAPPED_FIELDS, check_mapping
from tunesafe.data.recipes import NEAR_DUPLICATE_THRESHOLD, near_duplicates
from tunesafe.data.tables import TableError, read_table, require_columns, table_sha256

ROLES = ("harmful", "safe", "benign")
REQUEST_ROLES = frozenset({"harmful", "safe"})
"""Roles whose prompts are harmful requests and so must stay disjoint from evaluation prompts."""


def role_label(role: str) -> str:
    """The ``label`` of a user row of ``role`` (``user-harmful``, ``user-safe``, ``user-benign``)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return f"user-{role}"


def load_mapped_rows(
    source: str,
    columns: Mapping[str, str],
    role: str,
    system_prompt: str | None = None,
    split: str = "train",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows ``{messages, label, prompt_id, category}`` from a user table, and a record of the source.

    ``columns`` maps ``prompt`` and ``response`` (and optionally ``system``, ``id``, ``category``)
    to the table's column names. A row's own system column wins over ``system_prompt``. Rows with
    an empty prompt or response are skipped and counted.

    Raises:
        TableError: unreadable source or a mapped column it lacks (the message lists the available ones).
        ValueError: a bad mapping or role.
    """
    check_mapping(columns)
    label = role_label(role)
    table = read_table(source, split=split)
    require_columns(table, [columns.get(name) for name in MAPPED_FIELDS], source)
    rows, skipped = [], 0
    for index, record in enumerate(table):
        prompt, response = _text(record, columns["prompt"]), _text(record, columns["response"])
        if not prompt or not response:
            skipped += 1
            continue
        system = _text(record, columns["system"]) if columns.get("system") else ""
        system = system or system_prompt or ""
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        row_id = _text(record, columns["id"]) if columns.get("id") else ""
        category = _text(record, columns["category"]) if columns.get("category") else ""
        rows.append(
            {
                "messages": messages,
                "label": label,
                "prompt_id": row_id or f"user-{index:05d}",
                "category": category or None,
            }
        )
    if not rows:
        raise TableError(f"{source}: no row has both a {columns['prompt']!r} and a {columns['response']!r} value")
    record = {
        "path": str(source),
        "sha256": table_sha256(source, table),
        "columns": dict(columns),
        "role": role,
        "rows_read": len(table),
        "rows_skipped_empty": skipped,
    }
    return rows, record


def drop_eval_overlap_rows(
    rows: Sequence[dict[str, Any]],
    behaviors: Sequence[tuple[str, str]],
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Drop rows whose user prompt near-duplicates an evaluation behaviour ``(id, text)``; return (kept, excluded)."""
    texts = [_user_text(row) for row in rows]
    hits = near_duplicates(texts, [text for _, text in behaviors], threshold)
    dropped = {i for i, _, _ in hits}
    excluded = [
        {"prompt_id": rows[i]["prompt_id"], "eval_id": behaviors[j][0], "similarity": round(score, 4)}
        for i, j, score in hits
    ]
    return [row for i, row in enumerate(rows) if i not in dropped], excluded


def _user_text(row: Mapping[str, Any]) -> str:
    text: str = next(m["content"] for m in row["messages"] if m["role"] == "user")
    return text


def _text(record: Mapping[str, Any], column: str) -> str:
    value = record.get(column)
    return "" if value is None else str(value).strip()
