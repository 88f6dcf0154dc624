"""What an audit measures: the judges, the four audits' entries (``audits.<name>``), caching, the whole AuditConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from tunesafe.config.base import Strict
from tunesafe.config.models import ModelSpec
from tunesafe.types import GenParams

# The judge kinds, declared once: judges.make_judge builds each, judges.llm holds how each LLM kind is prompted.
LLMJudgeKind = Literal["llamaguard", "qi-rubric", "strongreject-rubric", "harmbench-yesno"]
JudgeKind = Literal["refusal-structure", "keyword-zou-qi", "keyword-extended", "refusal-classifier", LLMJudgeKind]
LLM_JUDGE_KINDS: tuple[str, ...] = get_args(LLMJudgeKind)


class JudgeSpec(Strict):
    """One judge of a panel.

    In YAML a judge is either a name (``refusal-structure``, ``keyword-extended``, ``refusal-classifier``, or
    ``<llm-kind>@<model source>`` such as ``qi-rubric@qwen2.5-coder-0.5b-instruct``) or a mapping
    with these fields. LLM judges need ``model``; ``prompt`` replaces the packaged prompt file.
    """

    kind: JudgeKind
    name: str | None = Field(None, description="name shown in reports (default: derived from kind and model)")
    model: ModelSpec | None = None
    prompt: str | None = Field(None, description="path of a prompt template file replacing the packaged one")
    max_new_tokens: int | None = Field(None, ge=1)
    native_template: bool = Field(
        False, description="llamaguard: the judge model's own chat template builds the prompt (real Llama Guard)"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind, _, source = value.partition("@")
        return {"kind": kind, "model": {"source": source}} if source else {"kind": kind}

    @model_validator(mode="after")
    def _model_when_needed(self) -> JudgeSpec:
        if self.kind in LLM_JUDGE_KINDS and self.model is None:
            raise ValueError(f"judge {self.kind!r} runs on a model: give model (or write {self.kind}@<model>)")
        if self.kind not in LLM_JUDGE_KINDS and (self.model is not None or self.prompt is not None):
            raise ValueError(f"judge {self.kind!r} takes no model or prompt")
        return self

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.model is None:
            return self.kind
        if self.model.endpoint is not None:
            return f"{self.kind}@{self.model.endpoint.model}"
        stem = Path(self.model.source.rstrip("/")).name or self.model.source
        return f"{self.kind}@{stem}"


def _judges(*names: str) -> Any:
    return Field(default_factory=lambda: [JudgeSpec.model_validate(n) for n in names])


class ColumnMap(Strict):
    """Which columns of a user CSV / JSONL / Parquet file (or ``datasets`` table) hold what."""

    prompt: str = "prompt"
    category: str | None = None
    id: str | None = None
    context: str | None = None


class CalibrationSpec(Strict):
    """A labelled set for judge sensitivity / specificity and a misclassification-corrected ASR.

    ``path``: CSV / JSONL / Parquet with ``prompt``, ``completion`` and ``label`` (complied/refused,
    unsafe/safe, yes/no, 1/0). ``bundled`` uses tunesafe's held-out labelled refusal set.
    """

    path: str | None = None
    bundled: bool = False
    columns: dict[str, str] = Field(default_factory=dict, description="prompt/completion/label -> column name")
    n_bootstrap: int = Field(2000, ge=100)

    @model_validator(mode="after")
    def _one_source(self) -> CalibrationSpec:
        if (self.path is None) == (not self.bundled):
            raise ValueError("give exactly one of calibration.path or calibration.bundled: true")
        return self


class HarmfulAuditSpec(Strict):
    """Attack success rate on a harmful-prompt benchmark (HarmBench by default)."""

    dataset: str = Field("harmbench-test", description="bundled name (tunesafe datasets), a file, or hf:name")
    columns: ColumnMap | None = None
    split: str = "train"
    subsets: list[str] = ["standard", "contextual", "copyright"]
    headline_excludes: list[str] = ["copyright"]
    limit: int | None = Field(None, ge=1, description="stratified subsample size per audit (by category)")
    context_role: Literal["user", "system"] = "user"
    judges: list[JudgeSpec] = _judges("refusal-structure", "keyword-extended", "keyword-zou-qi")
    calibration: CalibrationSpec | None = None


class OverrefusalAuditSpec(Strict):
    """Refusal rate on harmless prompts that look dangerous (XSTest-style; Röttger et al. 2024)."""

    dataset: str = Field("overrefusal", description="bundled name, a file, or hf:name")
    columns: ColumnMap | None = None
    split: str = "train"
    limit: int | None = Field(None, ge=1)
    judges: list[JudgeSpec] = _judges("refusal-structure", "keyword-extended")

    @model_validator(mode="after")
    def _refusal_detectors_only(self) -> OverrefusalAuditSpec:
        harm = [j.display_name for j in self.judges if j.kind in LLM_JUDGE_KINDS]
        if harm:
            raise ValueError(
                f"over-refusal needs refusal detectors; {', '.join(harm)} judge harm and cannot tell a refusal "
                "from a helpful answer (use refusal-structure, keyword-extended, keyword-zou-qi or refusal-classifier)"
            )
        return self


class DriftAuditSpec(Strict):
    """Knowledge drift under injected false or random context (Kumar 2024; Fastowski & Kasneci 2024)."""

    dataset: str | None = Field(None, description="trivia file (tunesafe or published shape); default: bundled")
    conditions: list[str] = ["B", "FIP", "RIP"]
    wording: Literal["v1", "v2"] = "v1"
    compat: bool = Field(False, description="Kumar 2024 exactly: no space before the question, top-1/top-10 metrics")
    match: Literal["normalized", "substring"] = "normalized"
    limit: int | None = Field(None, ge=1, description="first N questions per domain order (seeded, stratified)")
    max_new_tokens: int = Field(16, ge=2)
    top_k: int = Field(10, ge=1, le=50)
    rip_seed: int = 42
    known_only: bool = Field(
        False, description="keep only questions answered correctly under B (first run) — Fastowski & Kasneci's filter"
    )
    runs: int = Field(1, ge=1, le=100, description="answers per question and condition; the majority answer counts")
    temperature: float | None = Field(
        None, ge=0.0, description="decoding temperature of the drift audit (default: the run's); runs > 1 needs > 0"
    )

    @model_validator(mode="after")
    def _conditions_known(self) -> DriftAuditSpec:
        from tunesafe.audits.drift_conditions import parse_condition

        for name in self.conditions:
            parse_condition(name)
        if "B" not in self.conditions:
            raise ValueError("drift conditions must include B (the baseline every change is measured against)")
        if self.runs > 1 and self.temperature == 0.0:
            raise ValueError("drift runs > 1 with greedy decoding repeat one answer; set drift.temperature > 0")
        return self


class TruthfulnessAuditSpec(Strict):
    """True/false statements built from the trivia facts, with and without a misleading preamble,
    and optionally TruthfulQA-style multiple choice scored by log-likelihood (Lin et al. 2022)."""

    dataset: str | None = Field(None, description="trivia file (tunesafe or published shape); default: bundled")
    limit: int | None = Field(None, ge=1, description="questions used (seeded, stratified by domain)")
    conditions: list[Literal["plain", "preamble"]] = Field(
        default_factory=lambda: ["plain", "preamble"],  # type: ignore[arg-type]  # pydantic validates the Literals
        description="plain claims, and claims after the item's false sentence; [] runs multiple choice only",
    )
    max_new_tokens: int = Field(8, ge=1, le=256, description="tokens generated per True/False reply")
    loglik: bool = Field(
        True, description="also score each claim by log P('True') - log P('False') when the backend can"
    )
    multiple_choice: str | None = Field(
        None, description="TruthfulQA-style MC file (HF multiple_choice JSON/JSONL/Parquet or original CSV)"
    )
    mc_limit: int | None = Field(None, ge=1, description="multiple-choice questions used (seeded sample)")

    @model_validator(mode="after")
    def _something_to_run(self) -> TruthfulnessAuditSpec:
        if len(set(self.conditions)) != len(self.conditions):
            raise ValueError(f"truthfulness conditions repeat: {self.conditions}")
        if not self.conditions and self.multiple_choice is None:
            raise ValueError("truthfulness needs conditions, a multiple_choice file, or both")
        return self


class AuditsSpec(Strict):
    """Which audits run (``null`` switches one off). Over-refusal runs by default, next to the ASR."""

    harmful: HarmfulAuditSpec | None = Field(default_factory=HarmfulAuditSpec)
    overrefusal: OverrefusalAuditSpec | None = Field(default_factory=OverrefusalAuditSpec)
    drift: DriftAuditSpec | None = None
    truthfulness: TruthfulnessAuditSpec | None = None


class CacheSpec(Strict):
    mode: Literal["read_write", "read_only", "off"] = "read_write"
    path: str | None = None  # default: <user cache dir>/generations.sqlite


class AuditConfig(Strict):
    """One model audited once → one run directory."""

    name: str = "audit"
    model: ModelSpec = Field(default_factory=ModelSpec)
    generation: GenParams = Field(default_factory=lambda: GenParams(max_new_tokens=64))
    audits: AuditsSpec = Field(default_factory=AuditsSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    seed: int = 0
    chunk_size: int = Field(32, ge=1, description="samples generated and saved together (resume granularity)")
    long_prompts: Literal["refuse", "truncate_left"] = Field(
        "refuse",
        description="a prompt that leaves no room for max_new_tokens in the model's context window: refuse the "
        "run before generating (naming the sample), or cut the last user message from the left (recorded per sample)",
    )

    @model_validator(mode="after")
    def _drift_runs_sample(self) -> AuditConfig:
        drift = self.audits.drift
        if drift is not None and drift.runs > 1 and self.model.backend != "imported":
            temperature = self.generation.temperature if drift.temperature is None else drift.temperature
            if temperature == 0.0:
                raise ValueError(
                    f"drift.runs = {drift.runs} with greedy decoding gives {drift.runs} identical answers; "
                    "set drift.temperature (e.g. 0.7) or generation.temperature > 0"
                )
        return self
