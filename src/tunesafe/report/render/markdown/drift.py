""" "## Knowledge drift": accuracy per prompt condition, answer uncertainty, and the seed paper's Tables 4
and 5 (Kumar 2024) filled with these runs."""

from __future__ import annotations

from typing import cast

from tunesafe.report.build.sections import DriftRow, DriftSection
from tunesafe.report.render.fmt import fmt_rate, p_phrase
from tunesafe.report.render.markdown.uncertainty import uncertainty_change_lines
from tunesafe.report.render.table import md_table

__all__ = ["PAPER_TABLE_4", "drift_lines", "paper_cell"]


def drift_lines(section: DriftSection) -> list[str]:
    conds = section.conditions
    lines = [
        "## Knowledge drift",
        "",
        f"{section.n_questions} trivia questions asked plainly (B), after a false sentence asserting a wrong answer "
        "(FIP, ×n when repeated) and after another question's false sentence (RIP). Accuracy = correct / answered; "
        "changes vs the base are paired on the same questions (exact McNemar p).",
        "",
        *md_table(
            ["model", *(f"{c} accuracy [95% CI]" for c in conds)],
            [[row.name, *(_accuracy_cell(row, c) for c in conds)] for row in section.models],
        ),
    ]
    fips = [c for c in conds if c.startswith("FIP")]
    if "B" in conds and fips:
        drops = [[row.name, *(_drop(row, c) for c in fips)] for row in section.models]
        lines += ["", *md_table(["model", *(f"drop B → {c}" for c in fips)], drops)]
    lines += [
        "",
        "Entropy of the answer tokens (nats), by whether the answer was correct: mean ± standard error, then the "
        "median and quartiles of its distribution:",
        "",
    ]
    entropy = [
        [row.name, c, *(_mean_se(row.uncertainty.get(c, {}).get("entropy", {}).get(g, {})) for g in _GROUPS)]
        for row in section.models
        for c in conds
    ]
    lines += md_table(["model", "condition", "correct", "incorrect"], entropy)
    paired = {row.name: row.uncertainty_change for row in section.models[1:]}
    changes = uncertainty_change_lines(paired, section.models[0].name) if section.models else []
    return [*lines, "", *changes, *_paper_tables(section)]


_GROUPS = ("correct", "incorrect")


def _accuracy_cell(row: DriftRow, condition: str) -> str:
    """The accuracy under ``condition``, then the paired change vs the base where there is one."""
    cell = fmt_rate(row.accuracy[condition])
    change = row.change.get(condition)
    if change is not None and change.difference is not None:
        cell += f"; {100 * change.difference:+.1f} pp vs base ({p_phrase(change.p_value)})"
    return cell


def _drop(row: DriftRow, condition: str) -> str:
    """Accuracy lost from B to ``condition``, in points."""
    b, value = row.accuracy["B"].value, row.accuracy[condition].value
    return "–" if b is None or value is None else f"{100 * (b - value):.1f} pp"


# Kumar 2024 (arXiv 2409.19476) Table 4, for reference beside tunesafe's numbers.
PAPER_TABLE_4 = "Base 55.1 / 49.2 / 48.0; harmful FT 52.1 / 29.1 / 48.8; safe FT 55.5 / 44.4 / 45.2"


_TABLE_5_METRICS = (("perplexity", "PPL"), ("entropy", "H"), ("probability", "TP"))


def _paper_tables(section: DriftSection) -> list[str]:
    """The seed paper's Tables 4 and 5 (Kumar 2024), filled with these runs' numbers."""
    conds = section.conditions
    table_4 = [[row.name, *(_points(row.accuracy[c].value) for c in conds)] for row in section.models]
    table_5 = [
        [
            row.name,
            c,
            *(
                paper_cell(row.uncertainty.get(c, {}).get(metric, {}).get(group, {}))
                for group in _GROUPS
                for metric, _ in _TABLE_5_METRICS
            ),
        ]
        for row in section.models
        for c in conds
    ]
    header_5 = [f"{group.capitalize()} {h}" for group in _GROUPS for _, h in _TABLE_5_METRICS]
    lines = [
        "### The seed paper's layout (Kumar 2024, Tables 4 and 5)",
        "",
        "Table 4 — accuracy (%) per prompt condition:",
        "",
        *md_table(["Model", *conds], table_4),
        "",
        f"The paper (Llama-3.1-8B-Instruct, 1,000 TriviaQA questions, B / FIP / RIP): {PAPER_TABLE_4}.",
        "",
        "Table 5 — uncertainty of the answers, mean ± standard error (population std / √n), by correctness. "
        "PPL: perplexity of the answer tokens; H: mean per-step entropy in nats (full distribution; top-10 in "
        "compat mode, as the paper); TP: mean probability of the generated token (top-1 in compat mode).",
        "",
        *md_table(["Model", "Prompt", *header_5], table_5),
    ]
    return [*lines, ""]


def _points(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def paper_cell(summary: dict[str, object]) -> str:
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
