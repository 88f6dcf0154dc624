"""Re-score a finished run's stored completions with other judges, without generating again.

New verdicts replace those of a judge with the same name and are added otherwise; the samples
file is rewritten atomically and the metrics are recomputed, so a killed rejudge leaves the run as
it was (verdicts already computed are in the cache and are not recomputed on the next attempt).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.audits import all_audits
from tunesafe.backends.base import Backend
from tunesafe.config import AuditConfig, CalibrationSpec, JudgeSpec, load_config
from tunesafe.judges.calibration import NAME as CALIBRATION
from tunesafe.judges.calibration import judges_for
from tunesafe.judges.panel import JudgePanel
from tunesafe.results import RunDir, RunError, run_lock
from tunesafe.runner import judge_calibration, open_cache, rejudge_records
from tunesafe.types import SampleRecord

logger = logging.getLogger(__name__)


def rejudge_run(
    path: Path,
    judges: Sequence[JudgeSpec],
    *,
    calibration: CalibrationSpec | None = None,
    judge_backends: Mapping[str, Backend] | None = None,
    reporter: Reporter | None = None,
) -> RunDir:
    """Judge every stored completion of the audit run at ``path`` with ``judges`` and update its metrics.

    Harm judges are applied to the harmful audit only (they cannot tell a refusal from a helpful
    answer, which is what over-refusal asks). ``calibration`` judges a labelled set too.
    """
    reporter = reporter or NullReporter()
    run = RunDir(path)
    manifest = run.manifest()
    if manifest.kind != "audit":
        raise RunError(f"{path} is a {manifest.kind} run; rejudge takes audit runs")
    if manifest.status != "success":
        raise RunError(f"{path} has status {manifest.status!r}; finish the audit first (re-run it to resume)")
    if not judges:
        raise ValueError("give at least one judge")
    with run_lock(run.path):  # an audit resuming or another rejudge waits its turn
        config = load_config(AuditConfig, run.config_path)
        cache = open_cache(config)
        try:
            metrics = {k: v for k, v in run.metrics().items() if k != "schema_version"}
            with JudgePanel(judges, cache=cache, cache_mode=config.cache.mode, backends=judge_backends) as panel:
                calibration_records = _calibration(run, calibration, panel)
                for audit in all_audits():
                    spec = audit.spec_of(config.audits)
                    records = list(run.records(audit.name)) if audit.judged and spec is not None else []
                    if not records:
                        continue
                    chosen = [j for j in panel.judges if audit.accepts(j)]
                    if not chosen:
                        logger.info(
                            "%s: no judge applies here (over-refusal takes refusal detectors); left as it was",
                            audit.name,
                        )
                        continue
                    records = rejudge_records(records, chosen, reporter, f"rejudge {audit.name}: {manifest.name}")
                    run.replace_records(audit.name, records)
                    metrics[audit.name] = audit.aggregate(
                        spec, records, seed=config.seed, calibration=calibration_records
                    )
            run.write_metrics(metrics)
            history = list(manifest.info.get("rejudged", []))
            history.append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "judges": panel.names})
            run.update_manifest(fingerprints=panel.fingerprints(), info={"rejudged": history})
            return run
        finally:
            if cache is not None:
                cache.close()


def _calibration(run: RunDir, spec: CalibrationSpec | None, panel: JudgePanel) -> list[SampleRecord] | None:
    """The run's calibration records, judged by the new judges too (a new labelled set replaces the old one)."""
    if spec is not None:
        return judge_calibration(run, spec, panel)
    stored = list(run.records(CALIBRATION))
    if not stored:
        return None
    judges = judges_for(stored, panel.judges)
    if not judges:
        return stored
    judged = rejudge_records(stored, judges)
    run.replace_records(CALIBRATION, judged)
    return judged
