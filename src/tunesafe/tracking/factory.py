"""From ``--track`` and its options to a :class:`TrackingSession`, checked before any long work."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tunesafe.tracking.base import SERVICES, Tracker, TrackingError, TrackingSpec
from tunesafe.tracking.session import TrackingSession

__all__ = ["open_tracking", "tracked", "tracking_spec"]


def tracking_spec(
    service: str | None,
    *,
    project: str | None = None,
    run_name: str | None = None,
    directory: str | None = None,
    offline: bool = False,
) -> TrackingSpec | None:
    """The spec for ``--track SERVICE`` and its options; None without ``--track``."""
    if service is None or service == "":
        if project or run_name or directory or offline:
            raise TrackingError("--track-project, --track-name, --track-dir and --track-offline need --track")
        return None
    name = service.strip().lower()
    if name not in SERVICES:
        raise TrackingError(f"--track {service!r}: choose {' or '.join(SERVICES)}")
    return TrackingSpec.model_validate(
        {"service": name, "project": project, "run_name": run_name, "directory": directory, "offline": offline}
    )


def make_tracker(spec: TrackingSpec) -> Tracker:
    """The service's tracker; its package is imported here (``TrackingUnavailable`` when missing)."""
    if spec.service == "wandb":
        from tunesafe.tracking.wandb_service import WandbTracker

        return WandbTracker(spec)
    from tunesafe.tracking.mlflow_service import MlflowTracker

    return MlflowTracker(spec)


def open_tracking(spec: TrackingSpec | None) -> TrackingSession:
    """A session on ``spec``'s service (package imported, folder or store checked), or one that does nothing."""
    if spec is None:
        return TrackingSession(None)
    return TrackingSession(make_tracker(spec), group=spec.run_name)


@contextmanager
def tracked(
    spec: TrackingSpec | None, name: str, *, job: str, params: Mapping[str, Any] | None = None
) -> Iterator[TrackingSession]:
    """One tracked run (named ``spec.run_name`` when given) around the body: started before it, failed if it raises."""
    session = open_tracking(spec)
    run_name = spec.run_name if spec is not None and spec.run_name else name
    with session.run(run_name, job=job, params=params):
        yield session
