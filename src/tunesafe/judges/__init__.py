"""Judges turn (prompt, completion) into Verdicts. See ``judges.base`` for the one polarity.

Families (one file each): keyword refusal lists (``keyword``), the MiniLM refusal classifier
(``classifier``), and LLM judges over any backend (``llm``: Llama Guard format, Qi et al. rubric,
StrongREJECT rubric, HarmBench-style yes/no). ``judges.panel.JudgePanel`` builds a panel from specs, runs LLM
judges on their own (cached) backends and closes them afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunesafe.judges.base import Judge, JudgeInput

if TYPE_CHECKING:
    from tunesafe.backends.base import Backend
    from tunesafe.config import JudgeSpec

__all__ = ["Judge", "JudgeInput", "judge_kinds", "make_judge", "measures"]


def judge_kinds() -> list[str]:
    from typing import get_args

    from tunesafe.config import JudgeKind

    return list(get_args(JudgeKind))


def measures(judge: Judge) -> str:
    """``"refusal"`` for refusal detectors (keyword, classifier), ``"harm"`` for harm judges (LLM rubrics)."""
    return getattr(judge, "measures", "harm")


def make_judge(spec: JudgeSpec | str, *, backend: Backend | None = None) -> Judge:
    """Build one judge from its spec (or name). LLM judges need ``backend``: the judge model."""
    from tunesafe.config import LLM_JUDGE_KINDS, JudgeSpec

    spec = JudgeSpec.model_validate(spec)
    if spec.kind in ("keyword-zou-qi", "keyword-extended"):
        from tunesafe.judges.keyword import make_keyword_judge

        return make_keyword_judge(spec.kind)
    if spec.kind == "refusal-classifier":
        from tunesafe.judges.classifier import RefusalClassifierJudge

        return RefusalClassifierJudge()
    if spec.kind == "refusal-structure":
        from tunesafe.judges.structure import StructureRefusalJudge

        return StructureRefusalJudge()
    if spec.kind in LLM_JUDGE_KINDS:
        if backend is None:
            raise ValueError(f"judge {spec.display_name!r} needs a backend for its model")
        from pathlib import Path

        from tunesafe.judges.llm import LLMJudge

        return LLMJudge(
            spec.kind,
            backend,
            name=spec.display_name,
            prompt_file=Path(spec.prompt).expanduser() if spec.prompt else None,
            max_new_tokens=spec.max_new_tokens,
            native_template=spec.native_template,
        )
    raise ValueError(f"unknown judge {spec.kind!r}; available: {', '.join(judge_kinds())}")
