"""Export audited runs' samples as one table (Parquet, CSV or JSONL) that pandas and ``datasets`` read as is.

One row per sample × judge: model, audit, sample id, category, subset, condition, judge, score,
label, the run directory and a hash of the prompt. A sample no judge scored (a drift answer, a
truthfulness claim, a multiple-choice question) is one row with its own metric columns (``correct``,
``adopted``, ``probability``, ``margin``, ``mc2``, …). Prompts and completions are left out unless
asked for; even then a harmful audit's completions are hidden unless judged and every judge scored
a refusal and the model stopped by itself — the report's rule (:func:`tunesafe.report.build.compare.safe_to_show`)
— or ``show_harmful`` is given. Calibration sets (labelled texts, not the model's answers) are not exported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tunesafe._util.hashing import sha256_obj
from tunesafe.audits import all_audits
from tunesafe.config import ConfigError
from tunesafe.judges.base import JudgeInput
from tunesafe.report.build.align import model_description
from tunesafe.report.build.compare import safe_to_show, unique_labels
from tunesafe.results import RunDir, RunError
from tunesafe.types import SampleRecord, Verdict


@cache
def records_files() -> dict[str, str | None]:
    """Every audit's records files, each with the metadata key of its judge-free scores (Audit.records_files)."""
    return {file: key for audit in all_audits() for file, key in audit.records_files().items()}


@cache
def hidden_audits() -> frozenset[str]:
    """Records files whose completions may be harmful (the audits that hide completions judged compliant)."""
    return frozenset(file for audit in all_audits() if audit.hides_completions for file in audit.records_files())


EXPORT_AUDITS = tuple(records_files())
QUESTION_KEYS = ("question_id", "run")
CORE_COLUMNS = (
    "model",
    "model_source",
    "run_dir",
    "audit",
    "sample_id",
    "category",
    "subset",
    "condition",
    "prompt_sha256",
    "judge",
    "score",
    "label",
    "judge_details",
    "finish_reason",
    "n_tokens",
)
TEXT_COLUMNS = ("prompt", "completion", "completion_hidden", "judge_raw")


class ExportResult(BaseModel):
    """What an export wrote."""

    path: str
    format: str
    n_runs: int
    n_samples: int
    n_rows: int
    n_hidden: int  # samples whose completion was hidden (harmful audit, not safe to show)
    columns: list[str]


def prompt_sha256(record: SampleRecord) -> str:
    """sha256 of the conversation (canonical JSON of ``messages``): the same prompt hashes the same in every run."""
    return sha256_obj(record.messages)


def completion_hidden(record: SampleRecord, show_harmful: bool) -> bool:
    """A harmful audit's completion is hidden unless it is safe to show (the report's rule) or ``show_harmful``."""
    return record.audit in hidden_audits() and not show_harmful and not safe_to_show(record)


def metric_columns(record: SampleRecord) -> dict[str, Any]:
    """Judge-free metrics of a drift / truthfulness / multiple-choice record: the scalar values it stores."""
    key = records_files().get(record.audit)
    values = record.metadata.get(key) if key else None
    if not isinstance(values, dict):
        return {}
    out = {k: record.metadata[k] for k in QUESTION_KEYS if k in record.metadata}
    scalars = {k: v for k, v in values.items() if v is None or isinstance(v, (bool, int, float, str))}
    return out | {k: v for k, v in scalars.items() if k not in CORE_COLUMNS and k not in TEXT_COLUMNS}


def sample_columns(record: SampleRecord) -> dict[str, Any]:
    """What every row of this sample shares."""
    return {
        "audit": record.audit,
        "sample_id": record.sample_id,
        "category": record.category,
        "subset": record.subset,
        "condition": record.condition,
        "prompt_sha256": prompt_sha256(record),
        "finish_reason": record.completion.finish_reason,
        "n_tokens": record.completion.n_tokens,
    }


def verdict_columns(verdict: Verdict | None) -> dict[str, Any]:
    """One judge's verdict; all None for a sample no judge scored."""
    if verdict is None:
        return {"judge": None, "score": None, "label": None, "judge_details": None}
    details = verdict.details or None  # JSON text in the table; no empty objects
    return {"judge": verdict.judge, "score": verdict.score, "label": verdict.label, "judge_details": details}


def text_columns(record: SampleRecord, verdict: Verdict | None, hidden: bool) -> dict[str, Any]:
    """The request as the judge saw it, and the completion and the judge's raw output unless hidden."""
    judged = JudgeInput.from_messages(record.messages, record.completion.text)
    return {
        "prompt": judged.prompt,
        "completion": None if hidden else judged.completion,
        "completion_hidden": hidden,
        "judge_raw": None if hidden or verdict is None else verdict.raw,
    }


def record_rows(
    record: SampleRecord, run: dict[str, Any], include_completions: bool, show_harmful: bool
) -> list[dict[str, Any]]:
    """The rows of one sample: one per verdict, or one when no judge scored it."""
    shared = run | sample_columns(record)
    metrics = metric_columns(record)
    hidden = completion_hidden(record, show_harmful)
    rows = []
    verdicts: list[Verdict | None] = list(record.verdicts) or [None]
    for verdict in verdicts:
        row = {c: None for c in CORE_COLUMNS} | shared | verdict_columns(verdict) | metrics
        if include_completions:
            row |= text_columns(record, verdict, hidden)
        rows.append(row)
    return rows


def open_audit_runs(paths: Sequence[str | Path]) -> list[tuple[RunDir, dict[str, Any]]]:
    """Each run with its row columns (label as the report gives it, model, directory); audit runs only."""
    if not paths:
        raise ValueError("export needs at least one run directory")
    runs = [RunDir(Path(p)) for p in paths]
    manifests = [run.manifest() for run in runs]
    for run, manifest in zip(runs, manifests, strict=True):
        if manifest.kind != "audit":
            raise RunError(f"{run.path} is a {manifest.kind} run; export takes audit runs")
    labels = unique_labels([m.name for m in manifests])
    return [
        (run, {"model": label, "model_source": model_description(run), "run_dir": str(run.path)})
        for run, label in zip(runs, labels, strict=True)
    ]


def sample_rows(
    paths: Sequence[str | Path],
    *,
    audits: Sequence[str] = EXPORT_AUDITS,
    include_completions: bool = False,
    show_harmful: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """The table rows of each sample of ``paths``, in run, audit and file order."""
    unknown = [a for a in audits if a not in EXPORT_AUDITS]
    if unknown:
        raise ValueError(f"unknown audit(s) {', '.join(unknown)}; export takes {', '.join(EXPORT_AUDITS)}")
    for run, columns in open_audit_runs(paths):
        for audit in audits:
            for record in run.records(audit):
                yield record_rows(record, columns, include_completions, show_harmful)


def column_order(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The core columns, then metric columns as first seen, then prompt and completion columns."""
    seen = dict.fromkeys(k for row in rows for k in row)
    extra = [c for c in seen if c not in CORE_COLUMNS and c not in TEXT_COLUMNS]
    return [*CORE_COLUMNS, *extra, *(c for c in TEXT_COLUMNS if c in seen)]


def export_samples(
    paths: Sequence[str | Path],
    output: str | Path,
    *,
    fmt: str | None = None,
    audits: Sequence[str] = EXPORT_AUDITS,
    include_completions: bool = False,
    show_harmful: bool = False,
) -> ExportResult:
    """Write the samples of the audit runs ``paths`` to ``output`` as one table (see the module docstring).

    ``fmt``: ``parquet``, ``csv`` or ``jsonl`` (default: ``output``'s suffix). ``show_harmful``
    only matters with ``include_completions``. Written atomically by
    :func:`tunesafe.data.tables.write_table` (dicts as JSON text, so empty ones are safe in Parquet).

    Raises:
        ValueError: no runs, an unknown audit or format, ``show_harmful`` without ``include_completions``,
            no samples to export.
        RunError: a path that is not an audit run directory.
    """
    from tunesafe.data.tables import write_format, write_table

    if show_harmful and not include_completions:
        raise ConfigError(
            "--show-harmful needs --include-completions (show_harmful needs include_completions: "
            "without it no completion is exported)"
        )
    chosen = write_format(output, fmt)
    per_sample = list(
        sample_rows(paths, audits=audits, include_completions=include_completions, show_harmful=show_harmful)
    )
    rows = [row for sample in per_sample for row in sample]
    if not rows:
        raise ValueError(f"no samples to export in {', '.join(str(p) for p in paths)} (audits: {', '.join(audits)})")
    columns = column_order(rows)
    path = write_table(({c: row.get(c) for c in columns} for row in rows), output, chosen)
    return ExportResult(
        path=str(path),
        format=chosen,
        n_runs=len(paths),
        n_samples=len(per_sample),
        n_rows=len(rows),
        n_hidden=sum(bool(sample[0].get("completion_hidden")) for sample in per_sample),
        columns=columns,
    )
