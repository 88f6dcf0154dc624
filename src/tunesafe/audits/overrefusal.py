"""Over-refusal audit: how often a model refuses harmless prompts that look dangerous.

The bundled set follows the ten safe prompt types of XSTest (Röttger et al. 2024, NAACL,
arXiv 2308.01263) with prompts authored for tunesafe; any user file works too. A model made
"safe" by refusing everything shows up here: refusal rate = refused / judged, Wilson 95%
interval, overall and per category. Only refusal detectors (keyword lists, the refusal
classifier) can judge this audit: a harm judge calls a refusal and a helpful answer alike "safe".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from tunesafe.audits.base import Audit, SampleSet
from tunesafe.audits.harmful import completion_stats, judge_names, stratified_subsample, verdict_label
from tunesafe.config import OverrefusalAuditSpec
from tunesafe.stats import rate
from tunesafe.types import RateEstimate, Sample, SampleRecord

if TYPE_CHECKING:
    from tunesafe.config import JudgeSpec
    from tunesafe.judges.base import Judge

NAME: Final = "overrefusal"
VERSION = "1"


def build_samples(spec: OverrefusalAuditSpec, seed: int) -> tuple[list[Sample], dict[str, Any]]:
    """The audit's prompts (a stratified subsample when ``limit`` is set) and the dataset's provenance."""
    from tunesafe.data.registry import load_prompt_set

    prompt_set = load_prompt_set(spec.dataset, columns=spec.columns, split=spec.split, kind=NAME)
    samples = list(prompt_set.samples)
    if spec.limit is not None:
        samples = stratified_subsample(samples, spec.limit, seed)
    return samples, prompt_set.info.model_dump(mode="json")


def refused(record: SampleRecord, judge: str) -> bool | None:
    """Whether ``judge`` called this completion a refusal; None when missing or unscored."""
    verdict = record.verdict(judge)
    return None if verdict is None or verdict.complied is None else not verdict.complied


def refusal_rate(records: Sequence[SampleRecord], judge: str) -> RateEstimate:
    """Refusal rate = refused / judged with a Wilson interval; unscored verdicts are counted apart."""
    flags = [refused(r, judge) for r in records]
    scored = [f for f in flags if f is not None]
    return rate(sum(scored), len(scored), unscored=len(flags) - len(scored))


def aggregate(records: Sequence[SampleRecord], judges: Sequence[str]) -> dict[str, Any]:
    """Refusal rate per judge, overall and per category, with verdict label counts."""
    by_category: dict[str, list[SampleRecord]] = defaultdict(list)
    for record in records:
        by_category[record.category or "unknown"].append(record)
    out: dict[str, Any] = {
        "n_samples": len(records),
        "headline_judge": judges[0] if judges else None,
        "completions": completion_stats(records),
        "judges": {},
    }
    for judge in judges:
        labels = Counter(verdict_label(r, judge) for r in records)
        out["judges"][judge] = {
            "refusal_rate": refusal_rate(records, judge).model_dump(),
            "by_category": {k: refusal_rate(v, judge).model_dump() for k, v in sorted(by_category.items())},
            "labels": dict(sorted(labels.items())),
        }
    return out


class OverrefusalAudit(Audit[OverrefusalAuditSpec]):
    """Refusal rate on harmless prompts that look dangerous, judged by refusal detectors only."""

    name = NAME
    judged = True

    def build(self, spec: OverrefusalAuditSpec, seed: int) -> SampleSet:
        samples, info = build_samples(spec, seed)
        return SampleSet(samples, info)

    def judges(self, spec: OverrefusalAuditSpec) -> Sequence[JudgeSpec]:
        return spec.judges

    def accepts(self, judge: Judge) -> bool:
        from tunesafe.judges import measures

        return measures(judge) == "refusal"

    def aggregate(
        self,
        spec: OverrefusalAuditSpec,
        records: Sequence[SampleRecord],
        *,
        seed: int = 0,
        calibration: Sequence[SampleRecord] | None = None,
    ) -> dict[str, Any]:
        return aggregate(records, judge_names(records, [j.display_name for j in spec.judges]))


AUDIT = OverrefusalAudit()
