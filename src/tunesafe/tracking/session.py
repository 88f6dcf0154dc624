"""A tracking session: one service, guarded. Nothing it does can lose or corrupt a run directory.

Runs are only *read* here (``metrics.json``, the report files); the service writes to its own folder or
store. The first run (or group) a session opens fails loudly with :class:`TrackingError`, before the
long work it wraps starts; a failure after that is logged as a warning, tracking stops, and the run
goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe.tracking import names
from tunesafe.tracking.base import Tracker, TrackingError

if TYPE_CHECKING:
    from tunesafe.gate import GateResult
    from tunesafe.report import ReportFiles

__all__ = ["TrackingSession"]

logger = logging.getLogger(__name__)


class TrackingSession:
    """Logs audits, reports, gates and fine-tunes to a :class:`Tracker`; ``TrackingSession(None)`` does nothing."""

    def __init__(self, tracker: Tracker | None, *, group: str | None = None) -> None:
        self.tracker = tracker
        self.group_name = group
        self.run_open = False
        self._started = False  # has anything been opened yet (the first failure is an error)
        self._broken = tracker is None

    @property
    def enabled(self) -> bool:
        return not self._broken

    @property
    def report_to(self) -> list[str]:
        """TRL's ``report_to``: the service while a run is open to receive the trainer's curves, else nothing."""
        return [self.tracker.service] if self.tracker is not None and self.enabled and self.run_open else []

    def location(self) -> str | None:
        return self.tracker.location() if self.tracker is not None else None

    # -- runs ----------------------------------------------------------------------------------
    @contextmanager
    def group(self, name: str) -> Iterator[None]:
        """Runs opened inside belong to one group (MLflow: one parent run); the session's group name wins."""
        opened = self._call_opening(lambda t: t.open_group(self.group_name or name))
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            if opened:
                self._call(lambda t: t.close_group(failed=failed))

    @contextmanager
    def run(self, name: str, *, job: str, params: Mapping[str, Any] | None = None) -> Iterator[TrackingSession]:
        """One tracked run around the body; marked failed when the body raises (the error propagates)."""
        self.run_open = self._call_opening(lambda t: t.start_run(name, job=job, params=dict(params or {})))
        failed = False
        try:
            yield self
        except BaseException:
            failed = True
            raise
        finally:
            if self.run_open:
                self.run_open = False
                self._call(lambda t: t.end_run(failed=failed))

    # -- what is logged ------------------------------------------------------------------------
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if metrics:
            self._call(lambda t: t.log_metrics(metrics, step))

    def log_audit(self, run_path: Path, prefix: str = "") -> None:
        """An audit run's ``metrics.json`` (``names.audit_metrics``) and the file itself as an artefact."""
        if not self.enabled:
            return
        path = Path(run_path) / "metrics.json"
        self._call(lambda t: t.log_metrics(names.audit_metrics(_read_json(path), prefix)))
        self._call(lambda t: t.log_artifact([path], name="audit", kind="audit"))

    def log_report(self, files: ReportFiles) -> None:
        """A report's rates, changes and effects, and ``report.html`` / ``.md`` / ``.json`` as one artefact."""
        if not self.enabled:
            return
        self._call(lambda t: t.log_metrics(names.comparison_metrics(files.comparison)))
        self._call(
            lambda t: t.log_artifact([files.html, files.markdown, files.json_path], name="report", kind="report")
        )

    def log_gate(self, result: GateResult) -> None:
        """A gate's outcome: ``gate/*`` metrics, ``gate/reason`` as text, the result as ``gate.json``."""
        if not self.enabled:
            return
        self._call(lambda t: t.log_metrics(names.gate_metrics(result)))
        self._call(lambda t: t.log_texts({"gate/reason": result.reason, "gate/outcome": _outcome(result)}))
        self._call(lambda t: _log_json(t, result.model_dump_json(indent=2), "gate.json", "gate"))

    def log_finetune(self, run_path: Path) -> None:
        """A finished fine-tune's result (``finetune/*``) and its safety curve file, when there is one."""
        if not self.enabled:
            return
        manifest = _read_json(Path(run_path) / "manifest.json")
        result = (manifest.get("info") or {}).get("result") or {}
        self._call(lambda t: t.log_metrics(names.finetune_metrics(result)))
        curve = Path(run_path) / "train" / "safety_curve.jsonl"
        if curve.is_file():
            self._call(lambda t: t.log_artifact([curve], name="safety_curve", kind="safety-curve"))

    def log_safety_point(self, point: Mapping[str, Any]) -> None:
        """A safety-during-training point (``train/safety_curve.jsonl``) at its training step."""
        self.log_metrics(names.safety_metrics(point), step=int(point["step"]))

    # -- guarding ------------------------------------------------------------------------------
    def _call_opening(self, action: Any) -> bool:
        """Open a group or run: strict the first time, a warning afterwards. True when it opened."""
        if self.tracker is None or self._broken:
            return False
        if not self._started:
            try:
                action(self.tracker)
            except TrackingError:
                self._broken = True
                raise
            except Exception as err:
                self._broken = True
                raise TrackingError(f"--track {self.tracker.service}: could not start ({_one_line(err)})") from err
            self._started = True
            return True
        return self._call(action)

    def _call(self, action: Any) -> bool:
        if self.tracker is None or self._broken:
            return False
        try:
            action(self.tracker)
        except Exception as err:
            self._broken = True
            logger.warning(
                "tracking with %s failed (%s); the run goes on untracked, its directory is unaffected",
                self.tracker.service,
                _one_line(err),
            )
            return False
        return True


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _log_json(tracker: Tracker, text: str, filename: str, kind: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tunesafe-track-") as tmp:
        path = Path(tmp) / filename
        path.write_text(text + "\n", encoding="utf-8")
        tracker.log_artifact([path], name=kind, kind=kind)


def _outcome(result: GateResult) -> str:
    return "passed" if result.passed else "failed"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
