"""An import asked for in words: which options fit which audit, drift's ``PATH[:CONDITION]`` sources and
``KEY=COLUMN`` mappings, then the importer that fits (:mod:`~tunesafe.importers.completions` or
:mod:`~tunesafe.importers.drift`).

Errors are :class:`~tunesafe.config.ConfigError` one-liners naming the option (``--columns``, ``--match``,
…), as ``tunesafe import`` states them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydantic import ValidationError

from tunesafe.audits.drift_conditions import parse_condition
from tunesafe.config import ConfigError
from tunesafe.importers.completions import ImportAudit, ImportColumns, import_completions
from tunesafe.importers.drift import import_drift
from tunesafe.importers.drift_files import DriftColumns, MatchMode
from tunesafe.results import RunDir

DRIFT_ONLY = ("--condition", "--columns", "--trivia", "--match")
# the completions importer's column options, in the order a misplaced-options message lists them
_COLUMN_OPTIONS = {
    "--prompt-col": "prompt",
    "--completion-col": "completion",
    "--category-col": "category",
    "--id-col": "id",
    "--subset-col": "subset",
    "--context-col": "context",
    "--label-col": "label",
}


@dataclass(frozen=True)
class ImportRequest:
    """Every import option; the defaults are the importers' own, and an option differing from its default is given.

    ``columns``, ``label_judge``, ``split`` and ``judges`` are for completions (``audit`` harmful or
    overrefusal; ``judges`` are the judge names the caller applies afterwards with
    :func:`tunesafe.rejudge.rejudge_run`); ``condition``, ``drift_columns`` (``KEY=COLUMN`` texts or
    ``published``), ``trivia`` and ``match`` are for ``audit="drift"``.
    """

    audit: str = "harmful"
    columns: ImportColumns = field(default_factory=ImportColumns)
    label_judge: str = "imported-label"
    split: str = "train"
    name: str | None = None
    judges: Sequence[str] = ()
    condition: str | None = None
    drift_columns: Sequence[str] = ()
    trivia: str | Path | None = None
    match: str = "normalized"

    def given(self) -> dict[str, bool]:
        """Each option (by its flag) → whether it differs from its default."""
        default = ImportRequest()
        return {
            **{
                flag: getattr(self.columns, key) != getattr(default.columns, key)
                for flag, key in _COLUMN_OPTIONS.items()
            },
            "--label-judge": self.label_judge != default.label_judge,
            "--split": self.split != default.split,
            "--judge": bool(self.judges),
            "--condition": self.condition is not None,
            "--columns": bool(self.drift_columns),
            "--trivia": self.trivia is not None,
            "--match": self.match != default.match,
        }

    def check(self) -> None:
        """Refuse options given for the other kind of import (drift's for completions, or the reverse).

        Raises:
            ConfigError: ``--trivia, --match: only for --audit drift`` or ``--judge: not for --audit drift``.
        """
        drift = self.audit == "drift"
        misplaced = [k for k, v in self.given().items() if v and (k in DRIFT_ONLY) != drift]
        if misplaced:
            raise ConfigError(f"{', '.join(misplaced)}: {'not' if drift else 'only'} for --audit drift")


def parse_drift_sources(sources: Sequence[str], condition: str | None) -> list[tuple[str, str | None]]:
    """``PATH`` or ``PATH:CONDITION`` texts → ``(path, condition)``; without a suffix, ``condition``.

    A suffix that is no drift condition (B, FIP, FIPx<n>, RIP) stays part of the path (``hf:name``).
    """
    pairs: list[tuple[str, str | None]] = []
    for text in sources:
        path, _, suffix = text.rpartition(":")
        try:
            parse_condition(suffix)
        except ValueError:
            path, suffix = text, ""
        pairs.append((path, suffix or condition) if path else (text, condition))
    return pairs


def parse_column_specs(specs: Sequence[str]) -> tuple[dict[str, str | None], bool]:
    """``KEY=COLUMN[,KEY=COLUMN…]`` texts → the mapping, and whether ``published`` is among them.

    After ``published`` an empty ``KEY=`` switches a key off (None).

    Raises:
        ConfigError: an item that is not ``KEY=COLUMN`` (or ``KEY=`` with ``published``).
    """
    items = [part.strip() for spec in specs for part in spec.split(",")]
    published = "published" in items
    mapping: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if item == "published":
            continue
        if not sep or not key.strip() or not (value.strip() or published):
            raise ConfigError(f"--columns {item!r}: write KEY=COLUMN (or 'published', then KEY= for no column)")
        mapping[key.strip()] = value.strip() or None
    return mapping, published


def drift_columns(mapping: dict[str, str | None], published: bool) -> DriftColumns:
    """The :class:`DriftColumns` of a parsed mapping (Kumar 2024's found per file when ``published``).

    Raises:
        ConfigError: an unknown key (the message lists the keys), or a required one switched off.
    """
    try:
        return DriftColumns.published(**mapping) if published else DriftColumns.model_validate(mapping)
    except ValidationError as err:
        keys = ", ".join(DriftColumns.model_fields)
        error = err.errors()[0]
        key = error["loc"][0] if error["loc"] else "(all)"
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"--columns: {key!s}: unknown key; keys: {keys}") from err
        if error.get("input", "") is None:  # a required column (question_id, answer) given as KEY= after published
            raise ConfigError(f"--columns: {key!s}: needs a column name; it cannot be switched off") from err
        raise ConfigError(f"--columns: {key!s}: {error['msg']}") from err


def parse_match(text: str) -> MatchMode:
    """The rule recomputing correctness: ``normalized`` or ``substring``.

    Raises:
        ConfigError: any other text.
    """
    if text in ("normalized", "substring"):
        return "substring" if text == "substring" else "normalized"
    raise ConfigError(f"--match {text!r}: use normalized or substring")


def import_sources(sources: Sequence[str], output: str | Path, request: ImportRequest) -> RunDir:
    """Check ``request``, then import: one completions file, or per-answer drift files (``PATH[:CONDITION]``).

    The request's ``judges`` are not applied here (rejudge the returned run with them).

    Raises:
        ConfigError: a misplaced option, several sources for completions, a bad ``--columns`` item,
            ``--match`` or column key.
        ValueError: what :func:`~tunesafe.importers.completions.import_completions` or
            :func:`~tunesafe.importers.drift.import_drift` refuse.
    """
    request.check()
    if request.audit == "drift":
        pairs = parse_drift_sources(sources, request.condition)
        mapping, published = parse_column_specs(request.drift_columns)
        match = parse_match(request.match)
        columns = drift_columns(mapping, published)
        return import_drift(pairs, output, columns=columns, trivia=request.trivia, match=match, name=request.name)
    if len(sources) != 1:
        raise ConfigError(f"give one SOURCE (several only with --audit drift), not {len(sources)}")
    return import_completions(
        sources[0],
        output,
        columns=request.columns,
        audit=cast(ImportAudit, request.audit),  # import_completions refuses any other audit
        name=request.name,
        label_judge=request.label_judge,
        split=request.split,
    )
