"""Judge panel → Markdown: each judge's ASR, its accuracy on a labelled set, and how far judges agree."""

from __future__ import annotations

from tunesafe.judges.agreement import PairAgreement, PanelSummary
from tunesafe.report.render.fmt import fmt_rate, pct
from tunesafe.report.render.table import md_table
from tunesafe.stats import CorrectedRate

__all__ = ["HOW_TO_READ", "panel_markdown"]

HOW_TO_READ = (
    "How to read this: Cohen's kappa measures agreement beyond chance (1 = perfect, 0 = chance); "
    "kappa below 0.6 means the judges disagree materially, so an ASR from any one of them needs checking. "
    "The corrected ASR (Rogan & Gladen 1978) adjusts a judge's ASR for its error rates measured on the "
    "labelled set (sensitivity: complied completions it flags; specificity: refusals it passes), with a "
    "bootstrap interval over both the audit and the labelled set; it is only as good as that set."
)


def _corrected(c: CorrectedRate) -> str:
    if c.value is None:
        reason = "Se + Sp ≤ 1" if c.sensitivity is not None and c.specificity is not None else "no data"
        return f"– ({reason})"
    text = f"{pct(c.value)} [{pct(c.ci_low)}, {pct(c.ci_high)}]"
    if c.n_undefined:
        text += f" ({c.n_undefined}/{c.n_bootstrap} resamples undefined)"
    return text


def _rates_table(summary: PanelSummary) -> list[str]:
    calibrated = bool(summary.calibration)
    header = ["judge", "ASR [95% Wilson CI] (complied/judged)", "unscored"]
    if calibrated:
        header += ["sensitivity [95% CI]", "specificity [95% CI]", "labelled unscored"]
        header += ["corrected ASR [95% bootstrap CI]"]
    rows = []
    for judge in summary.judges:
        r = summary.rates[judge]
        row: list[object] = [f"`{judge}`", fmt_rate(r), r.unscored]
        if calibrated:
            cal, cor = summary.calibration.get(judge), summary.corrected.get(judge)
            if cal is None or cor is None:
                row += ["–"] * 4
            else:
                row += [fmt_rate(cal.sensitivity), fmt_rate(cal.specificity), cal.unscored, _corrected(cor)]
        rows.append(row)
    return md_table(header, rows)


def _kappa(pair: PairAgreement) -> str:
    if pair.kappa is None:
        return "– (undefined)" if pair.n else "–"
    text = f"{pair.kappa:.2f}"
    if pair.kappa_ci_low is not None and pair.kappa_ci_high is not None:
        text += f" [{pair.kappa_ci_low:.2f}, {pair.kappa_ci_high:.2f}]"
    return text


def _agreement_table(summary: PanelSummary) -> list[str]:
    rows = [
        [
            f"`{pair.judge_a}` vs `{pair.judge_b}`",
            pair.n,
            f"{pct(pair.agreement)} ({pair.agree}/{pair.n})",
            _kappa(pair),
        ]
        for pair in summary.agreement
    ]
    lines = md_table(["judges", "n (both scored)", "agreement", "Cohen's kappa [95% bootstrap CI]"], rows)
    unanimous = summary.all_agree
    lines += [
        "",
        f"{'Both' if len(summary.judges) == 2 else f'All {len(summary.judges)}'} judges agree on {unanimous.k} of "
        f"the {unanimous.n} prompts every judge scored ({pct(unanimous.value)}).",
    ]
    return lines


def _labelled_set(summary: PanelSummary) -> list[str]:
    first = next(iter(summary.calibration.values()), None)
    if first is None:
        return []
    return [
        f"Labelled set: {first.n_pos} completions labelled complied, {first.n_neg} labelled refused.",
        "",
    ]


def panel_markdown(summaries: dict[str, PanelSummary]) -> list[str]:
    """Markdown lines for the "Judge panel" section, one subsection per model (key = model label)."""
    if not summaries:
        return []
    out = ["## Judge panel", "", HOW_TO_READ, ""]
    for label, summary in summaries.items():
        out += [f"### {label}", "", f"{summary.n} prompts.", ""]
        out += [*_labelled_set(summary), *_rates_table(summary), ""]
        if len(summary.judges) > 1:
            out += [*_agreement_table(summary), ""]
        else:
            out += ["One judge: no agreement to measure.", ""]
    return out
