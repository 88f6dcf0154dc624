""" "## What each fine-tune and mitigation did": the paired-effects table, graded-score changes and sentences."""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.scores import GRADED_LABELS
from tunesafe.report.render.fmt import delta_p, fmt_change, fmt_p, rate_shift
from tunesafe.report.render.markdown.graded import score_change
from tunesafe.report.render.markdown.summary import effect_lines
from tunesafe.report.render.table import md_table

__all__ = ["effect_graded_lines", "effects_section"]


def effects_section(comp: Comparison) -> list[str]:
    """ "## What each fine-tune and mitigation did": the paired-effects table and the mitigation sentences."""
    if not comp.effects:
        return []
    conds = list(dict.fromkeys(c for row in comp.effects for c in row.drift))
    truth = list(dict.fromkeys(c for row in comp.effects for c in row.truthfulness))
    header = ["variant", "compared with", "ASR (reference → variant)", "Δ ASR [95% CI]", "p (Holm p)"]
    header += ["over-refusal (reference → variant)", "Δ over-refusal (p)"]
    header += [f"Δ {c} accuracy (p)" for c in conds] + [f"Δ false-claim affirmation {c} (p)" for c in truth]
    asr = f"ASR on the {comp.n_headline} headline prompts by `{comp.headline_judge}`, " if comp.judges else ""
    rows = []
    for row in comp.effects:
        a, o = row.asr, row.overrefusal
        kind = f"{row.kind}: {row.note}" if row.note else row.kind
        cells = [f"**{row.variant}** ({kind})", row.reference]
        cells += [rate_shift(a), fmt_change(a), f"{fmt_p(a.p_value)} ({fmt_p(a.p_adjusted)})"] if a else ["–"] * 3
        cells += [rate_shift(o), delta_p(o)] if o else ["–"] * 2
        cells += [delta_p(row.drift.get(c)) for c in conds] + [delta_p(row.truthfulness.get(c)) for c in truth]
        rows.append(cells)
    lines = [
        "## What each fine-tune and mitigation did",
        "",
        f"Each variant against its own reference run, paired on the items both answered: {asr}over-refusal on "
        "the harmless prompts, drift accuracy and false-claim affirmation per condition where measured. Δ in "
        "percentage points (variant − reference), Newcombe 95% CI, exact McNemar p; the ASR p-values are "
        "Holm-adjusted over the rows below. – : the pair lacks that audit.",
        "",
        *md_table(header, rows),
    ]
    sentences = effect_lines(comp)
    return [*lines, "", *effect_graded_lines(comp), *([*sentences, ""] if sentences else [])]


def effect_graded_lines(comp: Comparison) -> list[str]:
    """The effect rows' paired changes in graded judge scores (variant − reference), when the runs have them."""
    keys = list(dict.fromkeys(k for row in comp.effects for k in row.graded))
    if not keys:
        return []
    header = ["variant", "compared with"]
    for k in keys:
        judge, key = k.rsplit(":", 1)
        header.append(f"Δ `{judge}` {GRADED_LABELS.get(key, key)} [95% CI] (p, n)")
    rows = [
        [f"**{row.variant}**", row.reference]
        + [score_change(row.graded.get(k), k.rsplit(":", 1)[1], with_p=True) for k in keys]
        for row in comp.effects
    ]
    lines = [
        "Graded judge scores, variant − reference on the headline prompts both scored (paired bootstrap 95% CI, "
        "centred-bootstrap p):",
        "",
        *md_table(header, rows),
    ]
    return [*lines, ""]
