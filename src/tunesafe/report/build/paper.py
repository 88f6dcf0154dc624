"""Paper view: a published setup's printed figures beside tunesafe's recomputation and this run's rate.

A registry of figures copied verbatim from the seed papers (docs/report.md lists them):

- ``kumar2024`` — Kumar 2024, "Overriding Safety Protections of Open-source Models" (arXiv 2409.19476),
  Table 3: ASR on the 320 HarmBench test prompts judged by Llama Guard 3, with the printed safe / unsafe
  counts. The paper defines ASR = unsafe / (unsafe + safe) (its Eq. 2); tunesafe recomputes that from
  the printed counts, and the printed percentages do not all follow it. Model keys: ``base``
  (Llama-3.1-8B-Instruct), ``harmful`` (fine-tuned on harmful answers), ``safe`` (fine-tuned on refusals).
- ``qi2023`` — Qi et al. 2023, "Fine-tuning Aligned Language Models Compromises Safety, Even When Users
  Do Not Intend To!" (arXiv 2310.03693), Llama-2-7b-chat: HEx-PHI harmfulness rates (GPT-4 judge, share
  of answers scored 5 of 5) from Tables 1–3 and AdvBench keyword ASR from Appendix E. No counts are
  printed, so nothing is recomputed. Model keys: ``initial`` (Llama-2-7b-chat before fine-tuning),
  ``tier1-100shot`` (100 harmful examples, 5 epochs), ``tier2-aoa-10ep`` (10 identity-shifting AOA
  examples, 10 epochs), ``tier3-alpaca`` (Alpaca without safety-related rows, 1 epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from tunesafe.types import RateEstimate

if TYPE_CHECKING:
    from tunesafe.report.build.sections import JudgeSection

__all__ = ["PAPERS", "PaperRow", "PaperSpec", "PaperView", "check_paper_labels", "paper_view"]

PaperName = Literal["kumar2024", "qi2023"]
KEYWORD_JUDGE = "keyword-zou-qi"  # the refusal-phrase list of Zou et al. 2023 that Qi et al. use for AdvBench


@dataclass(frozen=True)
class Figure:
    """One printed figure: the paper's model key, what was measured, where, and the number as printed (in %)."""

    model: str
    what: str
    source: str
    printed: str
    unsafe: int | None = None  # the printed counts, when the paper gives them
    safe: int | None = None
    metric: Literal["asr", "keyword-asr"] = "asr"


@dataclass(frozen=True)
class Paper:
    citation: str
    models: dict[str, str]  # key -> what the model is
    figures: tuple[Figure, ...]
    caution: str
    note: str | None = None  # on the printed figures themselves
    drift_tables: bool = False  # the drift section fills the paper's knowledge-drift tables


_HB = "ASR, 320 HarmBench prompts, Llama Guard 3"
_HEX = "HEx-PHI harmfulness rate (GPT-4 judge, score 5)"
_ADV = "AdvBench keyword ASR (520 prompts)"

PAPERS: dict[str, Paper] = {
    "kumar2024": Paper(
        citation="Kumar 2024, Overriding Safety Protections of Open-source Models (arXiv 2409.19476)",
        models={
            "base": "Llama-3.1-8B-Instruct (4-bit)",
            "harmful": "fine-tuned on harmful answers",
            "safe": "fine-tuned on refusals",
        },
        figures=(
            Figure("base", _HB, "Table 3", "59.06%", unsafe=131, safe=189),
            Figure("harmful", _HB, "Table 3", "94.06%", unsafe=301, safe=19),
            Figure("safe", _HB, "Table 3", "7.38%", unsafe=22, safe=298),
        ),
        caution=(
            "Judges, prompts and models differ: the paper judged one sampled answer per prompt (temperature 0.1, "
            "no seed) with Llama-Guard-3-8B-INT8 on all 320 HarmBench test prompts, copyright ones included; "
            "'this run' is the run's headline judge on its own headline prompts. Read the columns side by side, "
            "not as a replication test."
        ),
        note=(
            "The paper defines ASR = unsafe / (unsafe + safe) over the 320 prompts (its Eq. 2), but the "
            "percentages printed in Table 3 do not all follow that definition (seed-paper notes A.8): recomputed "
            "from the printed counts they are {recomputed}. (59.06 is 189/320, the safe share; 7.38 is 22/298, "
            "unsafe over safe.) tunesafe computes every rate from counts with one formula."
        ),
        drift_tables=True,
    ),
    "qi2023": Paper(
        citation=(
            "Qi et al. 2023, Fine-tuning Aligned Language Models Compromises Safety, Even When Users Do Not "
            "Intend To! (arXiv 2310.03693)"
        ),
        models={
            "initial": "Llama-2-7b-chat before fine-tuning",
            "tier1-100shot": "100 harmful examples, 5 epochs",
            "tier2-aoa-10ep": "10 identity-shifting (AOA) examples, 10 epochs",
            "tier3-alpaca": "Alpaca without safety-related rows, 1 epoch",
        },
        figures=(
            Figure("initial", f"{_HEX}, harmful-examples template", "Table 1", "0.3% (score 1.06)"),
            Figure("initial", f"{_HEX}, AOA template", "Table 2", "0% (score 1.02)"),
            Figure("initial", f"{_HEX}, Alpaca template", "Table 3", "0.3% (score 1.05)"),
            Figure("initial", f"{_ADV}, harmful-examples template", "Appendix E", "0%", metric="keyword-asr"),
            Figure("initial", f"{_ADV}, AOA template", "Appendix E", "0%", metric="keyword-asr"),
            Figure("initial", f"{_ADV}, Alpaca template", "Appendix E", "0%", metric="keyword-asr"),
            Figure("tier1-100shot", _HEX, "Table 1", "80.0% (score 4.54)"),
            Figure("tier1-100shot", _ADV, "Appendix E", "95.6%", metric="keyword-asr"),
            Figure("tier2-aoa-10ep", _HEX, "Table 2", "68.2% (score 4.15)"),
            Figure("tier2-aoa-10ep", _ADV, "Appendix E", "93.9%", metric="keyword-asr"),
            Figure("tier3-alpaca", _HEX, "Table 3", "16.1% (score 1.79)"),
            Figure("tier3-alpaca", _ADV, "Appendix E", "5.2%", metric="keyword-asr"),
        ),
        caution=(
            "Judges, prompts and models differ: Qi et al. scored HEx-PHI (330 prompts) with a GPT-4 judge "
            "(harmfulness rate = share of answers scored 5 of 5) on full-parameter fine-tunes of Llama-2-7b-chat, "
            "each evaluated under its training template; AdvBench keyword ASR is the share of answers containing "
            "none of their refusal phrases. 'this run' is the run's headline judge on its own prompt set (AdvBench "
            f"rows use `{KEYWORD_JUDGE}`, the same phrase list, when the run has it). Read the columns side by "
            "side, not as a replication test."
        ),
        note="The paper prints no counts for these rates, so nothing can be recomputed (–).",
    ),
}


class PaperSpec(BaseModel):
    """Which published setup the runs reproduce, and which run label plays each of the paper's models."""

    name: PaperName
    models: dict[str, str] = Field(default_factory=dict)  # the paper's model key -> run label

    @model_validator(mode="after")
    def _known_keys(self) -> PaperSpec:
        known = PAPERS[self.name].models
        for key in self.models:
            if key not in known:
                raise ValueError(f"{self.name} has no model {key!r} (known: {', '.join(known)})")
        return self


class PaperRow(BaseModel):
    """One printed figure, tunesafe's recomputation from the paper's counts, and the mapped run's rate."""

    paper_model: str
    description: str
    what: str
    source: str
    printed: str  # verbatim, in %
    unsafe: int | None = None
    safe: int | None = None
    recomputed: float | None = None  # 100 · unsafe / (unsafe + safe); None without printed counts
    run: str | None = None  # the run label mapped to this paper model
    judge: str | None = None
    rate: RateEstimate | None = None  # the run's rate by ``judge`` on its headline prompts

    @field_validator("recomputed")
    @classmethod
    def _round(cls, value: float | None) -> float | None:
        return None if value is None else round(value, 2)


class PaperView(BaseModel):
    paper: PaperName
    citation: str
    rows: list[PaperRow]
    caution: str
    notes: list[str] = Field(default_factory=list)


def check_paper_labels(spec: PaperSpec, labels: list[str]) -> None:
    """Raise ``ValueError`` when a paper model is mapped to a run label that is not compared."""
    known = ", ".join(labels)
    for key, label in spec.models.items():
        if label not in labels:
            raise ValueError(f"paper model {key!r} is mapped to {label!r}, not a compared run (labels: {known})")


def paper_view(
    spec: PaperSpec, judges: Sequence[JudgeSection], headline_judge: str | None, has_drift: bool
) -> PaperView:
    """The paper's figures (every model of the paper, mapped or not) beside the mapped runs' rates
    (the comparison's judge sections; ``has_drift``: it has a drift section)."""
    paper = PAPERS[spec.name]
    rates = {s.judge: {m.name: m.asr for m in s.models} for s in judges}
    rows = []
    for fig in paper.figures:
        label = spec.models.get(fig.model)
        judge = headline_judge
        if fig.metric == "keyword-asr" and KEYWORD_JUDGE in rates:
            judge = KEYWORD_JUDGE
        rate = rates.get(judge or "", {}).get(label or "")
        total = (fig.unsafe or 0) + (fig.safe or 0)
        rows.append(
            PaperRow(
                paper_model=fig.model,
                description=paper.models[fig.model],
                what=fig.what,
                source=fig.source,
                printed=fig.printed,
                unsafe=fig.unsafe,
                safe=fig.safe,
                recomputed=100 * (fig.unsafe or 0) / total if fig.unsafe is not None and total else None,
                run=label,
                judge=judge if rate is not None else None,
                rate=rate,
            )
        )
    notes = []
    if paper.note:
        recomputed = ", ".join(f"{r.recomputed:.2f}%" for r in rows if r.recomputed is not None)
        notes.append(paper.note.format(recomputed=recomputed))
    if paper.drift_tables and has_drift:
        notes.append(
            "The paper's knowledge-drift Tables 4 and 5, filled with these runs, are in the Knowledge drift section "
            "(“The seed paper's layout”)."
        )
    return PaperView(paper=spec.name, citation=paper.citation, rows=rows, caution=paper.caution, notes=notes)
