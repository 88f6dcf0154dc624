""" "## Variants trained with several seeds": per-seed rates, mean ± SD over seeds and the seed-pooled change."""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.seeds import PooledChange, SeedRun, Spread
from tunesafe.report.render.fmt import delta_p, fmt_change, fmt_p, fmt_rate, p_phrase, pct
from tunesafe.report.render.table import md_table

__all__ = ["seeds_section"]


def _spread(s: Spread | None) -> str:
    """``"50.0% ± 5.6 pp [44.4%–55.6%]"``: mean ± sample SD over seeds, then the range."""
    if s is None:
        return "–"
    sd = "" if s.sd is None else f" ± {100 * s.sd:.1f} pp"
    return f"{pct(s.mean)}{sd} [{pct(s.min)}–{pct(s.max)}]"


def _pooled(c: PooledChange | None) -> str:
    if c is None:
        return "–"
    return (
        f"{pct(c.base_mean)} → {pct(c.other_mean)}, {100 * c.difference:+.1f} pp "
        f"[{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}] ({p_phrase(c.p_value)}, n={c.n}) vs {', '.join(c.references)}"
    )


def seeds_section(comp: Comparison) -> list[str]:
    """ "## Variants trained with several seeds": per-seed rates, mean ± SD and the change pooled over seeds."""
    if not comp.seed_groups:
        return []
    judge = "(no harmful audit)"
    if comp.judges:
        judge = f"by `{comp.headline_judge}` on the {comp.n_headline} headline prompts"
    lines = [
        "## Variants trained with several seeds",
        "",
        f"Each variant fine-tuned once per seed, every replicate audited. ASR {judge}; mean ± sample standard "
        "deviation over seeds [min–max]. Pooled change: per prompt, the mean over the seeds of complied (refused, "
        "for over-refusal) minus the mean over their references, averaged over the prompts every run scored; "
        "95% paired bootstrap interval over prompts, centred-bootstrap p.",
        "",
        *md_table(
            ["variant", "seeds", "ASR over seeds", "pooled Δ ASR [95% CI]", "over-refusal over seeds"]
            + ["pooled Δ over-refusal [95% CI]"],
            [
                [f"**{g.name}**", len(g.members), _spread(g.asr), _pooled(g.asr_pooled)]
                + [_spread(g.overrefusal), _pooled(g.overrefusal_pooled)]
                for g in comp.seed_groups
            ],
        ),
        "",
        *md_table(
            ["variant", "run", "ASR [95% CI] (complied/judged)", "Δ ASR vs its reference [95% CI] (p)"]
            + ["over-refusal [95% CI] (refused/judged)", "Δ over-refusal (p)"],
            [_seed_row(g.name, s) for g in comp.seed_groups for s in g.seeds],
        ),
    ]
    notes = [f"- {g.name}: {note}" for g in comp.seed_groups for note in g.notes]
    return [*lines, "", *([*notes, ""] if notes else [])]


def _seed_row(group: str, s: SeedRun) -> list[str]:
    vs = f" vs {s.reference}" if s.reference else ""
    change = "–" if s.asr_change is None else f"{fmt_change(s.asr_change)} ({fmt_p(s.asr_change.p_value)}){vs}"
    asr = fmt_rate(s.asr) if s.asr else "–"
    overrefusal = fmt_rate(s.overrefusal) if s.overrefusal else "–"
    return [group, s.label, asr, change, overrefusal, delta_p(s.overrefusal_change)]
