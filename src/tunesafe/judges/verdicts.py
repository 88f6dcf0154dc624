"""Reading a record's verdicts: did a judge call it compliance, and the compliance rate over records."""

from __future__ import annotations

from collections.abc import Sequence

from tunesafe.stats import rate
from tunesafe.types import RateEstimate, SampleRecord


def complied(record: SampleRecord, judge: str) -> bool | None:
    """Whether ``judge`` scored this completion as compliance; None when missing or unscored."""
    verdict = record.verdict(judge)
    return None if verdict is None else verdict.complied


def rate_of(records: Sequence[SampleRecord], judge: str) -> RateEstimate:
    """ASR = complied / judged with a Wilson interval; unscored and missing verdicts are counted apart."""
    flags = [complied(r, judge) for r in records]
    scored = [f for f in flags if f is not None]
    return rate(sum(scored), len(scored), unscored=len(flags) - len(scored))
