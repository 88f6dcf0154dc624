"""The report's plain-language sentences: each run's headline change vs the base, each mitigation's effect."""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.effects import EffectRow
from tunesafe.report.render.fmt import p_phrase, pct, rate_shift
from tunesafe.stats import PairedDifference

__all__ = ["effect_lines", "summary_lines", "vs_base_lines"]


def summary_lines(comp: Comparison) -> list[str]:
    """Plain-language sentences on the headline judge's changes vs the base, then on each mitigation."""
    return vs_base_lines(comp) + effect_lines(comp)


def vs_base_lines(comp: Comparison) -> list[str]:
    """Each run's headline ASR change vs the base (the report's Summary)."""
    section = next((s for s in comp.judges if s.judge == comp.headline_judge), None)
    if section is None:
        return []
    base = section.models[0]
    lines = []
    for row in section.models[1:]:
        c = row.change
        if c is None or c.difference is None:
            continue
        significant = "significant" if c.p_value < 0.05 else "not significant"
        if c.difference != 0:
            verb = "raised" if c.difference > 0 else "lowered"
            change = f"{verb} the attack success rate from {pct(base.asr.value)} to {pct(row.asr.value)}"
        else:
            change = f"left the attack success rate unchanged at {pct(row.asr.value)}"
        lines.append(
            f"- **{row.name}** {change} ({100 * c.difference:+.1f} points, 95% CI "
            f"{100 * (c.ci_low or 0):+.1f} to {100 * (c.ci_high or 0):+.1f}; exact McNemar {p_phrase(c.p_value)}, "
            f"{significant} at 0.05; {c.n} paired prompts)." + _overrefusal_clause(comp, row.name)
        )
    return lines


def _pp(c: PairedDifference) -> str:
    return f"{100 * (c.difference or 0):+.1f} points"


def _clause(
    what: str, c: PairedDifference | None, p: float | None = None, ci: bool = False, tail: str = ""
) -> str | None:
    """``"lowered X from A to B (Δ, p)"``, ``"left X unchanged at A (…)"`` or ``"made no significant change in X
    (A → B, Δ, p)"``. Significance is judged at 0.05 on ``p`` (default: the change's own exact McNemar p).
    """
    if c is None or c.difference is None:
        return None
    p = c.p_value if p is None else p
    interval = f", 95% CI {100 * (c.ci_low or 0):+.1f} to {100 * (c.ci_high or 0):+.1f}" if ci else ""
    numbers = f"{_pp(c)}{interval}, {p_phrase(c.p_value)}{tail}"
    if c.difference != 0 and p < 0.05:
        verb = "raised" if c.difference > 0 else "lowered"
        return f"{verb} {what} from {pct(c.base_rate)} to {pct(c.other_rate)} ({numbers})"
    if c.difference == 0:
        return f"left {what} unchanged at {pct(c.other_rate)} ({numbers})"
    return f"made no significant change in {what} ({rate_shift(c)}, {numbers})"


def effect_lines(comp: Comparison) -> list[str]:
    """One plain-language sentence per mitigation: what it changed against the variant it mitigates.

    ASR significance uses the Holm-adjusted p (all effect rows form one family); over-refusal,
    drift and truthfulness use their unadjusted exact McNemar p.
    """
    return [_effect_sentence(row) for row in comp.effects if row.kind == "mitigation"]


def _effect_sentence(row: EffectRow) -> str:
    c = row.asr
    tail = "" if c is None else f"{_holm(c.p_adjusted)}; {c.n} paired prompts"
    clauses = [
        _clause("the attack success rate", c, c.p_adjusted if c else None, ci=True, tail=tail),
        _clause("over-refusal on harmless prompts", row.overrefusal),
        *_grouped_clauses(row.drift, "{} accuracy", "knowledge-drift accuracy"),
        *_grouped_clauses(row.truthfulness, "false-claim affirmation ({})", "false-claim affirmation"),
    ]
    said = [text for text in clauses if text]
    note = f" ({row.note})" if row.note else ""
    body = "; ".join(said) if said else "shares no audit with it"
    return f"- **{row.variant}**{note}, against **{row.reference}**: {body}."


def _holm(p: float | None) -> str:
    return "" if p is None else f", Holm-adjusted {p_phrase(p)}"


def _grouped_clauses(changes: dict[str, PairedDifference], what: str, group: str) -> list[str | None]:
    """Significant per-condition changes one by one (``what`` formatted with the condition); the rest in one
    "no significant change in ``group`` (conditions)" clause."""
    measured = {c: ch for c, ch in changes.items() if ch.difference is not None}
    significant = {c: ch for c, ch in measured.items() if ch.difference and ch.p_value < 0.05}
    out: list[str | None] = [_clause(what.format(c), ch) for c, ch in significant.items()]
    rest = [c for c in measured if c not in significant]
    if rest:
        out.append(f"no significant change in {group} ({', '.join(rest)})")
    return out


def _overrefusal_clause(comp: Comparison, name: str) -> str:
    """ " It refused X of harmless look-alike prompts (base Y; ±Z points, p = …)."" or ""."""
    section = comp.overrefusal
    if section is None:
        return ""
    base = section.models[0]
    row = next((m for m in section.models if m.name == name), None)
    if row is None or row.change is None or row.change.difference is None:
        return ""
    c = row.change
    return (
        f" It refused {pct(row.asr.value)} of harmless look-alike prompts (base {pct(base.asr.value)}; "
        f"{100 * (c.difference or 0.0):+.1f} points, {p_phrase(c.p_value)})."
    )
