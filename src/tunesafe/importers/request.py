"""An import asked for in words: which options fit which audit and source format, drift's ``PATH[:CONDITION]``
sources and ``KEY=COLUMN`` mappings, then the importer that fits (:mod:`~tunesafe.importers.completions`,
:mod:`~tunesafe.importers.drift`, or an inspect / lm-eval log: :mod:`~tunesafe.importers.logs`).

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
from tunesafe.importers.completions import ImportAudit, ImportColumns, check_output_free, import_completions
from tunesafe.importers.detect import FORMATS, LOG_FORMATS, SourceFormat, detect_format
from tunesafe.importers.drift import import_drift
from tunesafe.importers.drift_files import DriftColumns, MatchMode
from tunesafe.importers.logs import LogOptions, write_log_run
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
_LOG_COMMON = ("--label-col", "--label-judge", "--category-col", "--subset-col", "--judge")
# the options each log format reads (--audit, --name, --format apply to every import)
LOG_OPTIONS = {
    "inspect": _LOG_COMMON,
    "lm-eval": (*_LOG_COMMON, "--prompt-col", "--id-col"),
}


@dataclass(frozen=True)
class ImportRequest:
    """Every import option; the defaults are the importers' own, and an option differing from its default is given.

    ``columns``, ``label_judge``, ``split`` and ``judges`` are for completions (``audit`` harmful or
    overrefusal; ``judges`` are the judge names the caller applies afterwards with
    :func:`tunesafe.rejudge.rejudge_run`); ``condition``, ``drift_columns`` (``KEY=COLUMN`` texts or
    ``published``), ``trivia`` and ``match`` are for ``audit="drift"``. ``format``: ``auto`` (told from
    the file, :func:`~tunesafe.importers.detect.detect_format`), ``table``, ``inspect`` or ``lm-eval``;
    a log reads only the options of :data:`LOG_OPTIONS`.
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
    format: str = "auto"

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
            ``--match``, ``--format`` or column key.
        ValueError: what :func:`~tunesafe.importers.completions.import_completions`,
            :func:`~tunesafe.importers.drift.import_drift` or :func:`import_log` refuse.
    """
    request.check()
    fmt = source_format(sources, request)
    if fmt != "table":
        if len(sources) != 1:
            raise ConfigError(f"give one {fmt} SOURCE, not {len(sources)}")
        return import_log(sources[0], output, fmt, request)
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


def source_format(sources: Sequence[str], request: ImportRequest) -> SourceFormat:
    """``request.format``, or the format told from the one source (drift's sources are tables).

    Raises:
        ConfigError: an unknown ``--format``, or a log format with ``--audit drift``.
    """
    if request.format not in FORMATS:
        raise ConfigError(f"--format {request.format!r}: use {', '.join(FORMATS)}")
    if request.format in LOG_FORMATS and request.audit == "drift":
        raise ConfigError(f"--format {request.format}: a log imports as --audit harmful or overrefusal, not drift")
    if request.format != "auto":
        return cast(SourceFormat, request.format)
    return detect_format(sources[0]) if len(sources) == 1 and request.audit != "drift" else "table"


def log_options(fmt: str, request: ImportRequest) -> LogOptions:
    """The options a log of ``fmt`` reads.

    Raises:
        ConfigError: an option the format does not read (``--completion-col: not for inspect logs``).
    """
    misplaced = [flag for flag, given in request.given().items() if given and flag not in LOG_OPTIONS[fmt]]
    if misplaced:
        raise ConfigError(f"{', '.join(misplaced)}: not for {fmt} logs")
    columns, given = request.columns, request.given()
    return LogOptions(
        label=columns.label,
        label_judge=request.label_judge,
        category=columns.category,
        subset=columns.subset,
        prompt=columns.prompt if given["--prompt-col"] else None,
        id=columns.id,
    )


def import_log(source: str, output: str | Path, fmt: SourceFormat, request: ImportRequest) -> RunDir:
    """Import an inspect_ai eval log or lm-eval ``--log_samples`` output (:mod:`~tunesafe.importers.logs`).

    Raises:
        ConfigError: a misplaced option.
        ValueError: an output that is not new or empty; what the readers refuse
            (:class:`~tunesafe.importers.logs.LogImportError`). Nothing is left behind.
    """
    from tunesafe.importers.inspect_log import read_inspect_log
    from tunesafe.importers.lm_eval_samples import read_lm_eval

    options = log_options(fmt, request)
    output = Path(output).expanduser()
    check_output_free(output)
    path = Path(source).expanduser()
    read = read_inspect_log(path, options) if fmt == "inspect" else read_lm_eval(path, options)
    audit = cast(ImportAudit, request.audit)  # check() and source_format() leave harmful or overrefusal
    if audit not in ("harmful", "overrefusal"):
        raise ConfigError(f"--audit {request.audit}: a log imports as harmful or overrefusal")
    label_judge = options.label_judge if options.label else None
    return write_log_run(read, output, source=source, audit=audit, name=request.name, label_judge=label_judge)
