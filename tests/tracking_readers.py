"""Read back what tracking logged, offline: W&B offline runs from their ``.wandb`` files, MLflow through
``MlflowClient``; and fixtures that keep both services inside ``tmp_path``, with no network."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_BLOCK, _HEADER = 32768, 7  # W&B's log format (LevelDB-style): 32 KiB blocks, 7-byte record headers


@dataclass
class WandbRun:
    """What one offline W&B run holds: its identity, history rows, summary texts, artefacts, exit code."""

    name: str
    project: str
    group: str
    job_type: str
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Path]] = field(default_factory=dict)  # name -> file name -> staged copy
    exit_code: int | None = None

    def values(self, name: str) -> list[tuple[Any, Any]]:
        """``(train/global_step, value)`` of every history row that logged ``name``."""
        return [(row.get("train/global_step"), row[name]) for row in self.history if name in row]

    def last(self, name: str) -> Any:
        return self.values(name)[-1][1]


def _chunks(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        space = _BLOCK - pos % _BLOCK
        if space < _HEADER:
            pos += space
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        body = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == 1:
            yield body
        elif kind == 2:
            pending = body
        elif kind == 3:
            pending += body
        elif kind == 4:
            yield pending + body


def read_wandb_run(run_file: Path) -> WandbRun:
    """Parse an offline run's ``run-<id>.wandb`` with wandb's own protobuf records."""
    from wandb.proto import wandb_internal_pb2 as pb

    run: WandbRun | None = None
    for chunk in _chunks(run_file):
        record = pb.Record()
        record.ParseFromString(chunk)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config = {item.key: json.loads(item.value_json) for item in record.run.config.update}
            r = record.run
            run = WandbRun(r.display_name, r.project, r.run_group, r.job_type, config)
        elif run is None:
            continue
        elif kind == "config":  # later updates (transformers' WandbCallback adds the training arguments)
            run.config.update({item.key: json.loads(item.value_json) for item in record.config.update if item.key})
        elif kind == "history":
            run.history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "summary":
            run.summary.update({item.key: json.loads(item.value_json) for item in record.summary.update if item.key})
        elif kind == "artifact":
            files = {entry.path: Path(entry.local_path) for entry in record.artifact.manifest.contents}
            run.artifacts[record.artifact.name] = files
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    assert run is not None, f"{run_file} has no run record"
    return run


def wandb_runs(wandb_dir: Path) -> dict[str, WandbRun]:
    """Every offline run under ``wandb_dir`` (its ``wandb/offline-run-*`` folders), by display name."""
    runs = [read_wandb_run(f) for f in sorted(Path(wandb_dir).glob("wandb/offline-run-*/run-*.wandb"))]
    return {run.name: run for run in runs}


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """W&B in offline mode with every folder it writes inside ``tmp_path``; the run-files folder."""
    pytest.importorskip("wandb")
    root = tmp_path / "wandb-home"
    for name, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
        (root / sub).mkdir(parents=True)
        monkeypatch.setenv(name, str(root / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    runs = tmp_path / "wandb-runs"
    monkeypatch.setenv("WANDB_DIR", str(runs))
    return runs


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local MLflow file store in ``tmp_path`` (its ``file:`` URI); the global tracking URI is restored."""
    mlflow = pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    uri = store.as_uri()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    store.mkdir()
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri("")


def mlflow_runs(uri: str, experiment: str = "tunesafe") -> dict[str, Any]:
    """Every run of ``experiment`` in the store, by run name (``mlflow.entities.Run``)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r} in {uri}"
    return {run.info.run_name: run for run in client.search_runs([found.experiment_id])}
