"""Compare audited runs on the same prompts: rates with intervals, paired changes vs the base.

The first run is the base. Runs are aligned on sample ids present in every run; each change is
tested with an exact McNemar test on the paired prompts (both verdicts scored) and given a
Newcombe (1998) interval. Per-category p-values are Holm-adjusted within each comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tunesafe.audits.harmful import completion_stats
from tunesafe.audits.overrefusal import refusal_rate, refused
from tunesafe.judges.agreement import PanelSummary
from tunesafe.judges.verdicts import complied, rate_of
from tunesafe.report.build.align import AUDIT, HarmfulAlignment, LoadedRun, align, align_harmful, load_run
from tunesafe.report.build.changes import Flag, change, paired_change
from tunesafe.report.build.drift_uncertainty import uncertainty_changes
from tunesafe.report.build.effects import EffectRow, EffectSpec, check_effect_labels, effect_rows
from tunesafe.report.build.paper import PaperSpec, PaperView, check_paper_labels, paper_view
from tunesafe.report.build.scores import GradedScoreSection, graded_sections
from tunesafe.report.build.sections import (
    CategoryRow,
    DriftRow,
    DriftSection,
    Excerpt,
    JudgeSection,
    ModelRow,
    OverrefusalSection,
)
from tunesafe.report.build.seeds import SeedGroup, check_group_labels, seed_groups
from tunesafe.report.build.training_curve import curve_of_audit_run
from tunesafe.report.build.truthfulness import TruthfulnessSection, truthfulness_section
from tunesafe.results import RunError
from tunesafe.stats import holm_adjust, rate
from tunesafe.types import RateEstimate, SampleRecord


class Comparison(BaseModel):
    schema_version: int = 1
    audit: str = AUDIT
    runs: list[dict[str, Any]]
    dataset: str = "HarmBench text behaviours"
    n_aligned: int = 0  # harmful prompts shared by every run (0: the runs have no harmful audit)
    n_headline: int = 0
    headline_excludes: list[str] = Field(default_factory=list)
    headline_judge: str | None = None
    judges: list[JudgeSection] = Field(default_factory=list)
    graded: list[GradedScoreSection] = Field(default_factory=list)  # judges' graded scores (scores.py)
    excerpts: list[Excerpt] = Field(default_factory=list)
    show_harmful: bool = False
    overrefusal: OverrefusalSection | None = None
    drift: DriftSection | None = None
    truthfulness: TruthfulnessSection | None = None
    panels: dict[str, PanelSummary] = Field(default_factory=dict)  # model label -> judge panel
    calibration_sources: list[str] = Field(default_factory=list)  # labelled sets the panels were measured on
    effects: list[EffectRow] = Field(default_factory=list)  # each variant vs its own reference (effects.py)
    seed_groups: list[SeedGroup] = Field(default_factory=list)  # variants trained with several seeds (seeds.py)
    paper: PaperView | None = None  # a published setup's printed figures beside this run's (paper.py)


def safe_to_show(record: SampleRecord) -> bool:
    """Every judge scored a refusal and the model stopped by itself: the only completions of a harmful
    audit that reports (and ``tunesafe export``) show without ``show_harmful``.

    Keyword judges miss compliance that opens with a refusal phrase ("As an AI ..., but here is
    ..."); such answers tend to run on to the length limit, so only self-terminated ones are shown.
    """
    refused = bool(record.verdicts) and all(v.complied is False for v in record.verdicts)
    return refused and record.completion.finish_reason == "stop"


def compare_runs(
    paths: Sequence[Path],
    *,
    show_harmful: bool = False,
    n_excerpts: int = 3,
    effects: Sequence[EffectSpec] = (),
    groups: Mapping[str, Sequence[str]] | None = None,
    paper: PaperSpec | None = None,
) -> Comparison:
    """Build the comparison of ``paths`` (the first is the base).

    Every audit the runs share is compared; runs without a harmful audit (a drift-only audit, an
    imported drift file) compare on what they have. ``effects`` add paired comparisons of a variant
    with its own reference run (by label), such as a mitigation with the run it mitigates. ``groups``
    (group name → run labels) aggregates a variant trained once per seed (``seeds.py``); ``paper``
    puts a published setup's printed figures beside these runs (``paper.py``).
    """
    if len(paths) < 1:
        raise ValueError("compare needs at least one run")
    loaded = [load_run(Path(p)) for p in paths]
    labels = unique_labels([item.manifest.name for item in loaded])
    check_effect_labels(effects, labels)
    check_group_labels(groups or {}, labels)
    if paper is not None:
        check_paper_labels(paper, labels)
    with_harmful = [bool(item.records) for item in loaded]
    if any(with_harmful) and not all(with_harmful):
        missing = ", ".join(str(item.run.path) for item in loaded if not item.records)
        raise RunError(f"some runs have a harmful audit and some do not ({missing}); compare like with like")
    alignment = align_harmful(loaded) if all(with_harmful) else None
    harmful = _harmful_fields(loaded, labels, alignment, show_harmful, n_excerpts) if alignment else {}
    overrefusal = _overrefusal_section(loaded, labels)
    comparison = Comparison(
        runs=[_run_info(item, label) for item, label in zip(loaded, labels, strict=True)],
        **harmful,
        overrefusal=overrefusal,
        drift=drift_section(loaded, labels),
        truthfulness=truthfulness_section([item.run for item in loaded], labels),
        calibration_sources=sorted(
            {str(src) for item in loaded if (src := item.manifest.datasets.get("calibration", {}).get("source"))}
        ),
    )
    if not (comparison.judges or comparison.overrefusal or comparison.drift or comparison.truthfulness):
        raise RunError("the runs share no audit to compare (harmful, over-refusal, drift or truthfulness)")
    if effects:
        comparison.effects = effect_rows(effects, loaded, labels, alignment, overrefusal.judge if overrefusal else None)
    if groups:
        comparison.seed_groups = seed_groups(
            groups,
            comparison.judges,
            comparison.headline_judge,
            comparison.overrefusal,
            comparison.effects,
            loaded,
            labels,
            alignment,
        )
    if paper is not None:
        comparison.paper = paper_view(paper, comparison.judges, comparison.headline_judge, comparison.drift is not None)
    return comparison


def _harmful_fields(
    loaded: Sequence[LoadedRun], labels: Sequence[str], alignment: HarmfulAlignment, show_harmful: bool, n_excerpts: int
) -> dict[str, Any]:
    """The harmful audit's part of the comparison: per-judge sections, graded scores, excerpts, panels."""
    judges, headline_judge, excludes, aligned, headline = alignment
    dataset = loaded[0].manifest.datasets.get(AUDIT, {})
    return {
        "dataset": str(dataset.get("title") or dataset.get("name") or "HarmBench text behaviours"),
        "n_aligned": len(aligned[0]),
        "n_headline": len(headline[0]),
        "headline_excludes": excludes,
        "headline_judge": headline_judge,
        "judges": [_judge_section(judge, loaded, labels, aligned, headline) for judge in judges],
        "graded": graded_sections(judges, labels, headline),
        "excerpts": _excerpts(loaded, labels, aligned, headline_judge, show_harmful, n_excerpts),
        "panels": {
            label: PanelSummary.model_validate(item.metrics["panel"])
            for item, label in zip(loaded, labels, strict=True)
            if "panel" in item.metrics
        },
    }


def drift_section(loaded: Sequence[LoadedRun], labels: Sequence[str]) -> DriftSection | None:
    """Accuracy per condition with paired McNemar tests vs the base on the questions every run asked."""
    if not all(item.drift for item in loaded):
        return None
    conditions = list(loaded[0].drift)
    if not all(set(item.drift) >= set(conditions) for item in loaded):
        return None
    common = set.intersection(*(set(item.drift[c]) for item in loaded for c in conditions))
    if not common:
        return None
    order = [q for q in loaded[0].drift[conditions[0]] if q in common]
    rows = []
    for i, item in enumerate(loaded):
        accuracy, change = {}, {}
        for condition in conditions:
            flags = [item.drift[condition][q].correct for q in order]
            accuracy[condition] = rate(sum(flags), len(flags))
            if i > 0:
                base = [loaded[0].drift[condition][q].correct for q in order]
                change[condition] = paired_change(list(zip(base, flags, strict=True)))
        uncertainty = {
            c: v.get("uncertainty", {}) for c, v in item.drift_metrics.get("conditions", {}).items() if c in conditions
        }
        paired = uncertainty_changes(loaded[0].drift, item.drift, n_bootstrap=2000) if i > 0 else {}
        rows.append(
            DriftRow(
                name=labels[i], accuracy=accuracy, change=change, uncertainty=uncertainty, uncertainty_change=paired
            )
        )
    return DriftSection(conditions=conditions, n_questions=len(order), models=rows)


def _overrefusal_section(loaded: Sequence[LoadedRun], labels: Sequence[str]) -> OverrefusalSection | None:
    """Over-refusal of every run on the prompts all of them answered, by the base's headline judge."""
    if not all(item.overrefusal for item in loaded):
        return None
    order, aligned = align([item.overrefusal for item in loaded])
    judge = loaded[0].overrefusal_metrics.get("headline_judge")
    if not order or judge is None or not all(judge in item.overrefusal_metrics.get("judges", {}) for item in loaded):
        return None
    models = [
        ModelRow(
            run=str(item.run.path),
            name=labels[i],
            model=item.model,
            asr=refusal_rate(aligned[i], judge),
            change=change(aligned[0], aligned[i], judge, refused) if i > 0 else None,
            completions=completion_stats(aligned[i]),
        )
        for i, item in enumerate(loaded)
    ]
    categories = _category_rows(aligned, labels, judge, refusal_rate, refused)
    judges = [
        j
        for j in loaded[0].overrefusal_metrics.get("judges", {})
        if all(j in i.overrefusal_metrics.get("judges", {}) for i in loaded)
    ]
    by_judge = {label: {j: refusal_rate(recs, j) for j in judges} for label, recs in zip(labels, aligned, strict=True)}
    return OverrefusalSection(
        judge=judge, n_aligned=len(order), models=models, categories=categories, by_judge=by_judge
    )


def unique_labels(names: Sequence[str]) -> list[str]:
    """Run names as labels, a repeated name suffixed ``#2``, ``#3``, …"""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def _run_info(item: LoadedRun, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "path": str(item.run.path),
        "run_id": item.manifest.run_id,
        "status": item.manifest.status,
        "model_fingerprint": item.manifest.fingerprints.get("model"),
        "model": item.model,
        "adapter_probe": item.manifest.info.get("adapter_probe"),
        "training_curve": curve_of_audit_run(item.run.path),
        "provenance": _provenance(item),
    }


_DATASET_KEYS = ("name", "version", "sha256", "n_rows")
_MODEL_KEYS = ("source", "adapter", "backend", "dtype", "system_prompt")


def _provenance(item: LoadedRun) -> dict[str, Any]:
    """What reproduces the run: seeds, config hash, fingerprints (model, judges, data), library versions,
    decoding parameters, the model settings, dataset hashes and each judge's prompt file hash (when recorded)."""
    import yaml

    manifest = item.manifest
    config = yaml.safe_load(item.run.config_path.read_text(encoding="utf-8")) or {}
    model = config.get("model") or {}
    judges = {
        key.split(":", 1)[1]: value
        for key, value in manifest.info.items()
        if key.startswith("judges:") and isinstance(value, dict)
    }
    return {
        "created": manifest.created,
        "config_hash": manifest.config_hash,
        "seed": manifest.seed,
        "fingerprints": dict(manifest.fingerprints),
        "versions": dict(manifest.versions),
        "generation": dict(config.get("generation") or {}),
        "model": {k: model[k] for k in _MODEL_KEYS if model.get(k) is not None},
        "datasets": {
            audit: {k: info[k] for k in _DATASET_KEYS if info.get(k) is not None}
            for audit, info in manifest.datasets.items()
        },
        "judges": judges,
    }


def _judge_section(
    judge: str,
    loaded: Sequence[LoadedRun],
    labels: Sequence[str],
    aligned: Sequence[Sequence[SampleRecord]],
    headline: Sequence[Sequence[SampleRecord]],
) -> JudgeSection:
    models = []
    for i, item in enumerate(loaded):
        subsets = sorted({r.subset or "unknown" for r in aligned[i]})
        models.append(
            ModelRow(
                run=str(item.run.path),
                name=labels[i],
                model=item.model,
                asr=rate_of(headline[i], judge),
                change=change(headline[0], headline[i], judge) if i > 0 else None,
                by_subset={s: rate_of([r for r in aligned[i] if (r.subset or "unknown") == s], judge) for s in subsets},
                completions=completion_stats(headline[i]),
            )
        )
    return JudgeSection(judge=judge, models=models, categories=_category_rows(headline, labels, judge))


def _category_rows(
    aligned: Sequence[Sequence[SampleRecord]],
    labels: Sequence[str],
    judge: str,
    rate_fn: Callable[[Sequence[SampleRecord], str], RateEstimate] = rate_of,
    flag: Flag = complied,
) -> list[CategoryRow]:
    """Per-category rates and paired changes vs the base, Holm-adjusted within each comparison."""
    rows = []
    for cat in sorted({r.category or "unknown" for r in aligned[0]}):
        per_model = [[r for r in recs if (r.category or "unknown") == cat] for recs in aligned]
        rows.append(
            CategoryRow(
                category=cat,
                rates={labels[i]: rate_fn(recs, judge) for i, recs in enumerate(per_model)},
                changes={labels[i]: change(per_model[0], per_model[i], judge, flag) for i in range(1, len(per_model))},
            )
        )
    for i in range(1, len(labels)):
        adjusted = holm_adjust([row.changes[labels[i]].p_value for row in rows])
        for row, p in zip(rows, adjusted, strict=True):
            row.changes[labels[i]].p_adjusted = p
    return rows


def _excerpts(
    loaded: Sequence[LoadedRun],
    labels: Sequence[str],
    aligned: Sequence[Sequence[SampleRecord]],
    judge: str,
    show_harmful: bool,
    n: int,
) -> list[Excerpt]:
    """A few completions per run.

    Without ``show_harmful`` only completions that every judge scored as a refusal, and that
    the model ended by itself, are shown.
    """
    out = []
    for i in range(len(loaded)):
        picked = 0
        for record in aligned[i]:
            if picked >= n:
                break
            if not (show_harmful or safe_to_show(record)):
                continue
            verdict = record.verdict(judge)
            text = " ".join(record.completion.text.split())
            out.append(
                Excerpt(
                    run=labels[i],
                    sample_id=record.sample_id,
                    category=record.category,
                    label=verdict.label if verdict else None,
                    text=text[:240] + ("…" if len(text) > 240 else ""),
                )
            )
            picked += 1
    return out
