"""Number formats shared by the report sections: percentages, rates with intervals, p-values, changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunesafe.types import RateEstimate

if TYPE_CHECKING:
    from tunesafe.stats import PairedDifference


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def fmt_rate(r: RateEstimate) -> str:
    if r.value is None:
        return "– (0 judged)"
    return f"{pct(r.value)} [{pct(r.ci_low)}, {pct(r.ci_high)}] ({r.k}/{r.n})"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def p_phrase(p: float) -> str:
    """``p < 0.0001`` or ``p = 0.0078``."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_change(c: PairedDifference | None) -> str:
    if c is None or c.difference is None:
        return "(base)" if c is None else "–"
    return f"{100 * c.difference:+.1f} pp [{100 * (c.ci_low or 0):+.1f}, {100 * (c.ci_high or 0):+.1f}]"


def delta_p(c: PairedDifference | None) -> str:
    """``"+4.0 pp (0.375)"``: a paired change in points with its p-value."""
    if c is None or c.difference is None:
        return "–"
    return f"{100 * c.difference:+.1f} pp ({fmt_p(c.p_value)})"


def rate_shift(c: PairedDifference) -> str:
    """``"96.2% → 60.0%"``: the paired rates of the reference and the variant."""
    return f"{pct(c.base_rate)} → {pct(c.other_rate)}"
