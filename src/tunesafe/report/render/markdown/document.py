"""Comparison → Markdown a model owner can read: the headline change first, then the tables."""

from __future__ import annotations

from typing import Any

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.sections import JudgeSection, ModelRow
from tunesafe.report.render.markdown.drift import drift_lines
from tunesafe.report.render.markdown.effects import effects_section
from tunesafe.report.render.markdown.graded import graded_lines
from tunesafe.report.render.markdown.harmful import asr_lines, category_lines, headline_table, overrefusal_lines
from tunesafe.report.render.markdown.panel import panel_markdown
from tunesafe.report.render.markdown.paper import paper_section
from tunesafe.report.render.markdown.seeds import seeds_section
from tunesafe.report.render.markdown.summary import vs_base_lines
from tunesafe.report.render.markdown.training import render_training_curve
from tunesafe.report.render.markdown.truthfulness import render_truthfulness
from tunesafe.report.render.table import md_table

__all__ = [
    "READING_NOTES",
    "answers_lines",
    "audit_line",
    "calibration_note",
    "completions_table",
    "excerpt_lines",
    "render_markdown",
    "runs_table",
]


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


def _harmful_part(comp: Comparison) -> list[str]:
    """Summary, the ASR / over-refusal headline table, the judge panel and the per-judge ASR sections."""
    out = [
        audit_line(comp),
        "",
        "## Summary",
        "",
        *(vs_base_lines(comp) or ["- Only one run: nothing to compare against."]),
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


def completions_table(section: JudgeSection) -> list[str]:
    header = ["model", "mean tokens", "stopped by itself", "hit the length limit", "empty", "degenerate: unscored"]
    return md_table([*header, "looped after content: judged up to the loop"], map(_completions_row, section.models))


def _completions_row(row: ModelRow) -> list[object]:
    c = row.completions
    n, stopped = c.get("n") or 0, c.get("stopped")
    return [row.name, c.get("mean_tokens"), f"{stopped}/{n}", f"{n - (stopped or 0)}/{n}"] + [
        c.get("empty"),
        c.get("degenerate"),
        c.get("trimmed", "–"),
    ]


def runs_table(comp: Comparison) -> list[str]:
    """The runs compared: label, model, directory, status and the adapter-applied probe."""
    rows = [
        [r["label"], r["model"], f"`{r['path']}`", r["status"], _probe_cell(r.get("adapter_probe"))] for r in comp.runs
    ]
    return md_table(["label", "model", "run directory", "status", "adapter probe"], rows)


def _probe_cell(probe: dict[str, Any] | None) -> str:
    """The adapter-applied check (docs/probe.md): KL(base‖tuned) on fixed prompts, or a loud flag."""
    if probe is None:
        return "–"
    if probe["identical"]:
        return "**adapter changes nothing: the base model was audited**"
    return f"KL {probe['mean_kl']:.3g} nats (max {probe['max_kl']:.3g}), top-1 changed {probe['top1_changed']:.0%}"


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
