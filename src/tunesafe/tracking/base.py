"""What every tracking service implements, the settings that pick one, and the errors a user can meet.

A service (``wandb_service.py``, ``mlflow_service.py``) only moves numbers, texts and files to its store;
what is logged, and under which names, is decided once in ``names.py`` and ``session.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from tunesafe.errors import InputError

__all__ = ["SERVICES", "Service", "Tracker", "TrackingError", "TrackingSpec", "TrackingUnavailable", "writable_dir"]

Service = Literal["wandb", "mlflow"]
SERVICES: tuple[Service, ...] = ("wandb", "mlflow")


class TrackingError(InputError):
    """Tracking cannot start: an unknown service, a folder that cannot be written, a store that refuses."""


class TrackingUnavailable(TrackingError):
    """The service's package is not installed; the message names the extra to install."""


def writable_dir(where: str, what: str) -> Path:
    """``--track-dir`` as an absolute folder, made if missing; ``TrackingError`` naming ``what`` (the W&B
    folder, the MLflow store) when it cannot be made or written."""
    path = Path(where).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TrackingError(f"--track-dir {where}: cannot create the {what} ({err.strerror})") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise TrackingError(f"--track-dir {where}: the {what} is not writable")
    return path.resolve()


class TrackingSpec(BaseModel):
    """Where and how to track. ``None`` fields fall back to the service's own environment variables
    (``WANDB_PROJECT``, ``WANDB_DIR``, ``WANDB_MODE``; ``MLFLOW_EXPERIMENT_NAME``, ``MLFLOW_TRACKING_URI``),
    then to tunesafe's defaults (project ``tunesafe``; W&B's ``./wandb``, MLflow's ``./mlruns`` file store)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: Service
    project: str | None = None
    """W&B project, or MLflow experiment name."""
    run_name: str | None = None
    """Name of the tracked run (an experiment: the group its runs share)."""
    directory: str | None = None
    """W&B: the folder its run files go to. MLflow: a tracking URI, or a folder for a local file store."""
    offline: bool = False
    """W&B: offline mode (sync later with ``wandb sync``). MLflow: refuse a remote tracking URI."""


class Tracker(Protocol):
    """One tracking service. Runs are opened one at a time; ``open_group`` nests the runs opened after it
    (MLflow: child runs of a parent run; W&B: runs in one group). Every method may raise: the
    :class:`~tunesafe.tracking.session.TrackingSession` around it decides what a failure means."""

    service: Service
    """Also TRL's ``report_to`` name: the trainer logs its curves into the open run."""

    def location(self) -> str:
        """Where runs are stored (a folder or URI), for the user to find or sync them."""
        ...

    def open_group(self, name: str) -> None: ...

    def close_group(self, *, failed: bool = False) -> None: ...

    def start_run(self, name: str, *, job: str, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """``step`` is a training step (the trainer's ``global_step``); None: a run-level result."""
        ...

    def log_texts(self, texts: Mapping[str, str]) -> None:
        """Short texts (a gate's reason): W&B summary, MLflow tags."""
        ...

    def log_artifact(self, paths: Sequence[Path], *, name: str, kind: str) -> None: ...

    def end_run(self, *, failed: bool = False) -> None: ...
