"""MLflow: one MLflow run per tracked run, in the experiment ``project``; an experiment's steps are child
runs of one parent run. With no tracking URI, a local file store ``./mlruns`` (mlflow-skinny has no
database backend; tunesafe sets ``MLFLOW_ALLOW_FILE_STORE=true`` for a file store). Training steps are
MLflow steps, as transformers' ``MLflowCallback`` logs them."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesafe.tracking.base import Service, TrackingError, TrackingSpec, TrackingUnavailable, writable_dir

__all__ = ["MlflowTracker", "tracking_uri"]

_REMOTE = ("http://", "https://", "databricks")
_MAX_PARAM = 500  # characters kept of a parameter's value


class MlflowTracker:
    """A :class:`~tunesafe.tracking.base.Tracker` writing MLflow runs (a local file store or any server)."""

    service: Service = "mlflow"

    def __init__(self, spec: TrackingSpec) -> None:
        self.mlflow = _import_mlflow()
        self.uri = tracking_uri(spec.directory or os.environ.get("MLFLOW_TRACKING_URI") or "mlruns")
        if spec.offline and self.uri.startswith(_REMOTE):
            raise TrackingError(f"--track-offline: {self.uri} is a remote MLflow server; give a local --track-dir")
        self.experiment = spec.project or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "tunesafe"
        self.experiment_id = self._experiment_id()
        self.parent: Any = None
        self.run: Any = None

    def location(self) -> str:
        return f"MLflow experiment {self.experiment} at {self.uri}"

    def open_group(self, name: str) -> None:
        self.parent = self.mlflow.start_run(
            run_name=name, experiment_id=self.experiment_id, tags={"tunesafe.job": "experiment"}
        )

    def close_group(self, *, failed: bool = False) -> None:
        if self.parent is not None:
            self.parent = None
            self.mlflow.end_run(status="FAILED" if failed else "FINISHED")

    def start_run(self, name: str, *, job: str, params: Mapping[str, Any]) -> None:
        self.run = self.mlflow.start_run(
            run_name=name,
            experiment_id=self.experiment_id,
            nested=self.parent is not None,
            tags={"tunesafe.job": job},
        )
        flat = _flat_params(params)
        if flat:
            self.mlflow.log_params(flat)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._open_run()
        self.mlflow.log_metrics(dict(metrics), step=step)

    def log_texts(self, texts: Mapping[str, str]) -> None:
        self._open_run()
        self.mlflow.set_tags(dict(texts))

    def log_artifact(self, paths: Sequence[Path], *, name: str, kind: str) -> None:
        self._open_run()
        for path in paths:
            self.mlflow.log_artifact(str(path), artifact_path=name)

    def end_run(self, *, failed: bool = False) -> None:
        if self.run is not None:
            self.run = None
            self.mlflow.end_run(status="FAILED" if failed else "FINISHED")

    def _open_run(self) -> None:
        if self.run is None:
            raise TrackingError("no MLflow run is open")

    def _experiment_id(self) -> str:
        """The experiment's id, created if new; the store is reached here, before any long work."""
        self.mlflow.set_tracking_uri(self.uri)  # process-wide: the trainer's MLflowCallback logs there too
        try:
            client = self.mlflow.MlflowClient(self.uri)
            found = client.get_experiment_by_name(self.experiment)
            return str(found.experiment_id if found is not None else client.create_experiment(self.experiment))
        except Exception as err:
            message = " ".join(str(err).split())[:300]
            raise TrackingError(f"--track mlflow: the tracking store {self.uri} refused ({message})") from err


def tracking_uri(where: str) -> str:
    """A URI as it is (``http://``, ``file:``, ``sqlite:`` …); a folder becomes a local file store's ``file:`` URI."""
    if "://" in where or where.startswith(("file:", "sqlite:", "databricks")):
        if where.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return where
    path = writable_dir(where, "MLflow store")
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return path.as_uri()


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as err:
        raise TrackingUnavailable(
            f"--track mlflow needs the mlflow package ({err}): pip install 'tunesafe[mlflow]'"
        ) from err
    return mlflow


def _flat_params(params: Mapping[str, Any], prefix: str = "tunesafe") -> dict[str, str]:
    """Nested settings as ``tunesafe.a.b`` parameters (a prefix apart from the trainer's own)."""
    out: dict[str, str] = {}
    for name, value in params.items():
        full = f"{prefix}.{name}"
        if isinstance(value, Mapping):
            out.update(_flat_params(value, full))
        elif value is not None:
            out[full] = str(value)[:_MAX_PARAM]
    return out
