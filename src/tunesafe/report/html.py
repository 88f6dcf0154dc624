"""Comparison → one self-contained HTML page: the plain-language summary first, then charts beside the tables.

The sentences and tables are report.md's own (``markdown.py`` writes them; :func:`markdown_to_html`
turns that small Markdown subset into HTML), so both reports always say the same thing. The charts
come from ``plots.py`` as SVG ``data:`` URIs; the page loads nothing from anywhere: no external CSS,
scripts, fonts or images. Every piece of text is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from tunesafe.report import plots
from tunesafe.report.compare import Comparison
from tunesafe.report.markdown import (
    READING_NOTES,
    answers_lines,
    asr_lines,
    audit_line,
    calibration_note,
    category_lines,
    drift_lines,
    effects_section,
    excerpt_lines,
    graded_lines,
    headline_table,
    overrefusal_lines,
    paper_section,
    runs_table,
    seeds_section,
    summary_lines,
)
from tunesafe.report.sections import JudgeSection
from tunesafe.report.training_curve import first_significant_rise, render_training_curve
from tunesafe.report.truthfulness import render_truthfulness
from tunesafe.types import RateEstimate

__all__ = ["markdown_to_html", "render_html"]

TITLE = "tunesafe report: what fine-tuning did to the model"
SIGNIFICANCE = 0.05


class Section(NamedTuple):
    id: str
    title: str
    body: str


def render_html(comp: Comparison) -> str:
    """The whole page for ``comp``; sections whose data the comparison lacks are left out."""
    builders = (
        _summary, _asr, _graded, _categories, _overrefusal, _effects, _seeds, _paper, _drift, _truthfulness, _training,
        _judges, _answers, _reproducibility, _excerpts, _reading,
    )  # fmt: skip
    sections = [s for build in builders if (s := build(comp)) is not None]
    toc = "".join(f'<li><a href="#{s.id}">{_esc(s.title)}</a></li>' for s in sections)
    body = "\n".join(f'<section id="{s.id}">\n<h2>{_esc(s.title)}</h2>\n{s.body}\n</section>' for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(TITLE)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{_esc(TITLE)}</h1>\n<p class="meta">{_inline(audit_line(comp))}</p>\n'
        f'<nav class="toc" aria-label="Contents"><ol>{toc}</ol></nav>\n{body}\n</main>\n</body>\n</html>\n'
    )


# --- sections -------------------------------------------------------------------------------------------


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
    parts = [_figure("asr", uri, caption)]
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
    parts = [_figure("categories", uri, caption)]
    for s in comp.judges:
        parts += [f"<h3>Judge <code>{_esc(s.judge)}</code></h3>", markdown_to_html(category_lines(s))]
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
        parts += [_figure("safety-utility", uri, caption), markdown_to_html(headline_table(comp))]
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
        parts.append(_figure("seeds", uri, caption))
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
    parts = [_figure("drift-accuracy", plots.grouped_bars(conds, series, "accuracy (correct / answered)"), caption)]
    panels = _uncertainty_panels(comp, "entropy")
    if panels:
        caption = (
            "Entropy of the answer tokens (nats) by whether the answer was correct: boxes span the quartiles with "
            "the median line, diamonds the mean ± standard error (Kumar 2024, Table 5). Only quartiles are "
            "recorded, so no whiskers are drawn."
        )
        uri = plots.quartile_boxes(panels, ["correct", "incorrect"], "mean entropy per answer (nats)")
        parts.append(_figure("drift-uncertainty", uri, caption))
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
    parts = [_figure("training-curve", plots.curves(series, rises), caption)]
    parts += [markdown_to_html(render_training_curve(label, pts), heading_shift=0) for label, pts in runs]
    return Section("training", "Safety during training", "\n".join(parts))


def _judges(comp: Comparison) -> Section | None:
    if not comp.panels:
        return None
    from tunesafe.report.panel import panel_markdown

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
        parts.append(_figure("judge-agreement", uri, caption))
    parts.append(
        markdown_to_html(panel_markdown(comp.panels) + calibration_note(comp), heading_shift=1, skip_title=True)
    )
    return Section("judges", "Judge agreement", "\n".join(parts))


def _answers(comp: Comparison) -> Section | None:
    lines = answers_lines(comp)
    return Section("answers", "How the models answered", markdown_to_html(lines, skip_title=True)) if lines else None


def _reproducibility(comp: Comparison) -> Section:
    labels = [r["label"] for r in comp.runs]
    provenance = [r.get("provenance") or {} for r in comp.runs]
    rows: list[tuple[str, list[str]]] = [
        ("run id", [_esc(r.get("run_id")) for r in comp.runs]),
        ("created", [_esc(p.get("created")) for p in provenance]),
        ("model", [_esc(r.get("model")) for r in comp.runs]),
        *_keyed_rows("model", [p.get("model") or {} for p in provenance], skip=("source", "adapter")),
        ("seed", [_esc(p.get("seed")) for p in provenance]),
        ("decoding", [_esc(", ".join(f"{k}={v}" for k, v in (p.get("generation") or {}).items())) for p in provenance]),
        ("config hash", [_hash(p.get("config_hash")) for p in provenance]),
        *_keyed_rows("fingerprint", [p.get("fingerprints") or {} for p in provenance], _hash),
        ("chat template", [_template_note(p) for p in provenance]),
        *_judge_rows(provenance),
        *_dataset_rows(provenance),
        *_keyed_rows("version", [p.get("versions") or {} for p in provenance]),
    ]
    head = "".join(f"<th>{_esc(label)}</th>" for label in labels)
    body = "".join(f"<tr><th>{_esc(name)}</th>{''.join(f'<td>{c}</td>' for c in cells)}</tr>" for name, cells in rows)
    table = f'<div class="table-wrap"><table class="repro"><thead><tr><th></th>{head}</tr></thead>{body}</table></div>'
    note = (
        "<p>Hashes are shortened to 12 characters (hover for the full value; report.json and each run's "
        "manifest.json hold them in full). – : not recorded.</p>"
    )
    return Section("reproducibility", "Reproducibility", markdown_to_html(runs_table(comp)) + note + table)


def _template_note(provenance: dict[str, Any]) -> str:
    """The hf backend's model fingerprint hashes the tokenizer files, the chat template among them."""
    if (provenance.get("model") or {}).get("backend") == "hf":
        return "in the model fingerprint (tokenizer files hashed)"
    return "–"


def _keyed_rows(
    prefix: str, maps: Sequence[dict[str, Any]], cell: Any = None, skip: Sequence[str] = ()
) -> list[tuple[str, list[str]]]:
    """One row per key found in any run's map (``prefix key``), each run's value in its column."""
    cell = cell or _esc
    keys = [k for k in dict.fromkeys(k for m in maps for k in m) if k not in skip]
    return [(f"{prefix} {k}", [cell(m.get(k)) for m in maps]) for k in keys]


def _judge_rows(provenance: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Per audit and judge: what it measures and, for LLM judges, the prompt file's sha256."""
    keys = list(dict.fromkeys((a, j) for p in provenance for a, js in (p.get("judges") or {}).items() for j in js))
    rows = []
    for audit, judge in keys:
        cells = []
        for p in provenance:
            entry = (p.get("judges") or {}).get(audit, {}).get(judge)
            if not entry:
                cells.append("–")
                continue
            text = _esc(entry.get("measures", "?"))
            if entry.get("prompt_sha256"):
                name = entry.get("prompt_name") or "prompt"
                text += f"; {_esc(name)} {_hash(entry['prompt_sha256'])}"
            cells.append(text)
        rows.append((f"judge {judge} ({audit})", cells))
    return rows


def _dataset_rows(provenance: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    audits = list(dict.fromkeys(a for p in provenance for a in p.get("datasets") or {}))
    rows = []
    for audit in audits:
        cells = []
        for p in provenance:
            info = (p.get("datasets") or {}).get(audit)
            if not info:
                cells.append("–")
                continue
            text = _esc(info.get("name", "?"))
            if info.get("n_rows") is not None:
                text += f" ({_esc(info['n_rows'])} rows)"
            if info.get("sha256"):
                text += f" sha256 {_hash(info['sha256'])}"
            cells.append(text)
        rows.append((f"data {audit}", cells))
    return rows


def _excerpts(comp: Comparison) -> Section | None:
    if not comp.judges:
        return None
    return Section("excerpts", "Example completions", markdown_to_html(excerpt_lines(comp)))


def _reading(comp: Comparison) -> Section | None:
    return Section("reading", "How to read this", markdown_to_html(READING_NOTES)) if comp.judges else None


# --- HTML pieces ----------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return "–" if value is None else html.escape(str(value))


def _hash(value: Any) -> str:
    if not value:
        return "–"
    text = str(value)
    return f'<code title="{html.escape(text)}">{html.escape(text[:12])}</code>'


def _figure(chart_id: str, uri: str, caption: str) -> str:
    return (
        f'<figure id="chart-{chart_id}">\n<img src="{html.escape(uri)}" alt="{html.escape(caption)}">\n'
        f"<figcaption>{html.escape(caption)}</figcaption>\n</figure>"
    )


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_NUMERIC = re.compile(r"^(?:[(<>≤≥~+\-−–] ?)*\d")


def _inline(text: str) -> str:
    """Escape ``text``, then render report.md's inline marks: `code`, **bold**, *emphasis*."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _EM.sub(r"<em>\1</em>", out)


def _is_numeric(cell: str) -> bool:
    return bool(_NUMERIC.match(cell)) or cell in ("–", "(base)") or cell.startswith("– (")


def _table(rows: Sequence[str]) -> str:
    """A Markdown table (header, rule, body rows) as HTML; columns of numbers are right-aligned."""
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    header, body = cells[0], cells[2:]
    columns = [[r[i] for r in body if i < len(r) and r[i]] for i in range(len(header))]
    numeric = [bool(col) and all(map(_is_numeric, col)) and any(map(_NUMERIC.match, col)) for col in columns]

    def row_html(row: Sequence[str], tag: str) -> str:
        out = []
        for i, c in enumerate(row):
            classes = " ".join(x for x, on in (("num", i < len(numeric) and numeric[i]), ("nw", len(c) <= 40)) if on)
            attr = f' class="{classes}"' if classes else ""
            out.append(f"<{tag}{attr}>{_inline(c)}</{tag}>")
        return "".join(out)

    head = f"<thead><tr>{row_html(header, 'th')}</tr></thead>"
    rows_html = "".join(f"<tr>{row_html(r, 'td')}</tr>" for r in body)
    return f'<div class="table-wrap"><table>{head}<tbody>{rows_html}</tbody></table></div>'


def markdown_to_html(lines: Sequence[str], *, heading_shift: int = 1, skip_title: bool = False) -> str:
    """The Markdown subset report.md uses (headings, tables, bullet lists, paragraphs, inline marks) as HTML.

    ``#`` headings become ``h{n + heading_shift}``; ``skip_title`` drops a leading heading (the HTML
    section has its own title).
    """
    out: list[str] = []
    i, n = 0, len(lines)
    started = False
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            if not (skip_title and not started):
                level = min(len(heading.group(1)) + heading_shift, 6)
                out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            started = True
            i += 1
            continue
        started = True
        j = i
        if line.startswith("|"):
            while j < n and lines[j].startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
        elif line.startswith("- "):
            while j < n and lines[j].startswith("- "):
                j += 1
            out.append("<ul>" + "".join(f"<li>{_inline(x[2:])}</li>" for x in lines[i:j]) + "</ul>")
        else:
            while j < n and lines[j].strip() and not lines[j].startswith(("|", "- ", "#")):
                j += 1
            out.append(f"<p>{_inline(' '.join(lines[i:j]))}</p>")
        i = j
    return "\n".join(out)


CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 32px 72px; }
h1 { font-size: 1.75rem; line-height: 1.25; margin: 0 0 .4rem; }
h2 { font-size: 1.3rem; margin: 2.4rem 0 .7rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
h4 { font-size: .95rem; margin: 1.2rem 0 .3rem; }
p { margin: .5rem 0; }
p.meta { color: var(--muted); font-size: .92rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav.toc { margin: 1rem 0 0; padding: .55rem .9rem; border: 1px solid var(--line); border-radius: 8px;
  background: var(--soft); }
nav.toc ol { display: flex; flex-wrap: wrap; gap: .2rem 1.3rem; margin: 0; padding: 0; list-style: none;
  font-size: .9rem; counter-reset: toc; }
nav.toc li { counter-increment: toc; }
nav.toc li::before { content: counter(toc) ". "; color: var(--muted); }
section#summary ul { padding-left: 1.2rem; }
section#summary li { margin: .45rem 0; }
ul { padding-left: 1.3rem; }
li { margin: .25rem 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .86em;
  background: var(--soft); padding: .05em .3em; border-radius: 4px; }
.table-wrap { overflow-x: auto; margin: .6rem 0 1.1rem; }
table { border-collapse: collapse; font-size: .84rem; }
th, td { border: 1px solid var(--line); padding: .32rem .6rem; text-align: left; vertical-align: top; }
thead th { background: var(--soft); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
.nw { white-space: nowrap; }
table.repro th { background: var(--soft); font-weight: 600; white-space: nowrap; }
table.repro td { font-size: .82rem; }
figure { margin: 1rem 0 1.4rem; padding: .9rem; border: 1px solid var(--line); border-radius: 8px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: .55rem; color: var(--muted); font-size: .86rem; }
"""
