"""Which kind of file an import source is: a completions table, an inspect_ai log, or lm-eval output.

Told from the file itself, cheaply (its name, and the first 64 KiB or the first line):

- a folder → ``lm-eval`` (an ``--output_path`` folder);
- ``*.eval`` → ``inspect``;
- ``*.json`` whose first key is inspect's ``version`` and that has an ``eval`` object → ``inspect``;
  whose first key is ``results`` → ``lm-eval`` (a results file: its run's samples files are beside it);
- ``*.jsonl`` whose first line has ``doc_id``, ``doc``, ``arguments`` and ``resps`` → ``lm-eval``;
- anything else (CSV, TSV, Parquet, other JSON / JSONL, ``hf:name``) → ``table``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

SourceFormat = Literal["table", "inspect", "lm-eval"]
FORMATS: tuple[str, ...] = ("auto", "table", "inspect", "lm-eval")
LOG_FORMATS: tuple[str, ...] = ("inspect", "lm-eval")

_PEEK = 64 * 1024
_FIRST_KEY = re.compile(r'^\s*\{\s*"([^"]+)"\s*:')
_LM_EVAL_KEYS = {"doc_id", "doc", "arguments", "resps"}


def _head(path: Path, first_line: bool) -> str:
    """The first 64 KiB, or the first non-blank line whole (an lm-eval line holds a whole doc)."""
    with path.open("rb") as handle:
        if not first_line:
            return handle.read(_PEEK).decode("utf-8", errors="replace")
        for line in handle:
            if line.strip():
                return line.decode("utf-8", errors="replace")
        return ""


def _json_kind(head: str) -> SourceFormat:
    match = _FIRST_KEY.match(head)
    key = match.group(1) if match else None
    if key == "version" and '"eval"' in head:
        return "inspect"
    return "lm-eval" if key == "results" else "table"


def _jsonl_kind(first: str) -> SourceFormat:
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return "table"  # the table reader names the bad line
    return "lm-eval" if isinstance(row, dict) and set(row) >= _LM_EVAL_KEYS else "table"


def detect_format(source: str) -> SourceFormat:
    """The format of ``source`` (see the module docstring); ``table`` for what cannot be read here, so the
    table reader reports a missing or unreadable file in its own words."""
    if source.startswith("hf:"):
        return "table"
    path = Path(source).expanduser()
    if path.is_dir():
        return "lm-eval"
    suffix = path.suffix.lower()
    if suffix == ".eval":
        return "inspect"
    if suffix not in (".json", ".jsonl") or not path.is_file():
        return "table"
    try:
        head = _head(path, first_line=suffix == ".jsonl")
    except OSError:
        return "table"
    return _json_kind(head) if suffix == ".json" else _jsonl_kind(head)
