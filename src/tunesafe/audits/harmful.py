"""Harmful-prompt audit: attack success rate (ASR) on a harmful-prompt benchmark.

Datasets are named in ``tunesafe datasets`` (HarmBench, StrongREJECT, Do-Not-Answer) or given as a
user file. Default: HarmBench (Mazeika et al. 2024, arXiv 2402.04249). Contextual behaviours put their
context in the user turn, as HarmBench does (``context + "\\n\\n---\\n\\n" + behaviour``);
``context_role="system"`` reproduces Kumar 2024 (arXiv 2409.19476), which used the system role.
Copyright behaviours are reported separately and excluded from the headline ASR by default.

Metric: ASR = complied / judged, from counts, with a Wilson 95% interval, overall, per
functional subset and per semantic category. Unscored verdicts are counted, never refusals.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunesafe.audits.base import Audit, SampleSet
from tunesafe.config import HarmfulAuditSpec
from tunesafe.data.harmbench import Behavior, behavior_to_sample
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.hygiene import LABEL_DEGENERATE, screen
from tunesafe.judges.verdicts import rate_of
from tunesafe.stats import bootstrap_mean_ci
from tunesafe.types import Sample, SampleRecord

if TYPE_CHECKING:
    from tunesafe.config import CalibrationSpec, JudgeSpec

NAME = "harmful"
VERSION = "1"


def stratified_subsample(samples: Sequence[Sample], limit: int, seed: int) -> list[Sample]:
    """Pick ``limit`` samples, allocated to categories in proportion (largest remainder), seeded.

    The original order is kept, so a larger limit with the same seed is not a superset in
    general, but the same (limit, seed) always gives the same prompts.
    """
    if limit >= len(samples):
        return list(samples)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        groups[sample.category or ""].append(index)
    quotas = {cat: limit * len(idx) / len(samples) for cat, idx in groups.items()}
    counts = {cat: int(q) for cat, q in quotas.items()}
    by_remainder = sorted(groups, key=lambda cat: (-(quotas[cat] - counts[cat]), cat))
    for cat in by_remainder[: limit - sum(counts.values())]:
        counts[cat] += 1
    rng = random.Random(seed)
    chosen: list[int] = []
    for cat in sorted(groups):
        chosen.extend(rng.sample(groups[cat], counts[cat]))
    return [samples[i] for i in sorted(chosen)]


def build_samples(
    spec: HarmfulAuditSpec, seed: int, behaviors: Sequence[Behavior] | None = None
) -> tuple[list[Sample], dict[str, Any]]:
    """The audit's prompts (chosen subsets, optionally a stratified subsample) and the dataset's provenance.

    ``behaviors`` replaces the dataset with HarmBench-shaped rows (tests, embedding).
    """
    if behaviors is not None:
        samples = [behavior_to_sample(b, spec.context_role) for b in behaviors]
        info: dict[str, Any] = {"name": "behaviors passed in code", "n_rows": len(samples)}
    else:
        from tunesafe.data.registry import load_prompt_set

        prompt_set = load_prompt_set(
            spec.dataset, columns=spec.columns, split=spec.split, context_role=spec.context_role
        )
        samples, info = list(prompt_set.samples), prompt_set.info.model_dump(mode="json")
    samples = [s for s in samples if s.subset is None or s.subset in spec.subsets]
    if spec.limit is not None:
        samples = stratified_subsample(samples, spec.limit, seed)
    return samples, info


def judge_input(sample: Sample, completion_text: str) -> JudgeInput:
    """The judge sees the request as the user stated it (context included)."""
    return JudgeInput.from_messages(sample.messages, completion_text)


def completion_stats(records: Sequence[SampleRecord]) -> dict[str, Any]:
    """How the model answered, judge-free: lengths, how often it stopped itself, repetition.

    A variant that "complies" by saying one short phrase and stopping, or by repeating itself,
    shows up here rather than hiding inside the ASR. ``degenerate``: left unscored (repetition with
    no substance before it); ``trimmed``: looped after real content, judged up to the loop.
    """
    n = len(records)
    tokens = [r.completion.n_tokens for r in records if r.completion.n_tokens is not None]
    screened = [screen(r.completion.text) for r in records]
    return {
        "n": n,
        "mean_tokens": round(sum(tokens) / len(tokens), 2) if tokens else None,
        "stopped": sum(r.completion.finish_reason == "stop" for r in records),
        "empty": sum(not r.completion.text.strip() for r in records),
        "degenerate": sum(s.label == LABEL_DEGENERATE for s in screened),
        "trimmed": sum(s.trimmed for s in screened),
    }


def verdict_label(record: SampleRecord, judge: str) -> str:
    """The judge's label for this record: ``missing`` when it did not judge it, ``none`` when it gave no label."""
    verdict = record.verdict(judge)
    if verdict is None:
        return "missing"
    return verdict.label or "none"


GRADED_SCORES = ("rubric_score", "strongreject_score")


def graded_scores(records: Sequence[SampleRecord], judge: str) -> dict[str, Any]:
    """Means of graded judge scores with bootstrap intervals: Qi et al.'s harmfulness score (1–5) and
    the StrongREJECT score (0–1), for judges that give them."""
    out: dict[str, Any] = {}
    for key in GRADED_SCORES:
        values = [float(v.details[key]) for r in records if (v := r.verdict(judge)) and key in v.details]
        if values:
            low, high = bootstrap_mean_ci(values)
            out[key] = {"mean": round(sum(values) / len(values), 4), "ci_low": low, "ci_high": high, "n": len(values)}
    return out


def aggregate(
    records: Sequence[SampleRecord], judges: Sequence[str], headline_excludes: Sequence[str]
) -> dict[str, Any]:
    """ASR per judge: headline (without excluded subsets), all, per subset and per category."""
    headline = [r for r in records if r.subset not in headline_excludes]
    out: dict[str, Any] = {
        "n_samples": len(records),
        "n_headline": len(headline),
        "headline_excludes": list(headline_excludes),
        "headline_judge": judges[0] if judges else None,
        "completions": completion_stats(records),
        "judges": {},
    }
    by_subset = defaultdict(list)
    by_category = defaultdict(list)
    for record in records:
        by_subset[record.subset or "unknown"].append(record)
        if record.subset not in headline_excludes:
            by_category[record.category or "unknown"].append(record)
    for judge in judges:
        labels = Counter(verdict_label(r, judge) for r in records)
        out["judges"][judge] = {
            "asr": rate_of(headline, judge).model_dump(),
            "asr_all": rate_of(records, judge).model_dump(),
            "by_subset": {k: rate_of(v, judge).model_dump() for k, v in sorted(by_subset.items())},
            "by_category": {k: rate_of(v, judge).model_dump() for k, v in sorted(by_category.items())},
            "labels": dict(sorted(labels.items())),
            "graded": graded_scores(headline, judge),
        }
    return out


def judge_names(records: Sequence[SampleRecord], configured: Sequence[str]) -> list[str]:
    """The configured judges first, then any other judge found in the records (added by rejudging)."""
    names = list(configured)
    for record in records:
        names += [v.judge for v in record.verdicts if v.judge not in names]
    return names


class HarmfulAudit(Audit[HarmfulAuditSpec]):
    """ASR on harmful prompts, judged by a panel; the panel's agreement and calibrated error rates too.

    ``behaviors``: HarmBench-shaped rows instead of the configured dataset (tests, embedding).
    """

    name = NAME
    judged = True
    hides_completions = True

    def __init__(self, behaviors: Sequence[Behavior] | None = None) -> None:
        self.behaviors = behaviors

    def build(self, spec: HarmfulAuditSpec, seed: int) -> SampleSet:
        samples, info = build_samples(spec, seed, self.behaviors)
        return SampleSet(samples, info)

    def judges(self, spec: HarmfulAuditSpec) -> Sequence[JudgeSpec]:
        return spec.judges

    def calibration(self, spec: HarmfulAuditSpec) -> CalibrationSpec | None:
        return spec.calibration

    def aggregate(
        self,
        spec: HarmfulAuditSpec,
        records: Sequence[SampleRecord],
        *,
        seed: int = 0,
        calibration: Sequence[SampleRecord] | None = None,
    ) -> dict[str, Any]:
        from tunesafe.judges.agreement import panel_summary

        judges = judge_names(records, [j.display_name for j in spec.judges])
        metrics = aggregate(records, judges, spec.headline_excludes)
        headline = [r for r in records if r.subset not in spec.headline_excludes]
        n_bootstrap = spec.calibration.n_bootstrap if spec.calibration else 2000
        summary = panel_summary(headline, judges, calibration, n_bootstrap=n_bootstrap, seed=seed)
        metrics["panel"] = summary.model_dump(mode="json")
        return metrics


AUDIT = HarmfulAudit()
