"""Paired change of the drift audit's uncertainty scores (entropy, probability, …) against a reference model.

The drift section reports each model's mean uncertainty per condition (Kumar 2024). A fine-tune's
change is better read paired: the same questions, under the same condition, answered by the
reference and by the fine-tune; the mean per-question difference gets a paired bootstrap interval
and a centred-bootstrap p-value (Efron & Tibshirani 1993; :func:`tunesafe.stats.paired_bootstrap_difference`).
Scores are the per-question means over runs (``QuestionResult.metrics``); a question missing a score
in either model is left out of that metric's pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from tunesafe.audits.drift import METRICS, QuestionResult, asked_under_every_condition, question_results
from tunesafe.stats import PairedScoreDifference, paired_bootstrap_difference

__all__ = ["drift_results", "uncertainty_changes"]

DriftResults = Mapping[str, Mapping[str, QuestionResult]]  # condition -> question id -> result


def drift_results(run: Path) -> dict[str, dict[str, QuestionResult]]:
    """A run directory's drift answers as condition → question id → result (questions asked under every condition)."""
    from tunesafe.results import RunDir

    return asked_under_every_condition(question_results(RunDir(run).records("drift")))


def uncertainty_changes(
    base: DriftResults,
    other: DriftResults,
    *,
    metrics: Sequence[str] = METRICS,
    n_bootstrap: int = 10_000,
    seed: int = 0,
) -> dict[str, dict[str, PairedScoreDifference]]:
    """condition → metric → paired change ``other − base`` on the questions both answered under it.

    Conditions only one side has are skipped, and so is a metric with fewer than 2 paired questions.
    """
    out: dict[str, dict[str, PairedScoreDifference]] = {}
    for condition, rows in base.items():
        if condition not in other:
            continue
        shared = [q for q in rows if q in other[condition]]
        for metric in metrics:
            pairs = [(rows[q].metrics.get(metric), other[condition][q].metrics.get(metric)) for q in shared]
            kept = [(a, b) for a, b in pairs if _present(a) and _present(b)]
            if len(kept) < 2:
                continue
            out.setdefault(condition, {})[metric] = paired_bootstrap_difference(
                [float(a) for a, _ in kept if a is not None],
                [float(b) for _, b in kept if b is not None],
                n_bootstrap=n_bootstrap,
                seed=seed,
            )
    return out


def _present(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
