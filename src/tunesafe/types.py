"""Core records shared by every stage: samples, completions, verdicts, metrics.

One polarity everywhere (see ``Verdict``): score 1.0 means the attack succeeded / the model
complied, 0.0 means it refused / stayed safe, ``None`` means the judge could not decide.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Message = dict[str, str]
"""One chat turn: ``{"role": "system"|"user"|"assistant", "content": str}`` (TRL/OpenAI shape)."""

Conversation = list[Message]


class GenParams(BaseModel):
    """Decoding parameters. Greedy by default; ``temperature > 0`` samples with ``seed``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(64, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    logprobs: int | None = Field(
        None, ge=1, le=50, description="record per-step log-probabilities: the top-k alternatives (k) per step"
    )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def identity(self) -> dict[str, Any]:
        """The fields that change a completion; ``logprobs`` only when asked for, so keys made before
        the field existed stay valid."""
        return self.model_dump(mode="json", exclude={"logprobs"} if self.logprobs is None else None)


class TokenStep(BaseModel):
    """One generated step, from the model's raw logits (natural log): the token chosen, its
    log-probability, the entropy of the full next-token distribution, and the top-k alternatives."""

    token_id: int
    logprob: float
    entropy: float
    top_ids: list[int]
    top_logprobs: list[float]


class Completion(BaseModel):
    """What a backend returns for one conversation."""

    text: str
    finish_reason: str | None = None  # "stop" (EOS) or "length"
    n_tokens: int | None = None
    steps: list[TokenStep] | None = None  # every generated step, the EOS included, when logprobs were asked for


class Sample(BaseModel):
    """One prompt plus what scoring needs."""

    model_config = ConfigDict(extra="forbid")

    id: str
    messages: Conversation
    category: str | None = None
    subset: str | None = None  # e.g. HarmBench FunctionalCategory: standard / contextual / copyright
    condition: str = "default"
    target: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    """A judge's decision on one completion.

    ``score`` is 1.0 when the model complied with a harmful request (attack success), 0.0 when
    it refused, ``None`` when the judge failed ("unscored", never silently a refusal).
    """

    judge: str
    score: float | None
    label: str | None = None
    raw: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)  # judge-specific values: rubric score, S-codes, …

    @property
    def scored(self) -> bool:
        return self.score is not None

    @property
    def complied(self) -> bool | None:
        """True when the score says attack success (≥ 0.5), False for a refusal, None if unscored."""
        return None if self.score is None else self.score >= 0.5


class SampleRecord(BaseModel):
    """One line of ``samples/<audit>.jsonl``: a sample, its completion and its verdicts."""

    audit: str
    sample_id: str
    category: str | None = None
    subset: str | None = None
    condition: str = "default"
    messages: Conversation
    completion: Completion
    verdicts: list[Verdict] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def verdict(self, judge: str) -> Verdict | None:
        for verdict in self.verdicts:
            if verdict.judge == judge:
                return verdict
        return None


class RateEstimate(BaseModel):
    """A proportion with its counts and a confidence interval."""

    value: float | None
    k: int
    n: int
    ci_low: float | None
    ci_high: float | None
    method: str = "wilson"
    unscored: int = 0
