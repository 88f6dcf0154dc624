"""Import completions made elsewhere into a run directory, so tunesafe can judge, score and compare them.

A file (CSV / TSV / JSONL / JSON / Parquet, or ``hf:<name>``) with prompt and completion columns,
and optionally category, subset, id, a context (HarmBench's ``ContextString``) and an existing verdict
(a label column), becomes an audit run directory written exactly like the runner's — for example a
paper's released generations judged by Llama Guard. Existing labels become verdicts of a judge named
``imported-label`` in tunesafe's one polarity (1.0 = complied / unsafe, 0.0 = refused / safe, None = unrecognised).

A context goes into the user turn exactly as the HarmBench audit puts it (``context_messages``:
``context + "\\n\\n---\\n\\n" + behaviour``), so judges see the request with its context. A HarmBench
table (``Behavior``, ``ContextString``, ``BehaviorID`` columns) is recognised: unmapped columns take
HarmBench's names (see :func:`resolve_columns`).

All or nothing: the whole file is validated before anything is written, the run is built in a
temporary folder beside ``output`` and renamed into place at the end, so a bad file or a crash
never leaves a half-written run directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tunesafe.audits import get_audit
from tunesafe.config import (
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    ColumnMap,
    HarmfulAuditSpec,
    ModelSpec,
    OverrefusalAuditSpec,
)
from tunesafe.data.harmbench import context_messages
from tunesafe.data.registry import DatasetInfo, slug, stable_id
from tunesafe.data.tables import HF_PREFIX, Row, is_empty, read_table, require_columns, table_sha256
from tunesafe.judges.labels import UNLABELLED, label_verdict
from tunesafe.results import RunDir, check_writable_folder, open_run
from tunesafe.types import Completion, SampleRecord, Verdict

logger = logging.getLogger(__name__)

ImportAudit = Literal["harmful", "overrefusal"]
HARMBENCH_LAYOUT = ("Behavior", "ContextString", "BehaviorID")


class ImportColumns(BaseModel):
    """Which columns of the completions file hold what (only ``prompt`` and ``completion`` are required).

    ``context``: a context put before the prompt in the user turn, as HarmBench's contextual behaviours
    (an empty cell: no context).
    """

    model_config = ConfigDict(extra="forbid")

    prompt: str = "prompt"
    completion: str = "completion"
    category: str | None = None
    id: str | None = None
    subset: str | None = None
    label: str | None = None
    context: str | None = None


def is_harmbench_layout(header: Sequence[str]) -> bool:
    """A HarmBench behaviours table: ``Behavior``, ``ContextString`` and ``BehaviorID`` columns."""
    return set(HARMBENCH_LAYOUT) <= set(header)


def resolve_columns(columns: ImportColumns, header: Sequence[str]) -> ImportColumns:
    """Fill the columns left unmapped with HarmBench's names when ``header`` is a HarmBench table.

    Prompt ``Behavior`` (when the file has no ``prompt`` column), then context ``ContextString``,
    id ``BehaviorID``, category ``SemanticCategory``, subset ``FunctionalCategory``, and completion
    ``generation`` when there is no ``completion`` column. Mapped columns are kept; the context is
    only added to a ``Behavior`` prompt (a prompt column of its own may hold the context already).
    """
    if not is_harmbench_layout(header):
        return columns
    names = set(header)
    update: dict[str, str] = {}
    if columns.prompt == "prompt" and "prompt" not in names:
        update["prompt"] = "Behavior"
    if columns.completion == "completion" and "completion" not in names and "generation" in names:
        update["completion"] = "generation"
    if columns.context is None and update.get("prompt", columns.prompt) == "Behavior":
        update["context"] = "ContextString"
    for field, column in (("id", "BehaviorID"), ("category", "SemanticCategory"), ("subset", "FunctionalCategory")):
        if getattr(columns, field) is None and column in names:
            update[field] = column
    return columns.model_copy(update=update)


def text_cell(row: Row, column: str, number: int, source: str) -> str:
    value = row.get(column)
    if is_empty(value):
        raise ValueError(f"{source}: row {number} has an empty {column!r} cell")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{source}: row {number}: {column!r} holds a {type(value).__name__}, expected text")
    return value


def optional_cell(row: Row, column: str | None, strip: bool = True) -> str | None:
    """The cell as text (stripped unless ``strip=False``: a context is kept as written, as the HarmBench
    audit reads it); None for an unmapped column or an empty cell."""
    if column is None or is_empty(row.get(column)):
        return None
    text = str(row[column])
    return text.strip() if strip else text


def build_records(
    rows: Sequence[Row], columns: ImportColumns, *, audit: str, source: str, label_judge: str, id_prefix: str
) -> list[SampleRecord]:
    """One record per row, validated. Ids: the id column (must be unique), else ``<id_prefix>-<sha12(user turn)>``
    with ``-2``, ``-3``, … on repeated prompts (several completions per prompt). The user turn is the
    prompt, or its context joined before it as the HarmBench audit does (``context_messages``).

    Raises:
        ValueError: a missing column, an empty prompt or completion cell, a repeated id.
    """
    require_columns(rows, columns.model_dump(exclude_none=True).values(), source)
    records: list[SampleRecord] = []
    seen: Counter[str] = Counter()
    for number, row in enumerate(rows, start=1):
        prompt = text_cell(row, columns.prompt, number, source)
        completion = text_cell(row, columns.completion, number, source)
        messages = context_messages(prompt, optional_cell(row, columns.context, strip=False))
        given_id = optional_cell(row, columns.id)
        base = given_id or stable_id(id_prefix, messages[-1]["content"])
        seen[base] += 1
        if given_id and seen[base] > 1:
            raise ValueError(f"{source}: row {number}: id {given_id!r} repeats an earlier row; ids must be unique")
        sample_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        verdicts = [label_verdict(row.get(columns.label), label_judge)] if columns.label else []
        records.append(
            SampleRecord(
                audit=audit,
                sample_id=sample_id,
                category=optional_cell(row, columns.category),
                subset=optional_cell(row, columns.subset),
                messages=messages,
                completion=Completion(text=completion),
                verdicts=verdicts,
                metadata={"source_row": number},
            )
        )
    repeats = sum(count - 1 for count in seen.values())
    if repeats:
        logger.info("%s: %d row(s) repeat an earlier prompt; their ids get -2, -3, … suffixes", source, repeats)
    return records


def import_config(
    source: str, columns: ImportColumns, records: Sequence[SampleRecord], audit: ImportAudit, name: str, split: str
) -> AuditConfig:
    """The run's config: no model (``backend="imported"``), no judges yet, the file as the dataset."""
    column_map = ColumnMap(prompt=columns.prompt, category=columns.category, id=columns.id, context=columns.context)
    if audit == "overrefusal":
        audits = AuditsSpec(
            harmful=None, overrefusal=OverrefusalAuditSpec(dataset=source, columns=column_map, split=split, judges=[])
        )
    else:
        subsets = sorted({r.subset for r in records if r.subset is not None})
        harmful = HarmfulAuditSpec(
            dataset=source, columns=column_map, split=split, subsets=subsets, headline_excludes=[], judges=[]
        )
        audits = AuditsSpec(harmful=harmful, overrefusal=None)
    return AuditConfig(
        name=name,
        model=ModelSpec(source=f"import:{source}", backend="imported"),
        audits=audits,
        cache=CacheSpec(),  # verdicts of later `rejudge` calls are cached like any run's
    )


def _dataset_info(
    source: str, sha: str, columns: ImportColumns, records: Sequence[SampleRecord], audit: str, split: str
) -> DatasetInfo:
    return imported_dataset_info(
        source,
        f"imported completions {source}",
        sha,
        records,
        audit,
        files=[source],
        split=split if source.startswith(HF_PREFIX) else None,
        columns=columns.model_dump(exclude_none=True),
    )


def imported_dataset_info(
    source: str, title: str, sha: str, records: Sequence[SampleRecord], audit: str, files: list[str], **extra: Any
) -> DatasetInfo:
    """The provenance of imported records: the source, its sha256, its categories and subsets as counted."""
    return DatasetInfo(
        name=source,
        title=title,
        kind="overrefusal" if audit == "overrefusal" else "harmful",
        version=f"sha256:{sha[:12]}",
        source=source,
        license="unknown (user-supplied)",
        citation="",
        n_rows=len(records),
        categories=dict(sorted(Counter(r.category for r in records if r.category is not None).items())),
        subsets=dict(sorted(Counter(r.subset for r in records if r.subset is not None).items())),
        sha256=sha,
        files=files,
        **extra,
    )


def _outcome(verdict: Verdict) -> str:
    if verdict.label == UNLABELLED:
        return UNLABELLED
    if verdict.score is None:
        return "unrecognised"
    return "complied" if verdict.complied else "refused"


def label_counts(records: Sequence[SampleRecord], judge: str | None = None) -> dict[str, int]:
    """How the imported labels parsed: complied / refused / unrecognised / unlabelled (``judge``'s verdicts
    only, when given)."""
    verdicts = (v for r in records for v in r.verdicts if judge is None or v.judge == judge)
    return dict(sorted(Counter(_outcome(v) for v in verdicts).items()))


def check_output_free(output: Path) -> None:
    """Refuse an existing file or non-empty directory (an empty directory is replaced), a path under a file
    and a folder that cannot be written."""
    check_writable_folder(output, "a new or empty one")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(f"{output} already exists and is not an empty directory; choose a new output directory")


def write_run_atomically(
    output: Path,
    config: AuditConfig,
    audit: str,
    records: Sequence[SampleRecord],
    metrics: dict[str, Any],
    fingerprints: dict[str, str],
    dataset: dict[str, Any],
    info: dict[str, Any],
) -> None:
    """Build a finished run in a temporary folder beside ``output`` and rename it into place (all or nothing)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".import.tmp", dir=output.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes 0700
        run = open_run(tmp, "audit", config)
        run.append_records(audit, records)
        run.write_metrics(metrics)
        run.update_manifest(
            run_id=output.name, fingerprints=fingerprints, datasets={audit: dataset}, info=info, status="success"
        )
        os.replace(tmp, output)  # replaces an empty directory too
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def import_completions(
    source: str | Path,
    output: str | Path,
    *,
    columns: ImportColumns | None = None,
    audit: ImportAudit = "harmful",
    name: str | None = None,
    label_judge: str = "imported-label",
    split: str = "train",
    id_prefix: str = "prompt",
) -> RunDir:
    """Turn an external completions file into a finished audit run directory at ``output``.

    Writes ``config.yaml``, ``manifest.json`` (status success; the file's sha256 as the model
    fingerprint; the dataset's provenance; ``info.imported_from``, ``info.columns``, ``info.labels``),
    ``samples/<audit>.jsonl`` and ``metrics.json`` (the same aggregation as the runner's). Rejudge it
    with ``tunesafe rejudge`` to add judges. ``id_prefix`` names ids when there is no id column
    (use the same prefix for files to be compared, or give an id column). A HarmBench table's
    unmapped columns take HarmBench's names (:func:`resolve_columns`; ``info.layout`` says so).

    Raises:
        ValueError: bad ``audit``, an existing non-empty ``output``, an unreadable file, a missing
            column, an empty prompt or completion cell, a repeated id. Nothing is left behind.
    """
    if audit not in ("harmful", "overrefusal"):
        raise ValueError(f"audit must be 'harmful' or 'overrefusal', not {audit!r}")
    columns = columns or ImportColumns()
    text, output = str(source), Path(output).expanduser()
    check_output_free(output)
    rows = read_table(text, split=split)
    header = list(rows[0]) if rows else []
    columns = resolve_columns(columns, header)
    records = build_records(rows, columns, audit=audit, source=text, label_judge=label_judge, id_prefix=id_prefix)
    run_name = name or slug(Path(text.removeprefix(HF_PREFIX)).stem)
    config = import_config(text, columns, records, audit, run_name, split)
    sha = table_sha256(text, rows)
    spec = get_audit(audit).spec_of(config.audits)
    metrics: dict[str, Any] = {audit: get_audit(audit).aggregate(spec, records, seed=config.seed)}
    dataset = _dataset_info(text, sha, columns, records, audit, split).model_dump(mode="json")
    info = {
        "imported_from": text,
        "columns": columns.model_dump(),
        "layout": "harmbench" if is_harmbench_layout(header) else None,
        "label_judge": label_judge if columns.label else None,
        "labels": label_counts(records),
        "n_rows": len(records),
    }

    write_run_atomically(output, config, audit, records, metrics, {"model": sha}, dataset, info)
    logger.info("imported %d completions from %s into %s", len(records), text, output)
    return RunDir(output)
