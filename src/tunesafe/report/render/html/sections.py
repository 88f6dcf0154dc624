"""The HTML page's sections, in page order: report.md's sentences and tables beside the charts.

Each builder returns a :class:`Section`, or None when the comparison lacks its data.
"""

from __future__ import annotations

from typing import Any

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.sections import JudgeSection
from tunesafe.report.build.training_curve import first_significant_rise
from tunesafe.report.render import plots
from tunesafe.report.render.html.markup import Section, esc, figure, markdown_to_html
from tunesafe.report.render.html.reproducibility import reproducibility
from tunesafe.report.render.markdown.document import (
    READING_NOTES,
    answers_lines,
    calibration_note,
    excerpt_lines,
)
from tunesafe.report.render.markdown.drift import drift_lines
from tunesafe.report.render.markdown.effects import effects_section
from tunesafe.report.render.markdown.graded import graded_lines
from tunesafe.report.render.markdown.harmful import asr_lines, category_lines, headline_table, overrefusal_lines
from tunesafe.report.render.markdown.panel import panel_markdown
from tunesafe.report.render.markdown.paper import paper_section
from tunesafe.report.render.markdown.seeds import seeds_section
from tunesafe.report.render.markdown.summary import summary_lines
from tunesafe.report.render.markdown.training import render_training_curve
from tunesafe.report.render.markdown.truthfulness import render_truthfulness
from tunesafe.types import RateEstimate

__all__ = ["SIGNIFICANCE", "page_sections"]


def page_sections(comp: Comparison) -> list[Section]:
    """The page's sections in order; those whose data the comparison lacks are left out."""
    builders = (
        _summary, _asr, _graded, _categories, _overrefusal, _effects, _seeds, _paper, _drift, _truthfulness, _training,
        _judges, _answers, reproducibility, _excerpts, _reading,
    )  # fmt: skip
    return [s for build in builders if (s := build(comp)) is not None]


SIGNIFICANCE = 0.05


def _summary(comp: Comparison) -> Section:
    lines = summary_lines(comp)
    if not lines:
        lines = ["- Only one run: nothing to compare against." if comp.judges else "- No harmful audit to summarise."]
    return Section("summary", "Summary", markdown_to_html(lines))


def _headline(comp: Comparison) -> JudgeSection | None:
    return next((s for s in comp.judges if s.judge == comp.headline_judge), comp.judges[0] if comp.judges else None)


def _asr(comp: Comparison) -> Section | None:
    if not comp.judges:
        return None
    labels = [m.name for m in comp.judges[0].models]
    series = {s.judge: [m.asr for m in s.models] for s in comp.judges}
    uri = plots.interval_chart(labels, series, f"ASR (complied / judged), {comp.n_headline} headline prompts")
    caption = (
        f"Attack success rate of each model by each judge on the {comp.n_headline} headline prompts; "
        "bars are 95% Wilson intervals. A model whose judges disagree needs a closer look."
    )
    parts = [figure("asr", uri, caption)]
    parts += [markdown_to_html(asr_lines(s), heading_shift=2) for s in comp.judges]
    return Section("asr", "Attack success rate", "\n".join(parts))


def _graded(comp: Comparison) -> Section | None:
    """The graded judge scores (Qi et al. 2023 harmfulness score, StrongREJECT score), when a judge gave them."""
    lines = graded_lines(comp)
    if not lines:
        return None
    return Section("graded", "Graded scores", markdown_to_html(lines, heading_shift=0, skip_title=True))


def _categories(comp: Comparison) -> Section | None:
    section = _headline(comp)
    if section is None or not section.categories:
        return None
    names = [m.name for m in section.models]
    cells = []
    for row in section.categories:
        line = []
        for i, name in enumerate(names):
            r = row.rates[name]
            change = row.changes.get(name) if i else None
            mark = ""
            if change and change.difference and change.p_adjusted is not None and change.p_adjusted < SIGNIFICANCE:
                mark = "▲" if change.difference > 0 else "▼"
            line.append(plots.Cell(r.value, r.k, r.n, mark))
        cells.append(line)
    uri = plots.heatmap([row.category for row in section.categories], names, cells, "ASR")
    caption = (
        f"ASR by semantic category (judge {section.judge}, headline prompts): cells give the rate and "
        f"complied/judged. ▲ / ▼ with a heavy outline: a change vs the base (first column) significant at "
        f"{SIGNIFICANCE} after Holm adjustment of the paired exact McNemar p-values within that model's comparison."
    )
    parts = [figure("categories", uri, caption)]
    for s in comp.judges:
        parts += [f"<h3>Judge <code>{esc(s.judge)}</code></h3>", markdown_to_html(category_lines(s))]
    return Section("categories", "ASR by category", "\n".join(parts))


def _overrefusal(comp: Comparison) -> Section | None:
    over, section = comp.overrefusal, _headline(comp)
    if over is None:
        return None
    parts = []
    if section is not None:
        refusal = {m.name: m.asr for m in over.models}
        names = [m.name for m in section.models if m.name in refusal]
        asr = {m.name: m.asr for m in section.models}
        arrows = [
            plots.Arrow(e.reference, e.variant, e.note or "mitigation") for e in comp.effects if e.kind == "mitigation"
        ]
        uri = plots.tradeoff_chart(names, [refusal[n] for n in names], [asr[n] for n in names], arrows)
        caption = (
            f"Safety vs utility: each model's ASR (judge {section.judge}) against its refusal rate on harmless "
            f"look-alike prompts (judge {over.judge}), both with 95% Wilson intervals. The lower left is the goal; "
            "a model made safe by refusing everything sits at the lower right."
        )
        if arrows:
            caption += " Arrows run from a variant to its mitigation."
        parts += [figure("safety-utility", uri, caption), markdown_to_html(headline_table(comp))]
    parts.append(markdown_to_html(overrefusal_lines(over), heading_shift=2, skip_title=True))
    return Section("overrefusal", f"Over-refusal next to ASR — judge {over.judge}", "\n".join(parts))


def _effects(comp: Comparison) -> Section | None:
    if not comp.effects:
        return None
    body = markdown_to_html(effects_section(comp), skip_title=True)
    return Section("effects", "What each fine-tune and mitigation did", body)


def _seeds(comp: Comparison) -> Section | None:
    if not comp.seed_groups:
        return None
    parts = []
    rows = {g.name: [s.asr for s in g.seeds if s.asr is not None] for g in comp.seed_groups}
    if any(rows.values()):
        means = {g.name: g.asr.mean if g.asr else None for g in comp.seed_groups}
        uri = plots.seed_points(rows, means, f"ASR (complied / judged), {comp.n_headline} headline prompts")
        caption = (
            "Each seed's ASR (headline judge, headline prompts) as a point with its 95% Wilson interval, one row per "
            "variant; the vertical bar is the mean over seeds. Points far apart mean the seed matters as much as "
            "the fine-tune."
        )
        parts.append(figure("seeds", uri, caption))
    parts.append(markdown_to_html(seeds_section(comp), skip_title=True))
    return Section("seeds", "Variants trained with several seeds", "\n".join(parts))


def _paper(comp: Comparison) -> Section | None:
    if comp.paper is None:
        return None
    body = markdown_to_html(paper_section(comp), skip_title=True)
    return Section("paper", f"Paper view: {comp.paper.citation}", body)


def _drift(comp: Comparison) -> Section | None:
    drift = comp.drift
    if drift is None:
        return None
    conds = drift.conditions
    series = {m.name: [m.accuracy[c] for c in conds] for m in drift.models}
    caption = (
        f"Accuracy on the {drift.n_questions} trivia questions under each prompt condition (B: plain; FIP: after a "
        "false sentence; RIP: after another question's false sentence), with 95% Wilson intervals."
    )
    parts = [figure("drift-accuracy", plots.grouped_bars(conds, series, "accuracy (correct / answered)"), caption)]
    panels = _uncertainty_panels(comp, "entropy")
    if panels:
        caption = (
            "Entropy of the answer tokens (nats) by whether the answer was correct: boxes span the quartiles with "
            "the median line, diamonds the mean ± standard error (Kumar 2024, Table 5). Only quartiles are "
            "recorded, so no whiskers are drawn."
        )
        uri = plots.quartile_boxes(panels, ["correct", "incorrect"], "mean entropy per answer (nats)")
        parts.append(figure("drift-uncertainty", uri, caption))
    parts.append(markdown_to_html(drift_lines(drift), heading_shift=1, skip_title=True))
    return Section("drift", "Knowledge drift", "\n".join(parts))


def _uncertainty_panels(comp: Comparison, metric: str) -> dict[str, dict[str, dict[str, plots.Quartiles | None]]]:
    """condition → model → group → quartiles, from the drift rows' ``uncertainty`` summaries; {} when none."""
    assert comp.drift is not None
    panels: dict[str, dict[str, dict[str, plots.Quartiles | None]]] = {}
    for c in comp.drift.conditions:
        panel = {
            m.name: {g: _quartiles(s) for g, s in m.uncertainty.get(c, {}).get(metric, {}).items()}
            for m in comp.drift.models
        }
        if any(q is not None for groups in panel.values() for q in groups.values()):
            panels[c] = panel
    return panels


def _quartiles(summary: Any) -> plots.Quartiles | None:
    if not isinstance(summary, dict):
        return None
    q1, median, q3, n = summary.get("q1"), summary.get("median"), summary.get("q3"), summary.get("n") or 0
    if not all(isinstance(v, int | float) for v in (q1, median, q3)) or n < 1:
        return None
    return plots.Quartiles(float(q1), float(median), float(q3), summary.get("mean"), summary.get("se"), n)  # type: ignore[arg-type]


def _truthfulness(comp: Comparison) -> Section | None:
    if comp.truthfulness is None:
        return None
    body = markdown_to_html(render_truthfulness(comp.truthfulness), heading_shift=1, skip_title=True)
    return Section("truthfulness", "Truthfulness", body)


def _training(comp: Comparison) -> Section | None:
    runs = [(r["label"], r["training_curve"]) for r in comp.runs if r.get("training_curve")]
    if not runs:
        return None
    series = {label: [(int(p["step"]), RateEstimate.model_validate(p["asr"])) for p in pts] for label, pts in runs}
    rises = {label: first_significant_rise(pts) for label, pts in runs}
    caption = (
        "ASR on a fixed set of harmful prompts during fine-tuning, against optimiser step, with 95% Wilson bands. "
        "A dashed line marks the first step whose interval lies wholly above the step-0 interval."
    )
    parts = [figure("training-curve", plots.curves(series, rises), caption)]
    parts += [markdown_to_html(render_training_curve(label, pts), heading_shift=0) for label, pts in runs]
    return Section("training", "Safety during training", "\n".join(parts))


def _judges(comp: Comparison) -> Section | None:
    if not comp.panels:
        return None
    rows = [
        plots.Interval(f"{label}: {p.judge_a} vs {p.judge_b}", p.kappa, p.kappa_ci_low, p.kappa_ci_high)
        for label, summary in comp.panels.items()
        for p in summary.agreement
        if p.kappa is not None
    ]
    parts = []
    if rows:
        uri = plots.interval_rows(rows, "Cohen's kappa", (min(-0.05, *(r.low or r.value for r in rows)), 1.05), 0.6)
        caption = (
            "Agreement between each pair of judges beyond chance (Cohen's kappa, 95% bootstrap interval), per model. "
            "Below the dotted line at 0.6 the judges disagree materially."
        )
        parts.append(figure("judge-agreement", uri, caption))
    parts.append(
        markdown_to_html(panel_markdown(comp.panels) + calibration_note(comp), heading_shift=1, skip_title=True)
    )
    return Section("judges", "Judge agreement", "\n".join(parts))


def _answers(comp: Comparison) -> Section | None:
    lines = answers_lines(comp)
    return Section("answers", "How the models answered", markdown_to_html(lines, skip_title=True)) if lines else None


def _excerpts(comp: Comparison) -> Section | None:
    if not comp.judges:
        return None
    return Section("excerpts", "Example completions", markdown_to_html(excerpt_lines(comp)))


def _reading(comp: Comparison) -> Section | None:
    return Section("reading", "How to read this", markdown_to_html(READING_NOTES)) if comp.judges else None
