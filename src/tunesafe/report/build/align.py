"""Reading audit runs once and aligning them on the prompts they share: what every part of a comparison
(compare, effects, seeds) is built from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from tunesafe.audits.drift import QuestionResult, asked_under_every_condition, question_results
from tunesafe.results import Manifest, RunDir, RunError
from tunesafe.types import SampleRecord

AUDIT = "harmful"
OVERREFUSAL = "overrefusal"
DRIFT = "drift"
T = TypeVar("T")


def align(maps: Sequence[Mapping[str, T]]) -> tuple[list[str], list[list[T]]]:
    """The ids present in every map, in the first map's order, and each map's items on them."""
    common = set.intersection(*(set(m) for m in maps)) if maps else set()
    order = [key for key in maps[0] if key in common] if maps else []
    return order, [[m[key] for key in order] for m in maps]


class LoadedRun(NamedTuple):
    """One audit run, read once: its manifest, records by sample id, metrics and model description."""

    run: RunDir
    manifest: Manifest
    records: dict[str, SampleRecord]
    metrics: dict[str, Any]
    model: str
    overrefusal: dict[str, SampleRecord]
    overrefusal_metrics: dict[str, Any]
    drift: dict[str, dict[str, QuestionResult]]  # condition -> question id -> majority-vote result
    drift_metrics: dict[str, Any]


def load_run(path: Path) -> LoadedRun:
    run = RunDir(path)
    manifest = run.manifest()
    if manifest.kind != "audit":
        raise RunError(f"{path} is a {manifest.kind} run; compare takes audit runs")
    records = {r.sample_id: r for r in run.records(AUDIT)}
    metrics = run.metrics()
    return LoadedRun(
        run,
        manifest,
        records,
        metrics.get(AUDIT, {}),
        model_description(run),
        {r.sample_id: r for r in run.records(OVERREFUSAL)},
        metrics.get(OVERREFUSAL, {}),
        asked_under_every_condition(question_results(run.records(DRIFT))),
        metrics.get(DRIFT, {}),
    )


class HarmfulAlignment(NamedTuple):
    """The harmful prompts every run answered (base order), the headline subset, and the shared judges."""

    judges: list[str]
    headline_judge: str
    excludes: list[str]
    aligned: list[list[SampleRecord]]  # per run, every shared prompt
    headline: list[list[SampleRecord]]  # per run, the shared prompts minus the excluded subsets


def align_harmful(loaded: Sequence[LoadedRun]) -> HarmfulAlignment:
    order, aligned = align([item.records for item in loaded])
    if not order:
        raise RunError("the runs share no prompts; compare runs audited on the same dataset")
    base_metrics = loaded[0].metrics
    excludes = list(base_metrics.get("headline_excludes", ["copyright"]))
    judges = [j for j in base_metrics.get("judges", {}) if all(j in item.metrics.get("judges", {}) for item in loaded)]
    if not judges:
        raise RunError("the runs share no judge; re-judge them with a common judge first")
    headline_judge = base_metrics.get("headline_judge") or judges[0]
    headline = [[r for r in recs if r.subset not in excludes] for recs in aligned]
    return HarmfulAlignment(judges, headline_judge, excludes, aligned, headline)


def model_description(run: RunDir) -> str:
    """The audited model as its config names it: source, and the adapter when there is one."""
    import yaml

    config = yaml.safe_load(run.config_path.read_text(encoding="utf-8")) or {}
    model = config.get("model", {})
    desc = str(model.get("source", "?"))
    return desc + (f" + adapter {model['adapter']}" if model.get("adapter") else "")
