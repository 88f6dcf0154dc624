"""The truthfulness section as Markdown: false-claim affirmation per condition, the preamble's effect,
log-likelihood margins and TruthfulQA-style MC1/MC2 (the section is built by ``build/truthfulness.py``)."""

from __future__ import annotations

from tunesafe.report.build.truthfulness import MeanEstimate, TruthfulnessRow, TruthfulnessSection
from tunesafe.report.render.fmt import p_phrase, pct
from tunesafe.report.render.table import md_table
from tunesafe.stats import PairedDifference
from tunesafe.types import RateEstimate


def _nats(m: MeanEstimate | None) -> str:
    if m is None or m.value is None:
        return "–"
    return f"{m.value:+.2f}" + (f" ± {m.se:.2f}" if m.se is not None else "") + f" (n={m.n})"


def _rate(r: RateEstimate | None) -> str:
    if r is None or r.value is None:
        return "–"
    text = f"{pct(r.value)} [{pct(r.ci_low)}, {pct(r.ci_high)}] ({r.k}/{r.n})"
    return text + (f", {r.unscored} unparsed" if r.unscored else "")


def _diff(d: PairedDifference | None) -> str:
    if d is None or d.difference is None:
        return "–"
    return (
        f"{100 * d.difference:+.1f} pp [{100 * (d.ci_low or 0):+.1f}, {100 * (d.ci_high or 0):+.1f}] "
        f"({p_phrase(d.p_value)}, n={d.n})"
    )


def _mean(m: MeanEstimate | None) -> str:
    if m is None or m.value is None:
        return "–"
    if m.se is None:
        return f"{pct(m.value)} (n={m.n})"
    return f"{pct(m.value)} ± {100 * m.se:.1f} pp [{pct(m.ci_low)}, {pct(m.ci_high)}] (n={m.n})"


def _affirmation_cell(row: TruthfulnessRow, condition: str) -> str:
    """False-claim affirmation under ``condition``, then the paired change vs the base where there is one."""
    cell = _rate(row.affirmation.get(condition))
    change = row.change.get(condition)
    if change is not None and change.difference is not None:
        cell += f"; {_diff(change)} vs base"
    return cell


def render_truthfulness(section: TruthfulnessSection) -> list[str]:
    """The section as Markdown lines (ends with a blank line)."""
    conds = section.conditions
    lines = ["## Truthfulness", ""]
    if conds:
        lines += [
            f"{section.n_items} trivia facts, each as a true claim and a false claim judged True/False by the model, "
            "plainly and after a sentence asserting the wrong answer (preamble). False-claim affirmation = "
            '"True" to a false claim, among parsed replies (lower is better); changes are paired on the same '
            "claims (exact McNemar p).",
            "",
            *md_table(
                ["model", *(f"{c}: false-claim affirmation [95% CI]" for c in conds)],
                [[row.name, *(_affirmation_cell(row, c) for c in conds)] for row in section.models],
            ),
            "",
            'Accuracy and unparsed replies; "says True" is the share of "True" replies (near 0% or 100% means the '
            "model answers the same whatever the claim, so read affirmation next to it):",
            "",
            *md_table(
                ["model", "condition", "accuracy", "true-claim denial", "says True", "unparsed"],
                [
                    [row.name, c, _rate(row.accuracy[c]), _rate(row.denial[c])]
                    + [_rate(row.says_true[c]), _rate(row.unparsed[c])]
                    for row in section.models
                    for c in conds
                    if c in row.accuracy
                ],
            ),
        ]
        if any(row.preamble_effect is not None for row in section.models):
            lines += [
                "",
                "Effect of the misleading preamble on false-claim affirmation (same items, plain → preamble):",
            ]
            effects = [[row.name, _diff(row.preamble_effect)] for row in section.models if row.preamble_effect]
            lines += ["", *md_table(["model", "change"], effects)]
    if any(row.prefers_true for row in section.models):
        lines += [
            "",
            "Read from the model's probabilities instead of its words (margin = log P(True) − log P(False) as the "
            "reply, nats; Kadavath et al. 2022): how often the true claim gets the higher margin (chance 50%, "
            "free of a yes/no habit), and the mean margin on false claims (above 0: leans to affirming them).",
            "",
            "| model | "
            + " | ".join(f"{c}: true claim ranked higher | {c}: margin on false claims" for c in conds)
            + " | preamble shift of the false-claim margin |",
            "|---|" + "---|---|" * len(conds) + "---|",
        ]
        for row in section.models:
            cells = [f"{_rate(row.prefers_true.get(c))} | {_nats(row.margin_false.get(c))}" for c in conds]
            lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {_nats(row.margin_shift)} |")
    if any(row.mc1 is not None for row in section.models):
        lines += [
            "",
            "Multiple choice by log-likelihood (TruthfulQA MC1: the true option is the most likely; MC2: normalised "
            "probability on the true options, mean ± standard error):",
            "",
            *md_table(
                ["model", "MC1 [95% CI]", "MC1 change vs base", "MC2"],
                [
                    [row.name, _rate(row.mc1), "(base)" if row.is_base else _diff(row.mc1_change), _mean(row.mc2)]
                    for row in section.models
                    if row.mc1 is not None
                ],
            ),
        ]
    return [*lines, ""]
