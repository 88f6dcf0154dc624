"""Import per-answer knowledge-drift results made elsewhere, and aggregate them like the drift audit.

Files read by :mod:`tunesafe.importers.drift_files` (Kumar 2024's as published, or any per-answer
table; Fastowski & Kasneci 2024 ask each question several times and take the majority answer)
become a drift run directory written like the runner's (``samples/drift.jsonl``, ``metrics.json``
from :func:`tunesafe.audits.drift.aggregate`), so the published tables can be recomputed and
compared with tunesafe's own runs. All or nothing, as :mod:`tunesafe.importers.completions`: every
file is validated before anything is written, and the run is renamed into place at the end.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesafe.audits import drift
from tunesafe.audits.drift_conditions import parse_condition
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, DriftAuditSpec, ModelSpec
from tunesafe.data.registry import slug
from tunesafe.data.tables import HF_PREFIX
from tunesafe.data.trivia import TriviaItem, load_trivia
from tunesafe.importers.completions import check_output_free, write_run_atomically
from tunesafe.importers.drift_files import AnswerRow, DriftColumns, MatchMode, check_condition, read_answer_file
from tunesafe.results import RunDir
from tunesafe.types import SampleRecord

logger = logging.getLogger(__name__)

_KIND_ORDER = {"B": 0, "FIP": 1, "RIP": 2}


def _run_indices(rows: Sequence[AnswerRow]) -> dict[Any, int]:
    """The run column's distinct values → 0, 1, …: numerically when all are integers, else as text."""
    values = {r.run for r in rows}
    try:
        ordered = sorted(values, key=int)
    except (TypeError, ValueError):
        ordered = sorted(values, key=str)
    return {value: index for index, value in enumerate(ordered)}


def _check_rows(rows: Sequence[AnswerRow]) -> list[str]:
    """Unique (question, condition, run); B present; no two names for one condition. The conditions in order."""
    first: dict[tuple[str, str, Any], AnswerRow] = {}
    for row in rows:
        key = (row.question_id, row.condition, row.run)
        if key in first:
            earlier = first[key]
            run = f", run {row.run}" if row.run is not None else ""
            raise ValueError(
                f"{row.source}: row {row.number}: question {row.question_id!r} under {row.condition}{run} repeats "
                f"{earlier.source}: row {earlier.number}; several answers per question need a run column"
            )
        first[key] = row
    names = sorted({r.condition for r in rows}, key=lambda c: (_KIND_ORDER[parse_condition(c)[0]], *parse_condition(c)))
    parsed = Counter(parse_condition(c) for c in names)
    clash = [c for c in names if parsed[parse_condition(c)] > 1]
    if clash:
        raise ValueError(f"conditions {', '.join(clash)} name the same condition; use one spelling")
    if "B" not in names:
        raise ValueError(
            f"no answers under B (conditions found: {', '.join(names)}); "
            "B is the baseline every change is measured against"
        )
    return names


def build_drift_records(
    sources: Sequence[tuple[str | Path, str | None]],
    columns: DriftColumns,
    *,
    trivia: Sequence[TriviaItem] | None = None,
    match: MatchMode = "normalized",
) -> tuple[list[SampleRecord], list[str], dict[str, Any]]:
    """Validated drift records from per-answer files, the conditions found (B first), and provenance.

    Raises:
        ValueError: no files, an unreadable file, a missing column, an unknown condition, an
            unparseable correctness or metric cell, no way to tell correctness, a question id not in
            the trivia file, a repeated (question, condition, run), no B answers.
    """
    if not sources:
        raise ValueError("no files to import")
    if columns.correct is None and columns.gold is None and trivia is None:
        raise ValueError(
            "correctness cannot be told: name a correctness column (correct=...), a true-answer column "
            "(gold=...), or give the trivia file the questions come from"
        )
    by_id = {item.id: item for item in trivia} if trivia is not None else None
    counts: Counter[str] = Counter()
    rows: list[AnswerRow] = []
    files = []
    for path, fixed in sources:
        text = str(path)
        if fixed is not None:
            check_condition(fixed, text)
        part, info = read_answer_file(text, fixed, columns, by_id, match, counts)
        rows += part
        files.append(info)
    conditions = _check_rows(rows)
    index = _run_indices(rows) if columns.run else {None: 0}
    records = []
    for row in rows:
        k = index[row.run]
        metadata = {**row.record["metadata"], **({"run": k} if columns.run else {})}
        sample_id = f"{row.question_id}:{row.condition}" + (f":r{k}" if k else "")
        records.append(SampleRecord(sample_id=sample_id, **{**row.record, "metadata": metadata}))
    if counts["empty_answers"]:
        logger.warning("%d imported answer(s) are empty; they count as incorrect", counts["empty_answers"])
    if counts["disagreements"]:
        logger.warning(
            "the correctness column disagrees with the %s-match rule on %d of %d answers",
            match,
            counts["disagreements"],
            counts["checked"],
        )
    provenance = {
        "files": [{k: v for k, v in f.items() if k != "correctness"} for f in files],
        "correctness": {
            "source": ", ".join(dict.fromkeys(f["correctness"] for f in files)),
            "match": match,
            "checked_against_rule": counts["checked"],
            "disagreements_with_rule": counts["disagreements"],
        },
        "empty_answers": counts["empty_answers"],
        "runs": len(index),
    }
    return records, conditions, provenance


def _default_name(sources: Sequence[tuple[str | Path, str | None]]) -> str:
    stems = [Path(str(p).removeprefix(HF_PREFIX)).stem for p, _ in sources]
    common = os.path.commonprefix(stems).strip("_- .")
    return slug(common or stems[0])


def _source_label(sources: Sequence[tuple[str | Path, str | None]]) -> str:
    """``import:<file>``, or ``import:<common folder> (<n> files)``; the manifest lists every file."""
    paths = [str(p) for p, _ in sources]
    if len(paths) == 1:
        return f"import:{paths[0]}"
    try:
        folder = os.path.commonpath(paths)
    except ValueError:  # absolute and relative paths mixed
        folder = ""
    return f"import:{folder or paths[0]} ({len(paths)} files)"


def import_drift(
    sources: Sequence[tuple[str | Path, str | None]],
    output: str | Path,
    *,
    columns: DriftColumns | None = None,
    trivia: str | Path | None = None,
    match: MatchMode = "normalized",
    name: str | None = None,
) -> RunDir:
    """Turn per-answer drift files into a finished drift run directory at ``output``.

    ``sources``: ``(file, condition)`` pairs; a ``None`` condition reads each row's condition from
    ``columns.condition``. ``trivia``: the question file (tunesafe's or the published shape) for
    true answers, aliases, wrong answers and questions the files lack. ``match``: the rule that
    recomputes correctness (``"substring"`` is Kumar 2024's). Writes ``config.yaml`` (model backend
    ``imported``), ``manifest.json`` (every file's sha256, condition and row count; the columns),
    ``samples/drift.jsonl`` and ``metrics.json`` (``drift``: the audit's aggregation).

    Raises:
        ValueError: an existing non-empty ``output``, or any problem :func:`build_drift_records`
            names. Nothing is left behind.
    """
    from tunesafe._util.hashing import sha256_file, sha256_obj

    columns = columns or DriftColumns()
    output = Path(output).expanduser()
    check_output_free(output)
    items = load_trivia(trivia) if trivia is not None else None
    records, conditions, provenance = build_drift_records(sources, columns, trivia=items, match=match)
    runs = provenance["runs"]
    run_name = name or _default_name(sources)
    spec = DriftAuditSpec(
        dataset=str(trivia) if trivia is not None else None, conditions=conditions, match=match, runs=runs
    )
    config = AuditConfig(
        name=run_name,
        model=ModelSpec(source=_source_label(sources), backend="imported"),
        audits=AuditsSpec(harmful=None, overrefusal=None, drift=spec),
        cache=CacheSpec(),
    )
    metrics = {drift.NAME: drift.aggregate(records, conditions)}
    sha = sha256_obj([f["sha256"] for f in provenance["files"]])
    dataset = {
        "name": str(trivia) if trivia is not None else "imported drift answers",
        "title": "imported knowledge-drift answers",
        "source": str(trivia) if trivia is not None else ", ".join(f["path"] for f in provenance["files"]),
        "license": "unknown (user-supplied)",
        "sha256": sha256_file(Path(trivia)) if trivia is not None else sha,
        "n_rows": len({r.metadata["question_id"] for r in records}),
        "files": provenance["files"],
    }
    info = {
        "imported_from": [f["path"] for f in provenance["files"]],
        "columns": columns.model_dump(),
        **({"columns_found_per_file": sorted(columns.detected)} if columns.detected else {}),
        "n_rows": len(records),
        **provenance,
        "prompts": "rebuilt from the question and context; not necessarily the exact prompt the answers came from",
    }
    write_run_atomically(output, config, drift.NAME, records, metrics, {"model": sha}, dataset, info)
    logger.info("imported %d drift answers from %d file(s) into %s", len(records), len(sources), output)
    return RunDir(output)
