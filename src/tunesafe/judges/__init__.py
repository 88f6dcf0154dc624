"""Judges turn (prompt, completion) into Verdicts. See ``judges.base`` for the one polarity."""

from __future__ import annotations

from tunesafe.judges.base import Judge, JudgeInput

__all__ = ["Judge", "JudgeInput", "judge_names", "make_judge"]


def judge_names() -> list[str]:
    from tunesafe.judges.keyword import KEYWORD_JUDGES

    return sorted(KEYWORD_JUDGES)


def make_judge(name: str) -> Judge:
    """Build a judge by its registered name."""
    from tunesafe.judges.keyword import KEYWORD_JUDGES, make_keyword_judge

    if name in KEYWORD_JUDGES:
        return make_keyword_judge(name)
    raise ValueError(f"unknown judge {name!r}; available: {', '.join(judge_names())}")
