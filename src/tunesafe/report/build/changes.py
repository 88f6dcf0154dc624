"""The paired change of a rate between two runs, and how report.json spells it.

A change is a :class:`tunesafe.stats.PairedDifference` (exact McNemar p, Newcombe 1998 interval).
Report sections store it as :data:`Change`: the same object, written to report.json under the
report's field names (``n_pairs``, ``base``, ``other``, …, ``p_adjusted``) and read back from them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from tunesafe.judges.verdicts import complied
from tunesafe.stats import PairedDifference, paired_rate_difference
from tunesafe.types import SampleRecord

__all__ = ["Change", "Flag", "change", "paired_change"]

Flag = Callable[[SampleRecord, str], "bool | None"]

# report.json name -> PairedDifference field, in report.json's order
_REPORT_FIELDS = {
    "n_pairs": "n",
    "base": "base_rate",
    "other": "other_rate",
    "difference": "difference",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "b": "b",
    "c": "c",
    "p_value": "p_value",
    "p_adjusted": "p_adjusted",
}


def _to_report(d: PairedDifference) -> dict[str, Any]:
    return {name: getattr(d, field) for name, field in _REPORT_FIELDS.items()}


def _from_report(value: Any) -> Any:
    """A report.json change (``n_pairs``, ``base``, …) as PairedDifference fields; anything else unchanged."""
    if isinstance(value, dict) and "n_pairs" in value:
        return {_REPORT_FIELDS.get(key, key): item for key, item in value.items()}
    return value


Change = Annotated[PairedDifference, BeforeValidator(_from_report), PlainSerializer(_to_report)]
"""A paired change vs a reference run, as report sections store it (a PairedDifference in report.json's names)."""


def change(
    base: Sequence[SampleRecord], other: Sequence[SampleRecord], judge: str, flag: Flag = complied
) -> PairedDifference:
    """Paired change of ``flag`` (default: complied) by ``judge`` on records aligned by position; a record
    pair enters only when both flags are known."""
    pairs = []
    for a, b in zip(base, other, strict=True):
        fa, fb = flag(a, judge), flag(b, judge)
        if fa is not None and fb is not None:
            pairs.append((fa, fb))
    return paired_rate_difference(pairs)


def paired_change(pairs: Sequence[tuple[bool, bool]]) -> PairedDifference:
    """Paired change of (base, other) flags: exact McNemar p and Newcombe interval."""
    return paired_rate_difference(pairs)
