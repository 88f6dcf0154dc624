"""Judges turn (prompt, completion) into Verdicts. See ``judges.base`` for the one polarity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunesafe.judges.base import Judge, JudgeInput

if TYPE_CHECKING:
    from tunesafe.config import JudgeSpec

__all__ = ["Judge", "JudgeInput", "judge_names", "make_judge"]


def judge_names() -> list[str]:
    from tunesafe.judges.keyword import KEYWORD_JUDGES

    return sorted(KEYWORD_JUDGES)


def make_judge(spec: JudgeSpec | str) -> Judge:
    """Build a judge from its spec (or registered name)."""
    from tunesafe.config import JudgeSpec
    from tunesafe.judges.keyword import KEYWORD_JUDGES, make_keyword_judge

    spec = JudgeSpec.model_validate(spec)
    if spec.kind in KEYWORD_JUDGES:
        return make_keyword_judge(spec.kind)
    raise ValueError(f"unknown judge {spec.kind!r}; available: {', '.join(judge_names())}")
