"""Other tools' evaluation logs (inspect_ai, lm-evaluation-harness) as tunesafe run directories.

A reader (:mod:`~tunesafe.importers.inspect_log`, :mod:`~tunesafe.importers.lm_eval_samples`) turns a
log into a :class:`LogRead`: the samples as tunesafe sees them (chat messages as sent, completion,
id, category, subset, verdicts the log already holds) and the log's provenance. :func:`write_log_run`
writes it as a finished audit run exactly as :mod:`~tunesafe.importers.completions` does: all or
nothing, built beside ``output`` and renamed into place, so a bad log never leaves a half-made run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesafe.audits import get_audit
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, HarmfulAuditSpec, ModelSpec, OverrefusalAuditSpec
from tunesafe.data.registry import slug
from tunesafe.errors import InputError
from tunesafe.importers.completions import ImportAudit, imported_dataset_info, label_counts, write_run_atomically
from tunesafe.results import RunDir
from tunesafe.types import Completion, Conversation, SampleRecord, Verdict


class LogImportError(InputError):
    """A log tunesafe cannot import: the one-line message names the file (and line or sample) and the fix."""


@dataclass(frozen=True)
class LogOptions:
    """Where a log's optional fields come from; None: the format's default (see each reader).

    ``label``: the existing score that becomes the imported label (an inspect scorer, an lm-eval
    metric); ``prompt`` and ``id``: lm-eval doc fields for the user turn and the sample id.
    """

    label: str | None = None
    label_judge: str = "imported-label"
    category: str | None = None
    subset: str | None = None
    prompt: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class LogSample:
    """One completion of a log, in tunesafe's terms."""

    sample_id: str
    messages: Conversation
    completion: Completion
    category: str | None = None
    subset: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogRead:
    """A log read: its samples, the files read, the model (None when the log does not name it), provenance."""

    tool: str
    files: list[Path]
    samples: list[LogSample]
    model: str | None
    info: dict[str, Any]


def repeat_id(base: str, number: int, tag: str) -> str:
    """The id of the ``number``-th completion of one prompt: ``base`` for the first, ``base-<tag><number>`` after
    (inspect epochs ``-e2``, lm-eval repeats ``-r2``), so a one-epoch run pairs with another run's first epoch."""
    return base if number == 1 else f"{base}-{tag}{number}"


def files_sha256(files: Sequence[Path]) -> str:
    """The file's sha256; for several files, the sha256 of their sorted sha256s (as ``DatasetInfo`` says)."""
    digests = sorted(hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files)
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()


def run_name(read: LogRead, source: str) -> str:
    """A run name from the model (a local path's last folder), else from the file name."""
    if read.model:
        model = read.model.rstrip("/")
        return slug(Path(model).name if model.startswith(("/", ".", "~")) else model)
    return slug(Path(source).stem)


def _config(read: LogRead, source: str, audit: ImportAudit, name: str, subsets: list[str]) -> AuditConfig:
    if audit == "overrefusal":
        audits = AuditsSpec(harmful=None, overrefusal=OverrefusalAuditSpec(dataset=source, judges=[]))
    else:
        harmful = HarmfulAuditSpec(dataset=source, subsets=subsets, headline_excludes=[], judges=[])
        audits = AuditsSpec(harmful=harmful, overrefusal=None)
    model = ModelSpec(source=f"import:{read.model or source}", backend="imported")
    return AuditConfig(name=name, model=model, audits=audits, cache=CacheSpec())


def _records(read: LogRead, audit: str, source: str) -> list[SampleRecord]:
    seen: set[str] = set()
    records = []
    for sample in read.samples:
        if sample.sample_id in seen:
            raise LogImportError(
                f"{source}: sample id {sample.sample_id!r} occurs twice; ids must be unique (runs are paired by id)"
            )
        seen.add(sample.sample_id)
        records.append(
            SampleRecord(
                audit=audit,
                sample_id=sample.sample_id,
                category=sample.category,
                subset=sample.subset,
                messages=sample.messages,
                completion=sample.completion,
                verdicts=sample.verdicts,
                metadata=sample.metadata,
            )
        )
    return records


def write_log_run(
    read: LogRead, output: Path, *, source: str, audit: ImportAudit, name: str | None, label_judge: str | None
) -> RunDir:
    """Write ``read`` as a finished ``audit`` run at ``output`` (checked free by the caller), all or nothing.

    ``manifest.json`` records the files' sha256 (the model fingerprint, as for imported completions),
    ``info.format``, ``info.model``, how the imported labels of ``label_judge`` parsed (``info.labels``)
    and the tool's provenance under ``info.<tool>``.
    """
    if not read.samples:
        raise LogImportError(f"{source}: the {read.tool} log holds no completions to import")
    records = _records(read, audit, source)
    subsets = sorted({r.subset for r in records if r.subset is not None})
    config = _config(read, source, audit, name or run_name(read, source), subsets)
    spec = get_audit(audit).spec_of(config.audits)
    metrics: dict[str, Any] = {audit: get_audit(audit).aggregate(spec, records, seed=config.seed)}
    sha = files_sha256(read.files)
    dataset = imported_dataset_info(
        source, f"{read.tool} log {source}", sha, records, audit, files=[str(f) for f in read.files]
    )
    info = {
        "imported_from": source,
        "format": read.tool,
        "model": read.model,
        "label_judge": label_judge,
        "labels": label_counts(records, label_judge) if label_judge else {},
        "n_rows": len(records),
        read.tool: read.info,
    }
    write_run_atomically(output, config, audit, records, metrics, {"model": sha}, dataset.model_dump(mode="json"), info)
    return RunDir(output)
