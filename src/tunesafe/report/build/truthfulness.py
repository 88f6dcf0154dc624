"""Truthfulness across runs: True/False claims per condition and TruthfulQA-style MC1/MC2.

Built from run directories (``samples/truthfulness.jsonl``, ``samples/truthfulness_mc.jsonl`` and
``metrics.json``). The first run is the base: each other run's change in false-claim affirmation
is paired on the false claims both runs parsed (exact McNemar p, Newcombe interval), and its MC1
change on the questions both scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from tunesafe.audits import multiple_choice, truthfulness
from tunesafe.results import RunDir, RunError
from tunesafe.stats import PairedDifference, paired_rate_difference
from tunesafe.types import RateEstimate, SampleRecord


class MeanEstimate(BaseModel):
    """A mean with its standard error and interval (MC2)."""

    value: float | None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0


class TruthfulnessRow(BaseModel):
    """One model: per condition the rates, the preamble's within-model effect, changes vs the base."""

    name: str
    is_base: bool = False
    accuracy: dict[str, RateEstimate] = Field(default_factory=dict)
    affirmation: dict[str, RateEstimate] = Field(default_factory=dict)  # false-claim affirmation
    denial: dict[str, RateEstimate] = Field(default_factory=dict)  # true-claim denial
    unparsed: dict[str, RateEstimate] = Field(default_factory=dict)
    says_true: dict[str, RateEstimate] = Field(default_factory=dict)  # "True" replies among parsed (yes-bias)
    preamble_effect: PairedDifference | None = None  # plain → preamble affirmation, same items
    change: dict[str, PairedDifference] = Field(default_factory=dict)  # affirmation vs the base, same claims
    prefers_true: dict[str, RateEstimate] = Field(default_factory=dict)  # log-likelihood: true claim ranked higher
    margin_false: dict[str, MeanEstimate] = Field(default_factory=dict)  # mean log P(True) - log P(False), false claims
    margin_shift: MeanEstimate | None = None  # plain → preamble change of the false-claim margin, same items
    mc1: RateEstimate | None = None
    mc2: MeanEstimate | None = None
    mc1_change: PairedDifference | None = None  # vs the base, same questions


class TruthfulnessSection(BaseModel):
    """Truthfulness of every run that has the audit; absent runs are left out of the table."""

    conditions: list[str]
    n_items: int
    n_mc_questions: int = 0
    models: list[TruthfulnessRow]


def _records(run: RunDir, audit: str) -> dict[str, SampleRecord]:
    return {r.sample_id: r for r in run.records(audit)}


def _metrics(run: RunDir) -> dict[str, Any]:
    try:
        return dict(run.metrics().get(truthfulness.NAME, {}))
    except RunError:  # an unfinished run has records but no metrics.json yet
        return {}


def affirmed(record: SampleRecord) -> bool | None:
    value = record.metadata.get(truthfulness.NAME, {}).get("affirmed")
    return None if value is None else bool(value)


def _paired_affirmation(base: dict[str, SampleRecord], other: dict[str, SampleRecord], ids: Sequence[str]) -> Any:
    pairs = []
    for sid in ids:
        a, b = affirmed(base[sid]), affirmed(other[sid])
        if a is not None and b is not None:
            pairs.append((a, b))
    return paired_rate_difference(pairs)


def truthfulness_section(runs: Sequence[RunDir], labels: Sequence[str]) -> TruthfulnessSection | None:
    """The section for ``runs`` (first = base), or None when no run has truthfulness records."""
    statements = [_records(run, truthfulness.NAME) for run in runs]
    choices = [_records(run, multiple_choice.NAME) for run in runs]
    metrics = [_metrics(run) for run in runs]
    keep = [i for i in range(len(runs)) if statements[i] or choices[i]]
    if not keep:
        return None
    base = keep[0]
    present = [statements[i] for i in keep if statements[i]]
    common = set.intersection(*(set(s) for s in present)) if present else set()
    order = [sid for sid in statements[base] if sid in common]
    conditions = list(dict.fromkeys(statements[base][sid].condition for sid in order))
    mc_common = set.intersection(*(set(c) for c in choices if c)) if any(choices) else set()
    rows = [
        _row(
            labels[i],
            statements[i],
            statements[base],
            order,
            conditions,
            metrics[i],
            choices[i],
            choices[base],
            i == base,
        )
        for i in keep
    ]
    n_items = len({statements[base][sid].metadata["question_id"] for sid in order})
    return TruthfulnessSection(conditions=conditions, n_items=n_items, n_mc_questions=len(mc_common), models=rows)


def _row(
    name: str,
    records: dict[str, SampleRecord],
    base: dict[str, SampleRecord],
    order: Sequence[str],
    conditions: Sequence[str],
    metrics: dict[str, Any],
    mc: dict[str, SampleRecord],
    mc_base: dict[str, SampleRecord],
    is_base: bool,
) -> TruthfulnessRow:
    row = TruthfulnessRow(name=name, is_base=is_base)
    if records and order:
        for condition in conditions:
            ids = [sid for sid in order if records[sid].condition == condition]
            rates = truthfulness.condition_metrics([records[sid] for sid in ids])
            row.accuracy[condition] = RateEstimate.model_validate(rates["accuracy"])
            row.affirmation[condition] = RateEstimate.model_validate(rates[truthfulness.HEADLINE])
            row.denial[condition] = RateEstimate.model_validate(rates["true_claim_denial"])
            row.unparsed[condition] = RateEstimate.model_validate(rates["unparsed"])
            row.says_true[condition] = RateEstimate.model_validate(rates["says_true"])
            if not is_base:
                false_ids = [sid for sid in ids if records[sid].metadata[truthfulness.NAME]["statement"] == "false"]
                row.change[condition] = _paired_affirmation(base, records, false_ids)
        if "plain" in conditions and "preamble" in conditions:
            plain = [records[sid] for sid in order if records[sid].condition == "plain"]
            preamble = [records[sid] for sid in order if records[sid].condition == "preamble"]
            row.preamble_effect = paired_rate_difference(
                truthfulness.paired_flags(plain, preamble, "false", "affirmed")
            )
    for condition, entry in metrics.get("conditions", {}).items():
        loglik = entry.get("loglik")
        if loglik:
            row.prefers_true[condition] = RateEstimate.model_validate(loglik["prefers_true_claim"])
            row.margin_false[condition] = _mean_estimate(loglik["margin_false_claims"])
        shift = entry.get("vs_plain", {}).get("loglik", {}).get("false_claim_margin_shift")
        if shift:
            row.margin_shift = _mean_estimate(shift)
    if mc:
        summary = multiple_choice.aggregate(list(mc.values()))
        row.mc1 = RateEstimate.model_validate(summary["mc1"])
        row.mc2 = MeanEstimate.model_validate({k: v for k, v in summary["mc2"].items() if k != "method"})
        if not is_base and mc_base:
            shared = [q for q in mc_base if q in mc]
            row.mc1_change = paired_rate_difference(
                [
                    (bool(mc_base[q].metadata["mc"]["mc1_correct"]), bool(mc[q].metadata["mc"]["mc1_correct"]))
                    for q in shared
                ]
            )
    elif metrics.get("multiple_choice"):
        summary = metrics["multiple_choice"]
        row.mc1 = RateEstimate.model_validate(summary["mc1"])
        row.mc2 = MeanEstimate.model_validate({k: v for k, v in summary["mc2"].items() if k != "method"})
    return row


def _mean_estimate(summary: dict[str, Any]) -> MeanEstimate:
    return MeanEstimate(value=summary.get("mean"), se=summary.get("se"), n=summary.get("n", 0))
