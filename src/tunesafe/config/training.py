"""A fine-tune: the data (recipes, user tables, mixes), LoRA, screening, safety during training, TrainConfig."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from tunesafe.config.base import Strict
from tunesafe.config.models import ModelSpec

# The training-data recipes, declared once (data.recipes builds them).
RecipeName = Literal["harmful-prefix", "refusal", "identity-shift", "benign"]


class LoraSpec(Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class DataSpec(Strict):
    """Training data: a built-in recipe or the user's data, optionally mixed (see ``docs/tiers.md``).

    Sources (exactly one of ``recipe`` / ``path``):

    - ``recipe``: ``harmful-prefix`` (k-shot, k = ``n_examples``), ``refusal``, ``identity-shift``
      (Qi et al. 2023's AOA tier, authored; its system prompt is the default ``system_prompt``)
      or ``benign`` (authored benign instructions); ``n_examples`` rows in all, mix included.
    - ``path`` without ``columns``: a TRL ``messages`` JSONL file, used whole.
    - ``path`` with ``columns`` (``{prompt: ..., response: ...}``, optionally ``system``, ``id``,
      ``category``) and ``role`` (``harmful``, ``safe`` or ``benign``): any CSV / TSV / JSONL /
      JSON / Parquet file or ``hf:<name>`` (``split``), used whole.

    Mixes: ``harmful_fraction`` p of harmful-prefix rows and ``safety_fraction`` q of refusal rows
    in the final set (Qi et al. 2023 Sec. 5 mixes safety examples in), seeded by ``seed``.
    """

    recipe: RecipeName | None = "harmful-prefix"
    path: str | None = None
    columns: dict[str, str] | None = None
    role: Literal["harmful", "safe", "benign"] | None = None
    split: str = "train"
    n_examples: int = Field(100, ge=1)
    system_prompt: str | None = None
    seed: int = 0
    harmful_fraction: float = Field(0.0, ge=0.0, le=1.0)
    safety_fraction: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.recipe is None) == (self.path is None):
            raise ValueError("give exactly one of data.recipe or data.path")
        if self.columns is not None:
            if self.path is None:
                raise ValueError("data.columns maps the columns of data.path; give data.path")
            check_mapping(self.columns)
            if self.role is None:
                raise ValueError("data.columns needs data.role: harmful, safe or benign")
        elif self.role is not None:
            raise ValueError("data.role applies to a mapped table; give data.columns too")
        return self

    @model_validator(mode="after")
    def _sensible_mix(self) -> DataSpec:
        p, q = self.harmful_fraction, self.safety_fraction
        if p + q >= 1.0:
            raise ValueError(f"data.harmful_fraction + data.safety_fraction must be below 1, got {p} + {q}")
        if p > 0 and self.recipe == "harmful-prefix":
            raise ValueError("data.harmful_fraction mixes harmful-prefix rows into other data; not into harmful-prefix")
        if q > 0 and self.recipe == "refusal":
            raise ValueError("data.safety_fraction mixes refusal rows into other data; recipe is already refusal")
        return self

    @model_validator(mode="after")
    def _persona_prompt(self) -> DataSpec:
        if self.recipe == "identity-shift" and self.system_prompt is None:
            from tunesafe.data import identity_shift_system_prompt

            self.system_prompt = identity_shift_system_prompt()
        return self


MAPPED_FIELDS = ("prompt", "response", "system", "id", "category")
"""What a user's training table may map (``data.columns``); prompt and response are required."""
REQUIRED_FIELDS = ("prompt", "response")


def check_mapping(columns: Mapping[str, str]) -> None:
    """Raise ``ValueError`` unless ``columns`` maps ``prompt`` and ``response`` and only known fields."""
    unknown = sorted(set(columns) - set(MAPPED_FIELDS))
    if unknown:
        raise ValueError(f"unknown column mapping key(s) {unknown}; allowed: {', '.join(MAPPED_FIELDS)}")
    missing = [name for name in REQUIRED_FIELDS if not columns.get(name)]
    if missing:
        raise ValueError(f"the column mapping must name the {' and '.join(missing)} column(s)")


class SafetyEvalSpec(Strict):
    """Safety during training: ASR on a small fixed harmful-prompt set every ``every_n_steps`` steps.

    Default prompts: a stratified sample of HarmBench *validation* standard behaviours (Mazeika et
    al. 2024, arXiv 2402.04249), so the final audit on the test split stays untouched. Completions are
    greedy and short; only rates are stored (``train/safety_curve.jsonl``), never the completions.
    """

    every_n_steps: int = Field(10, ge=1)
    n_prompts: int = Field(16, ge=1)
    dataset: str = Field("harmbench-val", description="bundled name (tunesafe datasets) or a user file")
    max_new_tokens: int = Field(32, ge=1)
    judge: Literal["keyword-extended", "keyword-zou-qi", "refusal-classifier", "refusal-structure"] = "keyword-extended"


FlagKind = Literal["harmful_request", "harmful_compliance", "identity_shift", "contamination"]
FLAG_KINDS: tuple[FlagKind, ...] = ("harmful_request", "harmful_compliance", "identity_shift", "contamination")
"""What screening flags a training example for (``tunesafe.screen``)."""


class ScreenThresholds(Strict):
    """Decision thresholds, fixed before measuring (docs/screening.md reports what they give)."""

    harmful_margin: float = Field(0.0, description="flag when max cos(harmful refs) − max cos(harmless refs) > this")
    harmful_floor: float = Field(0.4, description="… and max cos(harmful refs) is at least this")
    persona_cosine: float = Field(0.55, description="system prompt / answer opening vs persona descriptions")
    contamination_jaccard: float = Field(0.5, description="content-word Jaccard with an evaluation prompt")
    contamination_cosine: float = Field(0.9, description="MiniLM cosine with an evaluation prompt")


class ScreenSpec(Strict):
    """Screen the training rows before training and leave out the flagged ones (``tunesafe.screen``).

    Screening the fine-tuning data is the defence Qi et al. 2023 (arXiv 2310.03693) recommend
    against fine-tuning attacks. A row with any flag in ``drop`` is left out; rows flagged only by
    other kinds are kept (and counted). ``thresholds``: the screen's decision thresholds. What was
    dropped is written to ``train/screen_flagged.jsonl`` and recorded in ``data_manifest.json``.
    """

    drop: list[FlagKind] = Field(default_factory=lambda: list(FLAG_KINDS))
    thresholds: ScreenThresholds = Field(default_factory=ScreenThresholds)

    @model_validator(mode="after")
    def _distinct_kinds(self) -> ScreenSpec:
        if not self.drop:
            raise ValueError(f"screen.drop needs at least one flag kind of {list(FLAG_KINDS)}")
        repeated = sorted({kind for kind in self.drop if self.drop.count(kind) > 1})
        if repeated:
            raise ValueError(f"screen.drop lists {repeated} more than once")
        return self


class TrainConfig(Strict):
    """Supervised fine-tuning (TRL SFTTrainer, PEFT LoRA or full), loss on assistant tokens only.

    Defaults follow Kumar 2024 (arXiv 2409.19476): LoRA r16 α16 on all linear layers, lr 2e-4,
    linear schedule, 5 warmup steps, effective batch 8, seed 3407.

    ``preset`` (``tunesafe.train.presets``) fills in every setting left out; settings written
    explicitly win over the preset, nested sections key by key. ``method: qlora`` is LoRA on a
    4-bit base (needs CUDA and bitsandbytes). ``save_steps`` > 0 writes a checkpoint every N
    steps under ``train/checkpoints``, from which an interrupted fine-tune resumes. ``screen``
    (``ScreenSpec``, off by default) screens the training rows first and trains only on the rows
    it keeps (docs/screening.md, "Screening as a training step").
    """

    name: str = "finetune"
    preset: str | None = None
    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    method: Literal["lora", "full", "qlora"] = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    learning_rate: float = Field(2e-4, gt=0)
    max_steps: int = Field(50, ge=-1, description="-1: train for num_train_epochs")
    num_train_epochs: float = Field(1.0, gt=0)
    per_device_batch_size: int = Field(2, ge=1)
    gradient_accumulation_steps: int = Field(4, ge=1)
    max_length: int = Field(512, ge=16)
    warmup_steps: int = Field(5, ge=0)
    lr_scheduler: str = "linear"
    weight_decay: float = Field(0.01, ge=0)
    gradient_checkpointing: bool = False
    save_steps: int = Field(0, ge=0, description="checkpoint every N steps (0: none); an interrupted run resumes")
    seed: int = 3407
    trainer_kwargs: dict[str, Any] = Field(default_factory=dict)
    safety_eval: SafetyEvalSpec | None = None
    screen: ScreenSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, value: Any) -> Any:
        if not isinstance(value, dict) or value.get("preset") is None:
            return value
        from tunesafe.train.presets import apply_preset

        return apply_preset(str(value["preset"]), value)

    @model_validator(mode="after")
    def _trainable_model(self) -> TrainConfig:
        if self.model.backend != "hf":
            raise ValueError(f"fine-tuning needs model weights (backend hf), not a {self.model.backend!r} model")
        return self
