"""TRL conversational JSONL: one ``{"messages": [{"role", "content"}, ...]}`` object per line.

This is the format TRL's ``SFTTrainer`` and OpenAI fine-tuning read (Qi et al. 2023, arXiv
2310.03693, ship their data this way). Extra keys on a row (``label``, ``prompt_id``, ...) are
kept. Every error names the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tunesafe._util.io import atomic_write_text

ROLES = ("system", "user", "assistant")


class DataFormatError(ValueError):
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
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{where}: not valid JSON ({err.msg})") from err
        rows.append(validate_row(row, where))
    if not rows:
        raise DataFormatError(f"{source}: no rows (the file is empty)")
    return rows


def read_messages_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a whole conversational JSONL file, validating every row (strict: no torn lines)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    return parse_messages_lines(path.read_text(encoding="utf-8").splitlines(), str(path))


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
