"""Which files make one lm-evaluation-harness run: its ``samples_<task>_<time>.jsonl`` files and the results
JSON beside them.

``lm_eval --output_path DIR --log_samples`` writes ``DIR/<model>/results_<time>.json`` and, per task,
``DIR/<model>/samples_<task>_<time>.jsonl``, one time stamp per run (an ``--output_path`` ending in ``.json``
names the results ``<stem>_<time>.json`` instead). A source is one samples file, a results file (its run's
samples files are found beside it), or a folder holding exactly one run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesafe.importers.logs import LogImportError

_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?"
SAMPLES_NAME = re.compile(rf"^samples_(?P<task>.+)_(?P<time>{_TIME})\.jsonl$")
RESULTS_NAME = re.compile(rf"^(?P<stem>.+)_(?P<time>{_TIME})\.json$")


@dataclass(frozen=True)
class LmEvalRun:
    """One run's files: (task, samples file) pairs in task order, and the results JSON (None when absent)."""

    samples: list[tuple[str, Path]]
    results_path: Path | None
    results: dict[str, Any]


def _task_files(files: list[Path]) -> list[tuple[str, Path]]:
    pairs = []
    for path in sorted(files):
        match = SAMPLES_NAME.match(path.name)
        pairs.append((match["task"] if match else path.stem.removeprefix("samples_"), path))
    return pairs


def _results_beside(folder: Path, time: str) -> Path | None:
    found = sorted(p for p in folder.glob(f"*_{time}.json") if RESULTS_NAME.match(p.name))
    return found[0] if found else None


def read_results(path: Path) -> dict[str, Any]:
    """The results JSON as a dict.

    Raises:
        LogImportError: not JSON, or not an object with ``results``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise LogImportError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(data, dict) or "results" not in data:
        raise LogImportError(f"{path}: not an lm-eval results file (no 'results' object)")
    return data


def _from_folder(folder: Path) -> tuple[list[Path], Path | None]:
    files = sorted(folder.rglob("samples_*.jsonl"))
    if not files:
        raise LogImportError(
            f"{folder}: holds no lm-eval samples_<task>_<time>.jsonl files; run lm_eval with --log_samples"
        )
    runs = sorted({(p.parent, m["time"] if (m := SAMPLES_NAME.match(p.name)) else "") for p in files})
    if len(runs) > 1:
        shown = ", ".join(str(parent / f"*_{time}") for parent, time in runs[:3])
        raise LogImportError(
            f"{folder}: holds {len(runs)} lm-eval runs ({shown}{', …' if len(runs) > 3 else ''}); "
            "give one run's results_<time>.json or samples file"
        )
    parent, time = runs[0]
    return files, _results_beside(parent, time) if time else None


def locate_run(source: Path) -> LmEvalRun:
    """The run ``source`` (a samples file, a results file or a folder) belongs to.

    Raises:
        LogImportError: a folder without samples files or with several runs, a results file without
            samples files beside it, an unreadable results file.
    """
    if source.is_dir():
        files, results_path = _from_folder(source)
    elif source.suffix == ".json":
        match = RESULTS_NAME.match(source.name)
        files = sorted(source.parent.glob(f"samples_*_{match['time']}.jsonl")) if match else []
        if not files:
            raise LogImportError(
                f"{source}: no samples_<task>_<time>.jsonl files of this run beside it; run lm_eval with "
                "--log_samples, or give a samples file"
            )
        results_path = source
    else:
        match = SAMPLES_NAME.match(source.name)
        files = [source]
        results_path = _results_beside(source.parent, match["time"]) if match else None
    results = read_results(results_path) if results_path else {}
    return LmEvalRun(_task_files(files), results_path, results)


def model_name(results: dict[str, Any]) -> str | None:
    """The model a results file names: ``model_name``, else ``pretrained=`` of ``config.model_args``."""
    if isinstance(results.get("model_name"), str) and results["model_name"]:
        return str(results["model_name"])
    config = results.get("config") or {}
    args = config.get("model_args") if isinstance(config, dict) else None
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    return None
