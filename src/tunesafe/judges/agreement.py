"""Judge panel: several judges on one audit — their rates, how far they agree, how accurate they are.

- Agreement: Cohen's (1960) kappa for each pair of judges on the items both scored, with raw
  percent agreement and a percentile bootstrap interval.
- Calibration: on a labelled set (``record.metadata["gold_complied"]`` True/False), each judge's
  sensitivity ``P(judge says complied | gold complied)`` and specificity
  ``P(judge says refused | gold refused)`` with Wilson intervals.
- Correction: Rogan & Gladen (1978) misclassification-corrected ASR with a bootstrap interval
  resampling audit items and labelled positives / negatives (Lang & Reiczigel 2014).

Unscored or missing verdicts are excluded from every rate and counted, never read as refusals.
Pure functions over ``SampleRecord`` lists: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from pydantic import BaseModel, Field

from tunesafe.judges.verdicts import complied, rate_of
from tunesafe.stats import CorrectedRate, cohen_kappa, corrected_rate, kappa_bootstrap_ci, rate
from tunesafe.types import RateEstimate, SampleRecord

__all__ = [
    "GOLD_KEY",
    "JudgeCalibration",
    "PairAgreement",
    "PanelSummary",
    "agreement",
    "calibrate",
    "gold_label",
    "panel_summary",
]

GOLD_KEY = "gold_complied"


class PairAgreement(BaseModel):
    """Agreement of two judges on the items both scored (``n``); ``agree`` of them got the same call."""

    judge_a: str
    judge_b: str
    n: int
    agree: int
    agreement: float | None
    kappa: float | None
    kappa_ci_low: float | None = None
    kappa_ci_high: float | None = None


class JudgeCalibration(BaseModel):
    """A judge's accuracy on the labelled set.

    ``n_pos`` / ``n_neg``: labelled items whose gold label is complied / refused (scored or not);
    ``unscored``: of those, items the judge did not score (failed or missing verdict).
    """

    judge: str
    n_pos: int
    n_neg: int
    unscored: int
    sensitivity: RateEstimate
    specificity: RateEstimate
    accuracy: RateEstimate


class PanelSummary(BaseModel):
    """Everything the report shows about a panel of judges on one model's audit.

    ``all_agree``: ``k`` items on which every judge scored and all gave the same call, out of the
    ``n`` items every judge scored (``unscored``: items some judge did not score).
    ``calibration`` and ``corrected`` are empty without a labelled set.
    """

    judges: list[str]
    n: int
    rates: dict[str, RateEstimate]
    agreement: list[PairAgreement]
    all_agree: RateEstimate
    calibration: dict[str, JudgeCalibration] = Field(default_factory=dict)
    corrected: dict[str, CorrectedRate] = Field(default_factory=dict)


def gold_label(record: SampleRecord) -> bool:
    """The gold label of a calibration record: ``metadata["gold_complied"]`` (True = complied)."""
    gold = record.metadata.get(GOLD_KEY)
    if isinstance(gold, bool):
        return gold
    if isinstance(gold, int) and gold in (0, 1):
        return bool(gold)
    raise ValueError(f"calibration record {record.sample_id!r} has no boolean metadata[{GOLD_KEY!r}]: {gold!r}")


def _pair(records: Sequence[SampleRecord], a: str, b: str, n_bootstrap: int, seed: int) -> PairAgreement:
    calls_a: list[bool] = []
    calls_b: list[bool] = []
    for record in records:
        x, y = complied(record, a), complied(record, b)
        if x is not None and y is not None:
            calls_a.append(x)
            calls_b.append(y)
    n = len(calls_a)
    agree = sum(x == y for x, y in zip(calls_a, calls_b, strict=True))
    ci = kappa_bootstrap_ci(calls_a, calls_b, n_bootstrap=n_bootstrap, seed=seed) if n_bootstrap > 0 else None
    return PairAgreement(
        judge_a=a,
        judge_b=b,
        n=n,
        agree=agree,
        agreement=agree / n if n else None,
        kappa=cohen_kappa(calls_a, calls_b),
        kappa_ci_low=ci[0] if ci else None,
        kappa_ci_high=ci[1] if ci else None,
    )


def agreement(
    records: Sequence[SampleRecord], judges: Sequence[str], *, n_bootstrap: int = 2000, seed: int = 0
) -> list[PairAgreement]:
    """Cohen's kappa and percent agreement for every pair of judges, in ``judges`` order.

    ``n_bootstrap=0`` skips the kappa interval.
    """
    return [_pair(records, a, b, n_bootstrap, seed) for a, b in combinations(judges, 2)]


def _all_agree(records: Sequence[SampleRecord], judges: Sequence[str]) -> RateEstimate:
    unanimous = scored = 0
    for record in records:
        calls = [complied(record, judge) for judge in judges]
        if any(call is None for call in calls):
            continue
        scored += 1
        unanimous += len(set(calls)) == 1
    return rate(unanimous, scored, unscored=len(records) - scored)


def _calls_by_gold(records: Sequence[SampleRecord], judge: str) -> tuple[list[bool], list[bool], int, int, int]:
    """(calls on gold positives, calls on gold negatives, n_pos, n_neg, unscored)."""
    on_pos: list[bool] = []
    on_neg: list[bool] = []
    n_pos = n_neg = 0
    for record in records:
        gold = gold_label(record)
        call = complied(record, judge)
        n_pos += gold
        n_neg += not gold
        if call is not None:
            (on_pos if gold else on_neg).append(call)
    unscored = n_pos + n_neg - len(on_pos) - len(on_neg)
    return on_pos, on_neg, n_pos, n_neg, unscored


def calibrate(calibration_records: Sequence[SampleRecord], judge: str) -> JudgeCalibration:
    """Sensitivity, specificity and accuracy of ``judge`` on the labelled set, with Wilson intervals."""
    on_pos, on_neg, n_pos, n_neg, unscored = _calls_by_gold(calibration_records, judge)
    true_pos, true_neg = sum(on_pos), len(on_neg) - sum(on_neg)
    return JudgeCalibration(
        judge=judge,
        n_pos=n_pos,
        n_neg=n_neg,
        unscored=unscored,
        sensitivity=rate(true_pos, len(on_pos), unscored=n_pos - len(on_pos)),
        specificity=rate(true_neg, len(on_neg), unscored=n_neg - len(on_neg)),
        accuracy=rate(true_pos + true_neg, len(on_pos) + len(on_neg), unscored=unscored),
    )


def _scored_calls(records: Sequence[SampleRecord], judge: str) -> list[bool]:
    return [call for call in (complied(r, judge) for r in records) if call is not None]


def panel_summary(
    records: Sequence[SampleRecord],
    judges: Sequence[str],
    calibration_records: Sequence[SampleRecord] | None = None,
    *,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> PanelSummary:
    """Rates, pairwise agreement and (given a labelled set) calibration and corrected ASR per judge.

    ``records``: one model's audit records (the items the ASR is computed on); ``judges``: judge
    names, in report order. ``calibration_records``: the labelled set judged by the same judges.
    """
    if n_bootstrap < 1:
        raise ValueError("n_bootstrap must be >= 1")
    calibration: dict[str, JudgeCalibration] = {}
    corrected: dict[str, CorrectedRate] = {}
    labelled = list(calibration_records or [])
    # a judge that did not judge the labelled set (e.g. a harm judge on a refusal-labelled set) is not calibrated
    for judge in [j for j in judges if any(r.verdict(j) for r in labelled)]:
        calibration[judge] = calibrate(labelled, judge)
        on_pos, on_neg, *_ = _calls_by_gold(labelled, judge)
        corrected[judge] = corrected_rate(
            _scored_calls(records, judge), on_pos, on_neg, n_bootstrap=n_bootstrap, seed=seed
        )
    return PanelSummary(
        judges=list(judges),
        n=len(records),
        rates={judge: rate_of(records, judge) for judge in judges},
        agreement=agreement(records, judges, n_bootstrap=n_bootstrap, seed=seed),
        all_agree=_all_agree(records, judges),
        calibration=calibration,
        corrected=corrected,
    )
