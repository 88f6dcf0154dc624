"""The body of an attestation, from a finished audit run (or a report's fine-tuned run).

It binds, for the run's model: the content fingerprints of weights, adapter, tokenizer and chat template
(``attest.fingerprints``), the model spec as it ran (precision resolved), every audit's prompt-set hash and
dataset provenance, its judges' identities and its results, and per sample the messages sent, the decoding
settings, the sha256 of the completion and each judge's score. Completions themselves never enter it (a
harmful completion must not travel in a file meant to be shared); a verifier regenerates and compares
hashes. From a report, the model card's results (``tunesafe card``) and the base's fingerprint come too.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tunesafe import __version__
from tunesafe._util.hashing import sha256_file, sha256_obj, sha256_text
from tunesafe.attest.fingerprints import AttestError, model_fingerprints
from tunesafe.types import Sample, SampleRecord

__all__ = ["ATTESTABLE_BACKENDS", "build_body", "run_of"]

ATTESTABLE_BACKENDS = ("hf", "llamacpp")
_PLACEMENT = {"device", "device_map", "threads"}  # where the weights sit, not what they compute


def run_of(source: str | Path, model: str | None = None) -> tuple[Path, dict[str, Any] | None]:
    """The run directory ``source`` names (a run, or a report and its fine-tuned run ``model``) and, for a
    report, what the attestation records of the comparison."""
    path = Path(source)
    if (path / "manifest.json").is_file():
        if model is not None:
            raise AttestError(f"{source} is a run directory; --model picks a run of a report only")
        return path, None
    if not (path / "report.json").is_file() and not (path.is_file() and path.name == "report.json"):
        raise AttestError(f"{source}: neither a run directory (manifest.json) nor a report (report.json)")
    from tunesafe.card import build_card

    card = build_card(path, model)
    report = path / "report.json" if path.is_dir() else path
    runs = {str(r.get("label")): r for r in json.loads(report.read_text(encoding="utf-8"))["runs"]}
    comparison = {
        "report_sha256": sha256_file(report),
        "model": card.model,
        "base": {"label": card.base, "model_fingerprint": runs[card.base].get("model_fingerprint")},
        "model_card_results": [_plain(r) for r in card.eval_results],
    }
    return _run_path(runs[card.model].get("path"), report.parent), comparison


def _run_path(recorded: object, report_dir: Path) -> Path:
    """A report records run paths as given when it was made: absolute, or relative to where it was run."""
    if not isinstance(recorded, str):
        raise AttestError(f"{report_dir}: the report does not record where the run directory is")
    path = Path(recorded)
    for candidate in (path, report_dir / path, report_dir.parent / path.name):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise AttestError(f"run directory {recorded} (recorded in {report_dir}/report.json) is not there any more")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items() if v is not None}
    return value


def build_body(run_path: Path, comparison: dict[str, Any] | None = None) -> dict[str, Any]:
    """The attestation body of the finished audit run at ``run_path``.

    Raises:
        AttestError: the run is not a finished audit, its model is not local, or the files at the model's
            recorded location are no longer the ones it audited.
    """
    from tunesafe.audits import all_audits
    from tunesafe.backends import load_backend
    from tunesafe.config import AuditConfig
    from tunesafe.config.loading import load_config
    from tunesafe.results import RunDir

    run = RunDir(run_path)
    manifest = run.manifest()
    if manifest.kind != "audit" or manifest.status != "success":
        raise AttestError(f"{run_path}: a {manifest.status} {manifest.kind} run; attest a finished audit run")
    config = load_config(AuditConfig, run.config_path)
    if config.model.backend not in ATTESTABLE_BACKENDS:
        raise AttestError(
            f"{run_path}: its model ran on backend {config.model.backend!r}; only local models "
            f"({' or '.join(ATTESTABLE_BACKENDS)}) can be attested: their weights can be fingerprinted"
        )
    backend = load_backend(config.model)
    try:
        fingerprints = model_fingerprints(backend)
        earlier = backend.earlier_fingerprints() if hasattr(backend, "earlier_fingerprints") else []
        dtype = backend.resolved_dtype() if hasattr(backend, "resolved_dtype") else None
    finally:
        backend.close()
    recorded = manifest.fingerprints.get("model")
    if recorded != fingerprints.model and recorded not in earlier:
        raise AttestError(
            f"{config.model.source}: these files are not the ones {run_path} audited (model fingerprint "
            f"{fingerprints.model[:12]} here, {str(recorded)[:12]} recorded); attest with the audited files in place"
        )
    spec = config.model.model_dump(mode="json", exclude=_PLACEMENT)
    if dtype is not None:
        spec["dtype"] = dtype
    metrics = run.metrics()
    audits: dict[str, Any] = {}
    samples: list[dict[str, Any]] = []
    decodings: list[dict[str, Any]] = []
    for audit in all_audits():
        audit_spec = audit.spec_of(config.audits)
        records = list(run.records(audit.name)) if audit_spec is not None else []
        if not records:
            continue
        audits[audit.name] = {
            "dataset": manifest.datasets.get(audit.name),
            "n_samples": len(records),
            "prompts_sha256": sha256_obj([[r.sample_id, r.messages] for r in records]),
            "judges": [j.model_dump(mode="json", exclude_none=True) for j in audit.judges(audit_spec)]
            if audit.judged
            else [],
            "results": metrics.get(audit.name),
        }
        for record in records:
            params = audit.generation(audit_spec, config.generation, _sample_of(record)).identity()
            if params not in decodings:
                decodings.append(params)
            samples.append(_sample_entry(record, decodings.index(params)))
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tunesafe": __version__,
        "run": {"name": manifest.name, "run_id": manifest.run_id, "config_hash": manifest.config_hash},
        "model": {"spec": spec, "fingerprints": fingerprints.as_dict()},
        "versions": manifest.versions,
        "judges": {
            key.removeprefix("judge:"): value
            for key, value in manifest.fingerprints.items()
            if key.startswith("judge:")
        },
        "decoding": decodings,
        "audits": audits,
        "comparison": comparison,
        "samples": samples,
    }


def _sample_of(record: SampleRecord) -> Sample:
    return Sample(
        id=record.sample_id,
        messages=record.messages,
        category=record.category,
        subset=record.subset,
        condition=record.condition,
        metadata=record.metadata,
    )


def _sample_entry(record: SampleRecord, decoding: int) -> dict[str, Any]:
    return {
        "audit": record.audit,
        "id": record.sample_id,
        "messages": record.messages,
        "decoding": decoding,
        "completion_sha256": sha256_text(record.completion.text),
        "finish_reason": record.completion.finish_reason,
        "verdicts": {v.judge: v.score for v in record.verdicts},
    }
