"""Run directories: plain files that reports, rejudging and resuming read.

```
<run>/manifest.json        schema_version, kind, status, fingerprints, versions, seed, timings
<run>/config.yaml          the fully resolved config
<run>/samples/<audit>.jsonl one SampleRecord per line, appended as produced
<run>/metrics.json         {audit: {...}}
<run>/train/               adapter, trainer_state.json, data.jsonl, data_manifest.json (fine-tunes)
```
Every file is written atomically (or appended whole lines), so a killed process leaves a
directory that can be resumed and is never half-written.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from tunesafe._util.failures import Terminated
from tunesafe._util.io import append_jsonl, atomic_output, atomic_write_json, atomic_write_text, read_jsonl
from tunesafe._util.redact import redact
from tunesafe.errors import InputError
from tunesafe.types import SampleRecord

if TYPE_CHECKING:
    from tunesafe.config import AuditConfig, TrainConfig

SCHEMA_VERSION = 1
RunKind = Literal["audit", "finetune"]
RunStatus = Literal["running", "success", "error", "interrupted"]

_VERSIONED_PACKAGES = ("tunesafe", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "pydantic")


class RunError(RuntimeError, InputError):
    """A run directory is missing, unreadable, of an unknown schema, in use, or holds something else."""


class Manifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    kind: RunKind
    name: str
    status: RunStatus = "running"
    created: str
    updated: str
    config_hash: str
    seed: int | None = None
    fingerprints: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = Field(default_factory=dict)  # audit -> source, licence, sha256, rows
    info: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution, None where it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries a run's results depend on."""
    installed = {k: v for k, v in package_versions(_VERSIONED_PACKAGES).items() if v is not None}
    return {"python": platform.python_version(), **installed}


def new_run_path(root: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)[:60]
    return Path(root) / f"{stamp}-{safe}-{secrets.token_hex(3)}"


class RunDir:
    """A run directory on disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def train_dir(self) -> Path:
        return self.path / "train"

    def samples_path(self, audit: str) -> Path:
        return self.path / "samples" / f"{audit}.jsonl"

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def create_or_resume(
        cls, path: Path, *, kind: RunKind, name: str, config_yaml: str, config_hash: str, seed: int | None
    ) -> RunDir:
        """Open ``path`` for a run of this config: create it, or resume it if it holds the same config.

        A directory holding a *different* config is refused rather than mixed.
        """
        run = cls(path)
        if run.manifest_path.exists():
            manifest = run.manifest()
            if manifest.config_hash != config_hash:
                raise RunError(
                    f"{path} holds a run of a different config (hash {manifest.config_hash[:12]} vs "
                    f"{config_hash[:12]}); choose another output directory"
                )
            manifest.status = "running"
            manifest.error = None
            run.write_manifest(manifest)
            return run
        run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.config_path, config_yaml)
        now = _now()
        run.write_manifest(
            Manifest(
                run_id=run.path.name,
                kind=kind,
                name=name,
                created=now,
                updated=now,
                config_hash=config_hash,
                seed=seed,
                versions=library_versions(),
            )
        )
        return run

    def manifest(self) -> Manifest:
        if not self.manifest_path.exists():
            raise RunError(f"{self.path} is not a tunesafe run directory (no manifest.json)")
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise RunError(f"{self.manifest_path}: not valid JSON ({err.msg})") from err
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RunError(f"{self.path}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        return Manifest.model_validate(data)

    def write_manifest(self, manifest: Manifest) -> None:
        manifest.updated = _now()
        atomic_write_json(self.manifest_path, manifest.model_dump(mode="json"))

    def update_manifest(self, **changes: Any) -> Manifest:
        manifest = self.manifest()
        for key, value in changes.items():
            current = getattr(manifest, key)
            if isinstance(current, dict) and isinstance(value, dict):
                current.update(value)
            else:
                setattr(manifest, key, value)
        self.write_manifest(manifest)
        return manifest

    @contextmanager
    def recording_failures(self, watch: Stopwatch) -> Iterator[None]:
        """Mark the run ``interrupted`` or ``error`` (with the message and timings) if the body raises."""
        try:
            yield
        except KeyboardInterrupt as err:
            why = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted by the user"
            self.update_manifest(status="interrupted", timings=watch.timings, error=why)
            raise
        except Exception as err:
            message = redact(f"{type(err).__name__}: {err}")  # a key echoed by a server stays out of the manifest
            self.update_manifest(status="error", timings=watch.timings, error=message)
            raise

    # -- samples and metrics -------------------------------------------------------------------
    def append_records(self, audit: str, records: Iterable[SampleRecord]) -> None:
        append_jsonl(self.samples_path(audit), (r.model_dump(mode="json") for r in records))

    def replace_records(self, audit: str, records: Iterable[SampleRecord]) -> None:
        """Rewrite ``samples/<audit>.jsonl`` atomically (rejudging): the old file stays until the new one is whole."""
        with atomic_output(self.samples_path(audit)) as handle:
            for record in records:
                handle.write(record.model_dump_json() + "\n")

    def records(self, audit: str) -> Iterator[SampleRecord]:
        path = self.samples_path(audit)
        if not path.exists():
            return
        for row in read_jsonl(path):
            yield SampleRecord.model_validate(row)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.metrics_path, {"schema_version": SCHEMA_VERSION, **metrics})

    def metrics(self) -> dict[str, Any]:
        if not self.metrics_path.exists():
            raise RunError(f"{self.path} has no metrics.json (did the run finish?)")
        metrics: dict[str, Any] = json.loads(self.metrics_path.read_text(encoding="utf-8"))
        return metrics


class Stopwatch:
    """Measures named stages: ``with watch("generate"): ...`` accumulates seconds."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, stage: str) -> _Lap:
        return _Lap(self, stage)


class _Lap:
    def __init__(self, watch: Stopwatch, stage: str) -> None:
        self.watch, self.stage = watch, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        self.watch.timings[self.stage] = round(self.watch.timings.get(self.stage, 0.0) + elapsed, 3)


_LOCK = ".lock"
_ALLOWED_IN_NEW_RUN = {_LOCK, "config.yaml"}  # what a run killed before its manifest was written leaves


def check_output_dir(path: Path) -> None:
    """Refuse, before any work, an output path that cannot hold a run directory: a file, a path under a
    file, a folder that is not writable, or a folder holding other things (a screen's output, a report)."""
    path = Path(path)
    check_writable_folder(path, "a new one, or a run directory to resume")
    if path.is_dir() and not (path / "manifest.json").exists():
        others = sorted(
            e.name for e in path.iterdir() if e.name not in _ALLOWED_IN_NEW_RUN and not e.name.startswith(".")
        )
        if others:
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise RunError(
                f"{path} holds other files ({shown}) and is not a tunesafe run directory; "
                "choose a new or empty output folder"
            )


def check_writable_folder(path: Path, wanted: str = "a new or empty one") -> None:
    """Refuse an output folder that is a file, lies under a file, or cannot be written (before any work)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunError(f"{path} is a file; the output must be a folder ({wanted})")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise RunError(f"{path} is under {existing}, which is a file; choose another output folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RunError(f"{existing} is not writable; choose an output folder you can write to")


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold ``<path>/.lock`` (POSIX ``flock``) while a process writes the run directory; a second process
    is refused at once, naming the holder's pid. The OS releases the lock when its process dies."""
    import fcntl

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with (path / _LOCK).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise RunError(
                f"{path} is in use by another tunesafe process{f' (pid {holder})' if holder.isdigit() else ''}; "
                "wait for it to finish, or choose another output directory"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            _remove_stale_temps(path)
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_stale_temps(path: Path) -> None:
    """Temp files a killed writer left (``.<name>.<random>.tmp``, never read): the lock holder is the only
    writer, so they can go."""
    for stale in [*path.glob(".*.tmp"), *path.glob("*/.*.tmp")]:
        if stale.is_file():
            stale.unlink(missing_ok=True)


@contextmanager
def locked_output(path: Path) -> Iterator[Path]:
    """:func:`check_output_dir`, then :func:`run_lock` for the body: how every command that writes a run
    directory starts."""
    check_output_dir(path)
    with run_lock(path):
        yield Path(path)


def open_run(path: Path, kind: RunKind, config: AuditConfig | TrainConfig) -> RunDir:
    """Create the run directory of ``config`` at ``path``, or resume it if it holds the same config
    (call it under :func:`locked_output`)."""
    from tunesafe.config import config_hash, dump_config

    return RunDir.create_or_resume(
        path,
        kind=kind,
        name=config.name,
        config_yaml=dump_config(config),
        config_hash=config_hash(config),
        seed=config.seed,
    )
