"""Weights & Biases: one W&B run per tracked run, runs of an experiment in one group (``job_type`` says which
step). Offline mode (``--track-offline`` or ``WANDB_MODE=offline``) writes ``<dir>/wandb/offline-run-*``
folders, uploaded later with ``wandb sync``. Training steps go on W&B's ``train/global_step`` axis, the one
transformers' ``WandbCallback`` defines, so the trainer's curves and the safety curve share it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunesafe.tracking.base import Service, TrackingError, TrackingSpec, TrackingUnavailable, writable_dir

__all__ = ["WandbTracker"]

STEP_METRIC = "train/global_step"


class WandbTracker:
    """A :class:`~tunesafe.tracking.base.Tracker` writing W&B runs (online, or offline to a folder)."""

    service: Service = "wandb"

    def __init__(self, spec: TrackingSpec) -> None:
        self.wandb = _import_wandb()
        self.project = spec.project or os.environ.get("WANDB_PROJECT") or "tunesafe"
        self.directory = writable_dir(spec.directory or os.environ.get("WANDB_DIR") or ".", "W&B folder")
        self.mode = "offline" if spec.offline else None  # None: W&B's own choice (WANDB_MODE, login)
        self.group: str | None = None
        self.run: Any = None

    def location(self) -> str:
        offline = self.mode == "offline" or os.environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun")
        where = self.directory / "wandb"
        return f"W&B project {self.project}" + (f", offline runs in {where} (upload: wandb sync)" if offline else "")

    def open_group(self, name: str) -> None:
        self.group = name

    def close_group(self, *, failed: bool = False) -> None:
        self.group = None

    def start_run(self, name: str, *, job: str, params: Mapping[str, Any]) -> None:
        settings = self.wandb.Settings(silent=True, console="off")
        self.run = self.wandb.init(
            project=self.project,
            name=name,
            group=self.group,
            job_type=job,
            dir=str(self.directory),
            mode=self.mode,
            config={"tunesafe": dict(params)} if params else None,
            settings=settings,
            reinit="finish_previous",
        )

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        run = self._open_run()
        if step is None:
            run.log(dict(metrics))
            return
        for name in metrics:  # the trainer's axis; W&B's own _step stays monotonic
            run.define_metric(name, step_metric=STEP_METRIC, step_sync=True)
        run.log({**metrics, STEP_METRIC: step})

    def log_texts(self, texts: Mapping[str, str]) -> None:
        run = self._open_run()
        for name, text in texts.items():
            run.summary[name] = text

    def log_artifact(self, paths: Sequence[Path], *, name: str, kind: str) -> None:
        run = self._open_run()
        artifact = self.wandb.Artifact(_artifact_name(f"{run.name or run.id}-{name}"), type=kind)
        for path in paths:
            artifact.add_file(str(path), name=Path(path).name)
        run.log_artifact(artifact)

    def end_run(self, *, failed: bool = False) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.finish(exit_code=1 if failed else 0)

    def _open_run(self) -> Any:
        if self.run is None:
            raise TrackingError("no W&B run is open")
        return self.run


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError as err:
        raise TrackingUnavailable(
            f"--track wandb needs the wandb package ({err}): pip install 'tunesafe[wandb]'"
        ) from err
    return wandb


def _artifact_name(text: str) -> str:
    """W&B artefact names allow letters, digits, ``-``, ``_`` and ``.``."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)[:128]
