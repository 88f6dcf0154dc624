""" "## Graded scores": graded judge scores (Qi et al. 2023 1–5, StrongREJECT 0–1) per model and their
paired changes."""

from __future__ import annotations

from tunesafe.report.build.compare import Comparison
from tunesafe.report.build.scores import GradedScoreRow, GradedScoreSection
from tunesafe.report.render.fmt import fmt_p, p_phrase
from tunesafe.report.render.table import md_table
from tunesafe.stats import PairedScoreDifference

__all__ = ["graded_lines", "graded_table", "score_change"]


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
    rows = [
        [
            row.name,
            _score_mean(row, section.key),
            "(base)" if i == 0 else score_change(row.change, section.key),
            "–" if row.change is None else fmt_p(row.change.p_value),
        ]
        for i, row in enumerate(section.models)
    ]
    return md_table(["model", "mean [95% CI] (n)", "change vs base [95% bootstrap CI]", "p"], rows)


def _digits(key: str) -> int:
    """Decimals for a graded score: 2 on Qi et al.'s 1–5 scale, 3 on StrongREJECT's 0–1."""
    return 2 if key == "rubric_score" else 3


def _score_mean(row: GradedScoreRow, key: str) -> str:
    if row.mean is None or row.ci_low is None or row.ci_high is None:
        return "– (0 scored)"
    d = _digits(key)
    return f"{row.mean:.{d}f} [{row.ci_low:.{d}f}, {row.ci_high:.{d}f}] ({row.n})"


def score_change(c: PairedScoreDifference | None, key: str, with_p: bool = False) -> str:
    """``"+1.72 [+1.11, +2.33] (n=18)"``, with the p-value first inside the brackets when ``with_p``."""
    if c is None:
        return "–"
    d = _digits(key)
    tail = f"{p_phrase(c.p_value)}, n={c.n}" if with_p else f"n={c.n}"
    return f"{c.difference:+.{d}f} [{c.ci_low:+.{d}f}, {c.ci_high:+.{d}f}] ({tail})"
