"""The comparison's sections per audit: rows of rates and paired changes that the renderers read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tunesafe.report.build.changes import Change
from tunesafe.stats import PairedScoreDifference
from tunesafe.types import RateEstimate


class ModelRow(BaseModel):
    run: str
    name: str
    model: str
    asr: RateEstimate
    change: Change | None = None
    by_subset: dict[str, RateEstimate] = Field(default_factory=dict)
    completions: dict[str, Any] = Field(default_factory=dict)


class CategoryRow(BaseModel):
    category: str
    rates: dict[str, RateEstimate]
    changes: dict[str, Change]


class JudgeSection(BaseModel):
    judge: str
    models: list[ModelRow]
    categories: list[CategoryRow]


class Excerpt(BaseModel):
    run: str
    sample_id: str
    category: str | None
    label: str | None
    text: str


class OverrefusalSection(BaseModel):
    """Refusal rate on harmless look-alike prompts per model, with paired changes vs the base."""

    judge: str
    n_aligned: int
    models: list[ModelRow]  # ``asr`` holds the refusal rate here; ``change`` is in refusal rate
    categories: list[CategoryRow]
    by_judge: dict[str, dict[str, RateEstimate]] = Field(default_factory=dict)  # model -> judge -> rate


class DriftRow(BaseModel):
    """One model's drift: accuracy per condition, paired change vs the base per condition, B → FIP drop."""

    name: str
    accuracy: dict[str, RateEstimate]
    change: dict[str, Change] = Field(default_factory=dict)  # vs the base model, same condition, paired
    uncertainty: dict[str, Any] = Field(default_factory=dict)  # condition -> metric -> correct/incorrect summary
    # condition -> metric -> paired change vs the base on the shared questions (paired bootstrap; empty for the base)
    uncertainty_change: dict[str, dict[str, PairedScoreDifference]] = Field(default_factory=dict)


class DriftSection(BaseModel):
    """Knowledge drift of every run on the questions all of them answered (Kumar 2024)."""

    conditions: list[str]
    n_questions: int
    models: list[DriftRow]
