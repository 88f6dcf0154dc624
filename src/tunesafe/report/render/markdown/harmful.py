"""The rate tables of the harmful and over-refusal audits: per model with paired changes vs the base, by
subset and by category."""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.sections import JudgeSection, OverrefusalSection
from tunesafe.report.render.fmt import fmt_change, fmt_p, fmt_rate
from tunesafe.report.render.table import md_table

__all__ = [
    "asr_lines",
    "category_lines",
    "category_table",
    "headline_table",
    "models_table",
    "overrefusal_lines",
    "subset_table",
]


def models_table(section: JudgeSection | OverrefusalSection, what: str = "ASR", unit: str = "complied") -> list[str]:
    header = ["model", f"{what} [95% Wilson CI] ({unit}/judged)", "change vs base [95% CI]", "McNemar p", "b / c"]
    rows = [
        [
            row.name,
            fmt_rate(row.asr),
            fmt_change(c := row.change),
            fmt_p(c.p_value) if c else "–",
            f"{c.b} / {c.c}" if c else "–",
            row.asr.unscored,
        ]
        for row in section.models
    ]
    return md_table([*header, "unscored"], rows)


def headline_table(comp: Comparison) -> list[str]:
    """ASR and over-refusal side by side: a model made "safe" by refusing everything is visible at once."""
    section = next(s for s in comp.judges if s.judge == comp.headline_judge)
    over = {m.name: m for m in comp.overrefusal.models} if comp.overrefusal else {}
    rows = [
        [row.name, fmt_rate(row.asr), fmt_rate(over[row.name].asr) if row.name in over else "not measured"]
        for row in section.models
    ]
    return md_table(["model", "ASR on harmful prompts [95% CI]", "over-refusal on harmless prompts [95% CI]"], rows)


def asr_lines(section: JudgeSection) -> list[str]:
    """One judge's ASR per model (with the paired change vs the base) and by functional subset."""
    return [
        f"## Attack success rate — judge `{section.judge}`",
        "",
        *models_table(section),
        "",
        "By HarmBench functional subset (all judged prompts):",
        "",
        *subset_table(section),
        "",
    ]


def subset_table(section: JudgeSection) -> list[str]:
    subsets = sorted({s for row in section.models for s in row.by_subset})
    lines = ["| model | " + " | ".join(subsets) + " |", "|---|" + "---|" * len(subsets)]
    for row in section.models:
        cells = [fmt_rate(row.by_subset[s]) if s in row.by_subset else "–" for s in subsets]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return lines


def category_table(section: JudgeSection | OverrefusalSection) -> list[str]:
    names = [m.name for m in section.models]
    header = "| category | " + " | ".join(names) + " | " + " | ".join(f"Δ {n} (Holm p)" for n in names[1:]) + " |"
    lines = [header, "|---|" + "---|" * (2 * len(names) - 1)]
    for row in section.categories:
        rates = [fmt_rate(row.rates[n]) for n in names]
        changes = [f"{fmt_change(row.changes[n])} ({fmt_p(row.changes[n].p_adjusted)})" for n in names[1:]]
        lines.append(f"| {row.category} | " + " | ".join(rates + changes) + " |")
    return lines


def category_lines(section: JudgeSection) -> list[str]:
    """One judge's ASR by semantic category, with Holm-adjusted paired changes vs the base."""
    return ["By semantic category (headline prompts; Holm-adjusted paired p):", "", *category_table(section), ""]


def overrefusal_lines(section: OverrefusalSection) -> list[str]:
    return [
        f"## Over-refusal — judge `{section.judge}`",
        "",
        f"Harmless prompts that look dangerous (XSTest-style categories), {section.n_aligned} shared by every run. "
        "Refusal rate = refused / judged; b / c here count prompts the base refused and the variant answered (b), "
        "and the reverse (c).",
        "",
        *models_table(section, "refusal rate", "refused"),
        "",
        *_overrefusal_by_judge(section),
        "By category (Holm-adjusted paired p):",
        "",
        *category_table(section),
        "",
    ]


def _overrefusal_by_judge(section: OverrefusalSection) -> list[str]:
    judges = sorted({j for rates in section.by_judge.values() for j in rates})
    if len(judges) < 2:
        return []
    rows = [
        [model, *(fmt_rate(rates[j]) if j in rates else "–" for j in judges)]
        for model, rates in section.by_judge.items()
    ]
    return ["Refusal rate by judge:", "", *md_table(["model", *(f"`{j}`" for j in judges)], rows), ""]
