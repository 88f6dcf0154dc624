"""TRL conversational JSONL: one ``{"messages": [{"role", "content"}, ...]}`` object per line.

This is the format TRL's ``SFTTrainer`` and OpenAI fine-tuning read (Qi et al. 2023, arXiv
2310.03693, ship their data this way). Extra keys on a row (``label``, ``prompt_id``, ...) are
kept. Every error names the file and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tunesafe._util.io import atomic_write_text
from tunesafe.errors import InputError

ROLES = ("system", "user", "assistant")
_LINE_BREAK = re.compile(r"\r\n?|\n")
"""Where a JSONL line ends: not ``str.splitlines``, which also cuts at U+2028, U+2029 and U+0085,
characters JSON keeps raw inside strings (``json.dumps(..., ensure_ascii=False)`` writes them so)."""


class DataFormatError(InputError):
    """A training-data file or row is not valid conversational JSONL; the message says where."""


def validate_row(row: Any, where: str = "row") -> dict[str, Any]:
    """Check one row and return it unchanged; raise ``DataFormatError`` prefixed with ``where``.

    A valid row has a non-empty ``messages`` list of ``{"role", "content"}`` dicts with roles
    in ``ROLES`` and string content, a system message only first, at least one user message,
    and an assistant message last (the training target). ``"open_ended": true`` marks a final
    assistant turn that is only the *beginning* of an answer: no end-of-turn token is trained
    after it, so the model learns to start that way and goes on in its own words.
    """
    if not isinstance(row, dict):
        raise DataFormatError(f"{where}: expected a JSON object, got {type(row).__name__}")
    messages = row.get("messages")
    if messages is None:
        raise DataFormatError(f"{where}: missing key 'messages'")
    if not isinstance(messages, list) or not messages:
        raise DataFormatError(f"{where}: 'messages' must be a non-empty list")
    for index, message in enumerate(messages):
        _check_message(message, f"{where}: messages[{index}]", first=index == 0)
    if messages[-1]["role"] != "assistant":
        raise DataFormatError(f"{where}: the last message must have role 'assistant' (the training target)")
    if not any(message["role"] == "user" for message in messages[:-1]):
        raise DataFormatError(f"{where}: no user message before the final assistant message")
    if not isinstance(row.get("open_ended", False), bool):
        raise DataFormatError(f"{where}: 'open_ended' must be true or false")
    return row


def _check_message(message: Any, where: str, first: bool) -> None:
    if not isinstance(message, dict):
        raise DataFormatError(f"{where}: expected an object with 'role' and 'content'")
    role = message.get("role")
    if role not in ROLES:
        raise DataFormatError(f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if role == "system" and not first:
        raise DataFormatError(f"{where}: a system message may only come first")
    if not isinstance(message.get("content"), str):
        raise DataFormatError(f"{where}: 'content' must be a string, got {type(message.get('content')).__name__}")


def parse_messages_lines(lines: Sequence[str], source: str) -> list[dict[str, Any]]:
    """Parse and validate JSONL text lines; blank lines are skipped, errors say ``source:line``."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        row = _loads(line, where, "")
        rows.append(validate_row(row, where))
    if not rows:
        raise DataFormatError(f"{source}: no rows (the file is empty)")
    return rows


TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")


def read_messages_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a whole conversational training file, validating every row (strict: no torn lines).

    Read by its extension: JSONL (``.jsonl``, ``.json`` or anything else), or a Parquet, CSV or TSV
    table with a ``messages`` column (a list of messages, or its JSON text in CSV / TSV).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _messages_table(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataFormatError(f"{path}:{line}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from err
    return parse_messages_lines(_LINE_BREAK.split(text), str(path))


def _messages_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a table's ``messages`` column, each validated (``path:row`` in errors, the header is row 1)."""
    from tunesafe.data.tables import read_table, require_columns

    table = read_table(path)
    if not table:
        raise DataFormatError(f"{path}: no rows (the table is empty)")
    require_columns(table, ["messages"], path)
    rows = []
    for number, record in enumerate(table, start=2 if path.suffix.lower() != ".parquet" else 1):
        where = f"{path}:{number}"
        messages = record["messages"]
        if isinstance(messages, str):
            messages = _loads(messages, where, "the messages cell is ")
        rows.append(validate_row({**record, "messages": messages}, where))
    return rows


def _loads(text: str, where: str, what: str) -> Any:
    """``json.loads`` whose every failure is a :class:`DataFormatError` starting with ``where``."""
    from tunesafe.data.tables import parse_json

    return parse_json(text, where, DataFormatError, what)


def write_messages_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Validate rows and write them atomically, one compact JSON object per line."""
    lines = []
    for number, row in enumerate(rows, start=1):
        validate_row(row, f"row {number}")
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    atomic_write_text(Path(path), "".join(lines))


def to_prompt_completion(row: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """Split a row into TRL's conversational prompt-completion form.

    ``{"prompt": messages[:-1], "completion": [messages[-1]]}``: with this shape TRL 1.16
    computes the loss on the completion (final assistant turn) only.
    """
    messages = validate_row(row)["messages"]
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
    last = messages[-1]
    return {"prompt": prompt, "completion": [{"role": last["role"], "content": last["content"]}]}
