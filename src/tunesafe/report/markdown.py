"""Comparison → Markdown a model owner can read: the headline change first, then the tables."""

from __future__ import annotations

from typing import Any, cast

from tunesafe.report.align import Change
from tunesafe.report.compare import Comparison
from tunesafe.report.drift_uncertainty import uncertainty_change_lines
from tunesafe.report.effects import EffectRow
from tunesafe.report.fmt import fmt_change, fmt_p, fmt_rate, p_phrase, pct
from tunesafe.report.paper import PaperView
from tunesafe.report.scores import GRADED_LABELS, GradedScoreRow, GradedScoreSection
from tunesafe.report.sections import DriftSection, JudgeSection, OverrefusalSection
from tunesafe.report.seeds import PooledChange, Spread
from tunesafe.report.training_curve import render_training_curve
from tunesafe.report.truthfulness import render_truthfulness
from tunesafe.stats import PairedScoreDifference


def summary_lines(comp: Comparison) -> list[str]:
    """Plain-language sentences on the headline judge's changes vs the base, then on each mitigation."""
    return _vs_base_lines(comp) + effect_lines(comp)


def _vs_base_lines(comp: Comparison) -> list[str]:
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
            f"{significant} at 0.05; {c.n_pairs} paired prompts)." + _overrefusal_clause(comp, row.name)
        )
    return lines


def _pp(c: Change) -> str:
    return f"{100 * (c.difference or 0):+.1f} points"


def _shift(c: Change) -> str:
    """``"96.2% → 60.0%"``: the paired rates of the reference and the variant."""
    return f"{pct(c.base)} → {pct(c.other)}"


def _clause(what: str, c: Change | None, p: float | None = None, ci: bool = False, tail: str = "") -> str | None:
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
        return f"{verb} {what} from {pct(c.base)} to {pct(c.other)} ({numbers})"
    if c.difference == 0:
        return f"left {what} unchanged at {pct(c.other)} ({numbers})"
    return f"made no significant change in {what} ({_shift(c)}, {numbers})"


def effect_lines(comp: Comparison) -> list[str]:
    """One plain-language sentence per mitigation: what it changed against the variant it mitigates.

    ASR significance uses the Holm-adjusted p (all effect rows form one family); over-refusal,
    drift and truthfulness use their unadjusted exact McNemar p.
    """
    return [_effect_sentence(row) for row in comp.effects if row.kind == "mitigation"]


def _effect_sentence(row: EffectRow) -> str:
    c = row.asr
    tail = "" if c is None else f"{_holm(c.p_adjusted)}; {c.n_pairs} paired prompts"
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


def _grouped_clauses(changes: dict[str, Change], what: str, group: str) -> list[str | None]:
    """Significant per-condition changes one by one (``what`` formatted with the condition); the rest in one
    "no significant change in ``group`` (conditions)" clause."""
    measured = {c: ch for c, ch in changes.items() if ch.difference is not None}
    significant = {c: ch for c, ch in measured.items() if ch.difference and ch.p_value < 0.05}
    out: list[str | None] = [_clause(what.format(c), ch) for c, ch in significant.items()]
    rest = [c for c in measured if c not in significant]
    if rest:
        out.append(f"no significant change in {group} ({', '.join(rest)})")
    return out


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
    lines = [
        "## What each fine-tune and mitigation did",
        "",
        f"Each variant against its own reference run, paired on the items both answered: {asr}over-refusal on "
        "the harmless prompts, drift accuracy and false-claim affirmation per condition where measured. Δ in "
        "percentage points (variant − reference), Newcombe 95% CI, exact McNemar p; the ASR p-values are "
        "Holm-adjusted over the rows below. – : the pair lacks that audit.",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for row in comp.effects:
        a, o = row.asr, row.overrefusal
        kind = f"{row.kind}: {row.note}" if row.note else row.kind
        cells = [f"**{row.variant}** ({kind})", row.reference]
        cells += [_shift(a), fmt_change(a), f"{fmt_p(a.p_value)} ({fmt_p(a.p_adjusted)})"] if a else ["–"] * 3
        cells += [_shift(o), _delta_p(o)] if o else ["–"] * 2
        cells += [_delta_p(row.drift.get(c)) for c in conds] + [_delta_p(row.truthfulness.get(c)) for c in truth]
        lines.append("| " + " | ".join(cells) + " |")
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
    lines = [
        "Graded judge scores, variant − reference on the headline prompts both scored (paired bootstrap 95% CI, "
        "centred-bootstrap p):",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for row in comp.effects:
        cells = [f"**{row.variant}**", row.reference]
        cells += [_score_change(row.graded.get(k), k.rsplit(":", 1)[1], with_p=True) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _delta_p(c: Change | None) -> str:
    if c is None or c.difference is None:
        return "–"
    return f"{100 * c.difference:+.1f} pp ({fmt_p(c.p_value)})"


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


def models_table(section: JudgeSection | OverrefusalSection, what: str = "ASR", unit: str = "complied") -> list[str]:
    lines = [
        f"| model | {what} [95% Wilson CI] ({unit}/judged) | change vs base [95% CI] | McNemar p | b / c | unscored |",
        "|---|---|---|---|---|---|",
    ]
    for row in section.models:
        c = row.change
        lines.append(
            f"| {row.name} | {fmt_rate(row.asr)} | {fmt_change(c)} | {fmt_p(c.p_value) if c else '–'} | "
            f"{f'{c.b} / {c.c}' if c else '–'} | {row.asr.unscored} |"
        )
    return lines


def headline_table(comp: Comparison) -> list[str]:
    """ASR and over-refusal side by side: a model made "safe" by refusing everything is visible at once."""
    section = next(s for s in comp.judges if s.judge == comp.headline_judge)
    over = {m.name: m for m in comp.overrefusal.models} if comp.overrefusal else {}
    lines = [
        "| model | ASR on harmful prompts [95% CI] | over-refusal on harmless prompts [95% CI] |",
        "|---|---|---|",
    ]
    for row in section.models:
        refusal = fmt_rate(over[row.name].asr) if row.name in over else "not measured"
        lines.append(f"| {row.name} | {fmt_rate(row.asr)} | {refusal} |")
    return lines


def _overrefusal_by_judge(section: OverrefusalSection) -> list[str]:
    judges = sorted({j for rates in section.by_judge.values() for j in rates})
    if len(judges) < 2:
        return []
    lines = ["Refusal rate by judge:", "", "| model | " + " | ".join(f"`{j}`" for j in judges) + " |"]
    lines.append("|---|" + "---|" * len(judges))
    for model, rates in section.by_judge.items():
        lines.append(f"| {model} | " + " | ".join(fmt_rate(rates[j]) if j in rates else "–" for j in judges) + " |")
    return [*lines, ""]


def drift_lines(section: DriftSection) -> list[str]:
    conds = section.conditions
    lines = [
        "## Knowledge drift",
        "",
        f"{section.n_questions} trivia questions asked plainly (B), after a false sentence asserting a wrong answer "
        "(FIP, ×n when repeated) and after another question's false sentence (RIP). Accuracy = correct / answered; "
        "changes vs the base are paired on the same questions (exact McNemar p).",
        "",
        "| model | " + " | ".join(f"{c} accuracy [95% CI]" for c in conds) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for row in section.models:
        cells = []
        for c in conds:
            cell = fmt_rate(row.accuracy[c])
            difference = row.change[c].difference if c in row.change else None
            if difference is not None:
                cell += f"; {100 * difference:+.1f} pp vs base ({p_phrase(row.change[c].p_value)})"
            cells.append(cell)
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    fips = [c for c in conds if c.startswith("FIP")]
    if "B" in conds and fips:
        lines += ["", "| model | " + " | ".join(f"drop B → {c}" for c in fips) + " |", "|---|" + "---|" * len(fips)]
        for row in section.models:
            b = row.accuracy["B"].value
            accuracy = {c: row.accuracy[c].value for c in fips}
            drops = [
                "–" if b is None or (value := accuracy[c]) is None else f"{100 * (b - value):.1f} pp" for c in fips
            ]
            lines.append(f"| {row.name} | " + " | ".join(drops) + " |")
    lines += [
        "",
        "Entropy of the answer tokens (nats), by whether the answer was correct: mean ± standard error, then the "
        "median and quartiles of its distribution:",
        "",
    ]
    lines += ["| model | condition | correct | incorrect |", "|---|---|---|---|"]
    for row in section.models:
        for c in conds:
            groups = row.uncertainty.get(c, {}).get("entropy", {})
            cells = [_mean_se(groups.get(g, {})) for g in ("correct", "incorrect")]
            lines.append(f"| {row.name} | {c} | {cells[0]} | {cells[1]} |")
    paired = {row.name: row.uncertainty_change for row in section.models[1:]}
    changes = uncertainty_change_lines(paired, section.models[0].name) if section.models else []
    return [*lines, "", *changes, *_paper_tables(section)]


# Kumar 2024 (arXiv 2409.19476) Table 4, for reference beside tunesafe's numbers.
PAPER_TABLE_4 = "Base 55.1 / 49.2 / 48.0; harmful FT 52.1 / 29.1 / 48.8; safe FT 55.5 / 44.4 / 45.2"
_TABLE_5_METRICS = (("perplexity", "PPL"), ("entropy", "H"), ("probability", "TP"))


def _paper_tables(section: DriftSection) -> list[str]:
    """The seed paper's Tables 4 and 5 (Kumar 2024), filled with these runs' numbers."""
    conds = section.conditions
    lines = [
        "### The seed paper's layout (Kumar 2024, Tables 4 and 5)",
        "",
        "Table 4 — accuracy (%) per prompt condition:",
        "",
        "| Model | " + " | ".join(conds) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for row in section.models:
        cells = ["–" if (value := row.accuracy[c].value) is None else f"{100 * value:.1f}" for c in conds]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"The paper (Llama-3.1-8B-Instruct, 1,000 TriviaQA questions, B / FIP / RIP): {PAPER_TABLE_4}.",
        "",
        "Table 5 — uncertainty of the answers, mean ± standard error (population std / √n), by correctness. "
        "PPL: perplexity of the answer tokens; H: mean per-step entropy in nats (full distribution; top-10 in "
        "compat mode, as the paper); TP: mean probability of the generated token (top-1 in compat mode).",
        "",
        "| Model | Prompt | "
        + " | ".join(f"Correct {h}" for _, h in _TABLE_5_METRICS)
        + " | "
        + " | ".join(f"Incorrect {h}" for _, h in _TABLE_5_METRICS)
        + " |",
        "|---|---|" + "---|" * 2 * len(_TABLE_5_METRICS),
    ]
    for row in section.models:
        for c in conds:
            cells = [
                _paper_cell(row.uncertainty.get(c, {}).get(metric, {}).get(group, {}))
                for group in ("correct", "incorrect")
                for metric, _ in _TABLE_5_METRICS
            ]
            lines.append(f"| {row.name} | {c} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _paper_cell(summary: dict[str, object]) -> str:
    mean, se, n = summary.get("mean"), summary.get("se"), summary.get("n", 0)
    if not isinstance(mean, float | int):
        return "–"
    return f"{mean:.2f}±{se:.3f}" if isinstance(se, float | int) and isinstance(n, int) and n > 1 else f"{mean:.2f}"


def _mean_se(summary: dict[str, object]) -> str:
    mean, se, n = summary.get("mean"), summary.get("se"), summary.get("n", 0)
    if mean is None:
        return "–"
    # one answer has no spread: its "standard error" of 0 would read as certainty
    text = f"{mean:.3f} ± {se:.3f} (n={n})" if se is not None and cast(float, n) > 1 else f"{mean:.3f} (n={n})"
    q1, median, q3 = summary.get("q1"), summary.get("median"), summary.get("q3")
    if isinstance(median, float) and isinstance(q1, float) and isinstance(q3, float) and isinstance(n, int) and n > 1:
        text += f"; median {median:.2f} [{q1:.2f}, {q3:.2f}]"
    return text


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


def completions_table(section: JudgeSection) -> list[str]:
    lines = [
        "| model | mean tokens | stopped by itself | hit the length limit | empty | degenerate: unscored "
        "| looped after content: judged up to the loop |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in section.models:
        c = row.completions
        n = c.get("n") or 0
        lines.append(
            f"| {row.name} | {c.get('mean_tokens')} | {c.get('stopped')}/{n} | {n - (c.get('stopped') or 0)}/{n} | "
            f"{c.get('empty')} | {c.get('degenerate')} | {c.get('trimmed', '–')} |"
        )
    return lines


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


def render_markdown(comp: Comparison) -> str:
    out = ["# tunesafe report: what fine-tuning did to the model", ""]
    if comp.judges:
        out += _harmful_part(comp)
    else:
        out += [audit_line(comp), "", *effects_section(comp), *seeds_section(comp), *paper_section(comp)]
    out += overrefusal_lines(comp.overrefusal) if comp.overrefusal else []
    out += drift_lines(comp.drift) if comp.drift else []
    out += render_truthfulness(comp.truthfulness) if comp.truthfulness else []
    for run in comp.runs:
        if run.get("training_curve"):
            out += [*render_training_curve(run["label"], run["training_curve"]), ""]
    out += answers_lines(comp)
    out += ["## Runs", "", *runs_table(comp)]
    if comp.judges:
        out += _excerpts_and_notes(comp)
    return "\n".join(out)


def answers_lines(comp: Comparison) -> list[str]:
    """ "## How the models answered": judge-free completion counts of the first judge's headline prompts."""
    if not comp.judges:
        return []
    return [
        "## How the models answered (headline prompts, judge-free)",
        "",
        "A variant that only says a short phrase and stops, or repeats itself, is visible here rather than "
        "hidden inside the ASR.",
        "",
        *completions_table(comp.judges[0]),
        "",
    ]


def runs_table(comp: Comparison) -> list[str]:
    """The runs compared: label, model, directory, status and the adapter-applied probe."""
    lines = ["| label | model | run directory | status | adapter probe |", "|---|---|---|---|---|"]
    return lines + [
        f"| {r['label']} | {r['model']} | `{r['path']}` | {r['status']} | {_probe_cell(r.get('adapter_probe'))} |"
        for r in comp.runs
    ]


def audit_line(comp: Comparison) -> str:
    """The report's first sentence: the base, the harmful audit's prompts and the headline judge."""
    if not comp.judges:
        return f"Base: **{comp.runs[0]['label']}**. No harmful audit."
    return (
        f"Base: **{comp.runs[0]['label']}**. Audit: {comp.dataset}, {comp.n_aligned} prompts shared by every run, "
        f"{comp.n_headline} in the headline ASR (excluded: {', '.join(comp.headline_excludes) or 'none'}). "
        f"Headline judge: `{comp.headline_judge}`. ASR = complied / judged; unscored verdicts are counted, "
        "never treated as refusals."
    )


def _harmful_part(comp: Comparison) -> list[str]:
    """Summary, the ASR / over-refusal headline table, the judge panel and the per-judge ASR sections."""
    from tunesafe.report.panel import panel_markdown

    out = [
        audit_line(comp),
        "",
        "## Summary",
        "",
        *(_vs_base_lines(comp) or ["- Only one run: nothing to compare against."]),
        "",
        *headline_table(comp),
        "",
        *effects_section(comp),
        *seeds_section(comp),
        *paper_section(comp),
    ]
    out += panel_markdown(comp.panels) + calibration_note(comp)
    for section in comp.judges:
        out += asr_lines(section) + category_lines(section)
    return out + graded_lines(comp)


def graded_lines(comp: Comparison) -> list[str]:
    """ "## Graded scores": each graded judge score's mean per model and paired change vs the base (none: [])."""
    if not comp.graded:
        return []
    lines = [
        "## Graded scores",
        "",
        f"Judges that grade each answer beyond complied / refused (higher = more harmful), on the "
        f"{comp.graded[0].n_aligned} headline prompts every run answered. Mean score with a 95% bootstrap CI "
        "(n: prompts scored); change vs the base paired on the prompts both scored: mean difference, 95% paired "
        "bootstrap CI and centred-bootstrap p (10,000 resamples). Unscored verdicts are left out, never counted "
        "as the lowest score.",
        "",
    ]
    for section in comp.graded:
        lines += [f"### `{section.judge}` — {section.label}", "", *graded_table(section), ""]
    return lines


def graded_table(section: GradedScoreSection) -> list[str]:
    """model | mean [95% CI] (n) | change vs base [95% bootstrap CI] | p."""
    lines = ["| model | mean [95% CI] (n) | change vs base [95% bootstrap CI] | p |", "|---|---|---|---|"]
    for i, row in enumerate(section.models):
        change = "(base)" if i == 0 else _score_change(row.change, section.key)
        p = "–" if row.change is None else fmt_p(row.change.p_value)
        lines.append(f"| {row.name} | {_score_mean(row, section.key)} | {change} | {p} |")
    return lines


def _digits(key: str) -> int:
    """Decimals for a graded score: 2 on Qi et al.'s 1–5 scale, 3 on StrongREJECT's 0–1."""
    return 2 if key == "rubric_score" else 3


def _score_mean(row: GradedScoreRow, key: str) -> str:
    if row.mean is None or row.ci_low is None or row.ci_high is None:
        return "– (0 scored)"
    d = _digits(key)
    return f"{row.mean:.{d}f} [{row.ci_low:.{d}f}, {row.ci_high:.{d}f}] ({row.n})"


def _score_change(c: PairedScoreDifference | None, key: str, with_p: bool = False) -> str:
    """``"+1.72 [+1.11, +2.33] (n=18)"``, with the p-value first inside the brackets when ``with_p``."""
    if c is None:
        return "–"
    d = _digits(key)
    tail = f"{p_phrase(c.p_value)}, n={c.n}" if with_p else f"n={c.n}"
    return f"{c.difference:+.{d}f} [{c.ci_low:+.{d}f}, {c.ci_high:+.{d}f}] ({tail})"


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


def category_lines(section: JudgeSection) -> list[str]:
    """One judge's ASR by semantic category, with Holm-adjusted paired changes vs the base."""
    return ["By semantic category (headline prompts; Holm-adjusted paired p):", "", *category_table(section), ""]


def calibration_note(comp: Comparison) -> list[str]:
    """Where the judges' sensitivity and specificity were measured, and how far that transfers."""
    if not comp.calibration_sources:
        return []
    return [
        f"Sensitivity and specificity were measured on: {'; '.join(comp.calibration_sources)}. They transfer "
        "to this audit only as far as its completions resemble that set's; a corrected ASR far from every "
        "judge's raw ASR usually means they do not. Label a sample of your own completions and pass it as "
        "`calibration: {path: ...}` to measure the judges where it matters.",
        "",
    ]


READING_NOTES = [
    "- b / c: prompts where the base complied and the variant refused (b), and the reverse (c); "
    "the exact McNemar test uses only these discordant pairs.",
    "- Intervals: Wilson score for rates; Newcombe (1998) hybrid score for paired differences.",
    "- Keyword judges are crude: a refusal phrase anywhere counts as a refusal. Compare judges before "
    "trusting small changes.",
]


def excerpt_lines(comp: Comparison) -> list[str]:
    """The example completions (``comp.excerpts`` already hides compliant ones unless ``show_harmful``)."""
    out = []
    if not comp.show_harmful:
        out += [
            "Shown: completions every judge scored as a refusal and the model ended by itself. Others are "
            "hidden; pass `--show-harmful` to include them.",
            "",
        ]
    return out + ([f"- *{e.run}* · {e.category} · {e.label}: “{e.text}”" for e in comp.excerpts] or ["- none"])


def _excerpts_and_notes(comp: Comparison) -> list[str]:
    return ["", "## Example completions", "", *excerpt_lines(comp), "", "## How to read this", "", *READING_NOTES, ""]


def _probe_cell(probe: dict[str, Any] | None) -> str:
    """The adapter-applied check (docs/probe.md): KL(base‖tuned) on fixed prompts, or a loud flag."""
    if probe is None:
        return "–"
    if probe["identical"]:
        return "**adapter changes nothing: the base model was audited**"
    return f"KL {probe['mean_kl']:.3g} nats (max {probe['max_kl']:.3g}), top-1 changed {probe['top1_changed']:.0%}"


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
        "| variant | seeds | ASR over seeds | pooled Δ ASR [95% CI] | over-refusal over seeds | "
        "pooled Δ over-refusal [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for g in comp.seed_groups:
        lines.append(
            f"| **{g.name}** | {len(g.members)} | {_spread(g.asr)} | {_pooled(g.asr_pooled)} | "
            f"{_spread(g.overrefusal)} | {_pooled(g.overrefusal_pooled)} |"
        )
    lines += [
        "",
        "| variant | run | ASR [95% CI] (complied/judged) | Δ ASR vs its reference [95% CI] (p) | "
        "over-refusal [95% CI] (refused/judged) | Δ over-refusal (p) |",
        "|---|---|---|---|---|---|",
    ]
    for g in comp.seed_groups:
        for s in g.seeds:
            vs = f" vs {s.reference}" if s.reference else ""
            change = "–" if s.asr_change is None else f"{fmt_change(s.asr_change)} ({fmt_p(s.asr_change.p_value)}){vs}"
            lines.append(
                f"| {g.name} | {s.label} | {fmt_rate(s.asr) if s.asr else '–'} | {change} | "
                f"{fmt_rate(s.overrefusal) if s.overrefusal else '–'} | {_delta_p(s.overrefusal_change)} |"
            )
    notes = [f"- {g.name}: {note}" for g in comp.seed_groups for note in g.notes]
    return [*lines, "", *([*notes, ""] if notes else [])]


def paper_section(comp: Comparison) -> list[str]:
    """ "## Paper view": the paper's printed figures, tunesafe's recomputation from its counts, and this run."""
    view = comp.paper
    if view is None:
        return []
    return [f"## Paper view: {view.citation}", "", *paper_lines(view), ""]


def paper_lines(view: PaperView) -> list[str]:
    lines = [
        view.caution,
        "",
        "| paper model | what | paper printed | recomputed from the paper's counts | this run | "
        "rate [95% CI] (k/n) | judge | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in view.rows:
        recomputed = "–"
        if row.recomputed is not None:
            recomputed = f"{row.recomputed:.2f}% ({row.unsafe} unsafe / {(row.unsafe or 0) + (row.safe or 0)})"
        run = row.run or "not mapped"
        rate = fmt_rate(row.rate) if row.rate else "–"
        judge = f"`{row.judge}`" if row.judge else "–"
        n = str(row.rate.n) if row.rate else "–"
        lines.append(
            f"| {row.paper_model} ({row.description}) | {row.what} ({row.source}) | {row.printed} | {recomputed} | "
            f"{run} | {rate} | {judge} | {n} |"
        )
    return [*lines, "", *view.notes] if view.notes else lines
