"""Experiment tracking: audits, comparisons, gates and fine-tunes logged to Weights & Biases or MLflow.

``--track wandb|mlflow`` on ``audit``, ``finetune``, ``compare``, ``gate`` and ``run``; both work offline
(W&B offline mode, an MLflow file store). The services' packages load only when tracking starts.
Metric names: ``names.py`` and docs/tracking.md.
"""

from __future__ import annotations

from tunesafe.tracking.base import SERVICES, Tracker, TrackingError, TrackingSpec, TrackingUnavailable
from tunesafe.tracking.factory import make_tracker, open_tracking, tracked, tracking_spec
from tunesafe.tracking.session import TrackingSession

__all__ = [
    "SERVICES",
    "Tracker",
    "TrackingError",
    "TrackingSession",
    "TrackingSpec",
    "TrackingUnavailable",
    "make_tracker",
    "open_tracking",
    "tracked",
    "tracking_spec",
]
