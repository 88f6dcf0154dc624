"""Running an experiment: train each fine-tune once, audit each model once, write the report."""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.config import (
    ModelSpec,
    dump_config,
)
from tunesafe.experiment.plan import ExperimentPlan, plan_experiment
from tunesafe.experiment.spec import BASE, ExperimentConfig, audit_config, model_spec_of, train_config
from tunesafe.results import RunError, run_lock

if TYPE_CHECKING:
    from tunesafe.tracking import TrackingSession

logger = logging.getLogger(__package__)  # "tunesafe.experiment", one name for the whole package


# --- running ----------------------------------------------------------------------------------


class ExperimentResult(BaseModel):
    root: Path
    audits: dict[str, Path]
    finetunes: dict[str, Path]
    report: Any  # ReportFiles


def run_experiment(
    experiment: ExperimentConfig,
    root: Path,
    *,
    reporter: Reporter | None = None,
    show_harmful: bool = False,
    tracking: TrackingSession | None = None,
) -> ExperimentResult:
    """Train every fine-tune variant once, audit every model once, and write the report under ``root``.

    With ``tracking`` (``tunesafe.tracking.open_tracking``), each fine-tune, audit and the report is one
    tracked run (``finetune-<variant>``, ``audit-<variant>``, ``report``), grouped under the experiment's name.

    A step whose directory holds a different config (the experiment file changed) stops the run with
    the directory named, before anything is overwritten.
    """
    reporter = reporter or NullReporter()
    root = Path(root)
    plan = plan_experiment(experiment, root)
    conflicts = [s for s in plan.steps if s.state == "conflict"]
    if conflicts:
        names = ", ".join(f"{s.variant} ({s.path})" for s in conflicts)
        raise RunError(
            f"the {conflicts[0].kind} of {names} was made with other settings; "
            "remove that directory to redo it, or rename the variant"
        )
    if root.exists() and not root.is_dir():
        raise RunError(f"{root} is a file; the experiment's output must be a folder")
    with run_lock(root):  # a second `tunesafe run` on the same folder is refused at once
        from tunesafe.tracking import TrackingSession

        tracking = tracking or TrackingSession(None)
        with tracking.group(experiment.name):
            return _run_steps(experiment, root, plan, reporter, show_harmful, tracking)


def _run_steps(
    experiment: ExperimentConfig,
    root: Path,
    plan: ExperimentPlan,
    reporter: Reporter,
    show_harmful: bool,
    tracking: TrackingSession,
) -> ExperimentResult:
    """Each step of ``plan`` in order (finished ones reused), then the report; each step tracked as one run."""
    from tunesafe._util.io import atomic_write_text
    from tunesafe.train.run import finetune_run, tuned_model_spec

    atomic_write_text(root / "experiment.yaml", dump_config(experiment))
    audits: dict[str, Path] = {}
    finetunes: dict[str, Path] = {}
    progress = _StepLog(experiment.name, plan)
    progress.next("audit", BASE)
    audits[BASE] = _tracked_audit(experiment, BASE, experiment.base, root, reporter, tracking)
    for label, variant, seed in experiment.models():
        if variant.kind == "fine-tune":
            progress.next("finetune", label)
            train = train_config(experiment, variant, seed)
            with tracking.run(f"finetune-{label}", job="finetune", params=train.model_dump(mode="json")):
                tuned = finetune_run(train, root / f"finetune-{label}", reporter=reporter, tracking=tracking)
                tracking.log_finetune(tuned.path)
            finetunes[label] = tuned.path
            model = tuned_model_spec(tuned)
        else:
            model = model_spec_of(experiment, variant)
        progress.next("audit", label)
        audits[label] = _tracked_audit(experiment, label, model, root, reporter, tracking)
    progress.done()
    from tunesafe.report import write_report
    from tunesafe.report.build.effects import EffectSpec

    with tracking.run("report", job="report"):
        report = write_report(
            list(audits.values()),
            root / "report",
            show_harmful=show_harmful,
            effects=[EffectSpec(**e) for e in plan.effects] if experiment.effects_table else [],
            groups=experiment.groups() or None,
            paper=experiment.paper,
        )
        tracking.log_report(report)
    return ExperimentResult(root=root, audits=audits, finetunes=finetunes, report=report)


class _StepLog:
    """One log line per step of the experiment: which step of how many, and the time so far."""

    def __init__(self, name: str, plan: ExperimentPlan) -> None:
        self.name = name
        self.states: dict[tuple[str, str], str] = {(s.kind, s.variant): s.state for s in plan.steps}
        self.total = len(plan.steps)
        self.count = 0
        self.start = time.perf_counter()

    def next(self, kind: str, label: str) -> None:
        self.count += 1
        state = self.states.get((kind, label), "new")
        note = {"done": " (finished before: reused)", "resume": " (resuming)"}.get(state, "")
        elapsed = time.perf_counter() - self.start
        logger.info(
            "experiment %s [%d/%d, %.0f s so far]: %s %s%s",
            self.name,
            self.count,
            self.total,
            elapsed,
            kind,
            label,
            note,
        )

    def done(self) -> None:
        logger.info(
            "experiment %s: %d steps in %.0f s; writing the report",
            self.name,
            self.total,
            time.perf_counter() - self.start,
        )


def _tracked_audit(
    experiment: ExperimentConfig,
    name: str,
    model: ModelSpec,
    root: Path,
    reporter: Reporter,
    tracking: TrackingSession,
) -> Path:
    """:func:`_audit` as one tracked run ``audit-<name>``: its metrics and ``metrics.json``."""
    with tracking.run(f"audit-{name}", job="audit", params={"variant": name, "model": model.model_dump(mode="json")}):
        path = _audit(experiment, name, model, root, reporter)
        tracking.log_audit(path)
    return path


def _audit(experiment: ExperimentConfig, name: str, model: ModelSpec, root: Path, reporter: Reporter) -> Path:
    """Audit one model; a full fine-tune or another checkpoint is probed against the base first (adapter_check.py)."""
    from tunesafe.runner import run_audit

    if experiment.audit_backend is not None:
        model = model.model_copy(update={"backend": available_backend(experiment.audit_backend)})
    probe_base = None
    if name != BASE and model.adapter is None and model.source != experiment.base.source:
        from tunesafe.models import resolve_model_source

        probe_base = resolve_model_source(experiment.base.source)
    try:
        config = audit_config(experiment, name, model)
        return run_audit(config, root / f"audit-{name}", reporter=reporter, probe_base=probe_base).path
    except RunError as err:
        raise RunError(f"audit of {name!r}: {err}") from err


def available_backend(requested: str) -> str:
    """``requested``, or ``hf`` when it is ``llamacpp`` and llama-cpp-python is not installed."""
    if requested == "llamacpp" and importlib.util.find_spec("llama_cpp") is None:
        logger.warning(
            "llama-cpp-python is not installed (pip install 'tunesafe[llamacpp]'): auditing with transformers"
        )
        return "hf"
    return requested
