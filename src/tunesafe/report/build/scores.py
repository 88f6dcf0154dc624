"""Graded judge scores in the comparison: mean score per model and its paired change vs the base.

Some harm judges grade a completion beyond complied / refused: Qi et al. (2023, arXiv:2310.03693)
rate it 1–5 and report the mean "harmfulness score"; StrongREJECT (Souly et al. 2024,
arXiv:2402.10260) gives a score in [0, 1]. The harmful audit keeps them in each verdict's
``details`` (keys in :data:`tunesafe.audits.harmful.GRADED_SCORES`). Here, on the headline prompts
every run answered, each model gets its mean score with a percentile bootstrap interval (Efron &
Tibshirani 1993; the same 2,000 resamples, seed 0, as ``metrics.json``), and each other model the
paired change vs the base on the prompts scored in both, with a paired bootstrap interval and a
centred-bootstrap p (:func:`tunesafe.stats.paired_bootstrap_difference`, 10,000 resamples, seed 0).
Unscored verdicts have no graded score and drop out of that model's mean and of its pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from tunesafe.audits.harmful import GRADED_SCORES
from tunesafe.stats import PairedScoreDifference, bootstrap_mean_ci, paired_bootstrap_difference
from tunesafe.types import SampleRecord

__all__ = [
    "GRADED_LABELS",
    "GradedScoreRow",
    "GradedScoreSection",
    "graded_changes",
    "graded_key",
    "graded_sections",
    "graded_value",
]

GRADED_LABELS: dict[str, str] = {
    "rubric_score": "harmfulness score (1–5, Qi et al. 2023)",
    "strongreject_score": "StrongREJECT score (0–1, Souly et al. 2024)",
}
N_BOOTSTRAP = 10_000
SEED = 0


class GradedScoreRow(BaseModel):
    """One model's mean graded score on the headline prompts, and its paired change vs the base."""

    name: str
    mean: float | None  # None: no prompt got this score from this judge
    ci_low: float | None
    ci_high: float | None
    n: int  # prompts with a score
    change: PairedScoreDifference | None = None  # other − base on prompts scored in both; None for the base


class GradedScoreSection(BaseModel):
    """One judge's one graded score (e.g. Qi et al.'s 1–5 rubric) across the compared models."""

    judge: str
    key: str  # the verdict ``details`` key: ``rubric_score`` or ``strongreject_score``
    label: str
    n_aligned: int  # headline prompts shared by every run
    models: list[GradedScoreRow]


def graded_key(judge: str, key: str) -> str:
    """``"judge:key"``, the key of ``EffectRow.graded``."""
    return f"{judge}:{key}"


def graded_value(record: SampleRecord, judge: str, key: str) -> float | None:
    """The judge's graded score ``key`` of this completion; None when missing, unscored or not a finite number."""
    verdict = record.verdict(judge)
    value = None if verdict is None else verdict.details.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _keys(runs: Sequence[Sequence[SampleRecord]], judge: str) -> list[str]:
    """The graded keys this judge gave on some prompt of some run, in ``GRADED_SCORES`` order."""
    return [k for k in GRADED_SCORES if any(graded_value(r, judge, k) is not None for recs in runs for r in recs)]


def _paired(
    base: Sequence[SampleRecord], other: Sequence[SampleRecord], judge: str, key: str
) -> PairedScoreDifference | None:
    """``other − base`` on the prompts both scored (records aligned by position); None under 2 pairs."""
    pairs = [(graded_value(a, judge, key), graded_value(b, judge, key)) for a, b in zip(base, other, strict=True)]
    kept = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(kept) < 2:
        return None
    return paired_bootstrap_difference([a for a, _ in kept], [b for _, b in kept], n_bootstrap=N_BOOTSTRAP, seed=SEED)


def _row(name: str, records: Sequence[SampleRecord], judge: str, key: str) -> GradedScoreRow:
    values = [v for r in records if (v := graded_value(r, judge, key)) is not None]
    if not values:
        return GradedScoreRow(name=name, mean=None, ci_low=None, ci_high=None, n=0)
    low, high = bootstrap_mean_ci(values)
    return GradedScoreRow(name=name, mean=sum(values) / len(values), ci_low=low, ci_high=high, n=len(values))


def graded_sections(
    judges: Sequence[str], labels: Sequence[str], headline: Sequence[Sequence[SampleRecord]]
) -> list[GradedScoreSection]:
    """One section per (judge, graded key) the runs have; ``headline[i]`` is run ``i``'s aligned headline records.

    The first run is the base; every other row carries its paired change vs the base.
    """
    sections = []
    for judge in judges:
        for key in _keys(headline, judge):
            rows = [_row(label, recs, judge, key) for label, recs in zip(labels, headline, strict=True)]
            for row, recs in zip(rows[1:], headline[1:], strict=True):
                row.change = _paired(headline[0], recs, judge, key)
            sections.append(
                GradedScoreSection(
                    judge=judge,
                    key=key,
                    label=GRADED_LABELS.get(key, key),
                    n_aligned=len(headline[0]) if headline else 0,
                    models=rows,
                )
            )
    return sections


def graded_changes(
    reference: Sequence[SampleRecord], variant: Sequence[SampleRecord], judges: Sequence[str]
) -> dict[str, PairedScoreDifference]:
    """``"judge:key"`` → paired change ``variant − reference`` of every graded score both runs have."""
    out = {}
    for judge in judges:
        for key in _keys([reference, variant], judge):
            change = _paired(reference, variant, judge, key)
            if change is not None:
                out[graded_key(judge, key)] = change
    return out
