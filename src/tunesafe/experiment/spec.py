"""An experiment file: the base, its variants (fine-tunes, mitigations, existing models, prompts) and the
audits every model gets; the fine-tune and the audit config of each model; the bundled demo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field, ValidationError, model_validator

from tunesafe.config import (
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    DataSpec,
    ModelSpec,
    Strict,
    TrainConfig,
    load_config,
)
from tunesafe.report.build.paper import PaperSpec
from tunesafe.types import GenParams

BASE = "base"
RECIPE_PROMPT = "recipe:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class VariantSpec(Strict):
    """One model of the experiment besides the base (see the module docstring for the three kinds)."""

    name: str = Field(description="letters, digits and . _ + -; names the run directories and the report rows")
    description: str | None = None
    data: DataSpec | None = Field(None, description="fine-tune the base on this data")
    train: dict[str, Any] = Field(default_factory=dict, description="training settings over the experiment's")
    screen: bool | dict[str, Any] = Field(
        False, description="screen the training rows and drop flagged ones (true, or a ScreenSpec mapping)"
    )
    model: dict[str, Any] | None = Field(None, description="an existing model: ModelSpec fields over the base's")
    system_prompt: str | None = Field(
        None, description="audit (and train) under this system prompt; 'recipe:<name>' takes a recipe's own"
    )
    compare_to: str | None = Field(
        None, description="the variant this one's effect is measured against (default: base)"
    )
    mitigates: str | None = Field(None, description="the variant this mitigation is applied to")
    seeds: list[int] | None = Field(
        None, description="train this fine-tune once per training seed; the report aggregates the replicates"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> VariantSpec:
        if not _NAME.match(self.name):
            raise ValueError(f"variant name {self.name!r}: use letters, digits and . _ + - only")
        if self.name == BASE:
            raise ValueError("'base' is the experiment's base model; give the variant another name")
        if self.data is not None and self.model is not None:
            raise ValueError(f"variant {self.name!r}: give data (a fine-tune) or model (an existing one), not both")
        if self.data is None and (self.train or self.screen or self.seeds):
            raise ValueError(f"variant {self.name!r}: train, screen and seeds apply to fine-tunes; give data")
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise ValueError(f"variant {self.name!r}: seeds must be distinct and not empty, got {self.seeds}")
        if self.compare_to is not None and self.mitigates is not None and self.compare_to != self.mitigates:
            raise ValueError(f"variant {self.name!r}: a mitigation is compared with what it mitigates; drop compare_to")
        if self.system_prompt is not None and self.system_prompt.startswith(RECIPE_PROMPT):
            recipe_prompt(self.system_prompt)
        return self

    @property
    def kind(self) -> Literal["fine-tune", "model", "prompt"]:
        if self.data is not None:
            return "fine-tune"
        return "model" if self.model is not None else "prompt"

    @property
    def reference(self) -> str:
        """The variant this one's effect is measured against: what it mitigates, ``compare_to``, or the base."""
        return self.mitigates or self.compare_to or BASE

    def replicates(self) -> list[Replicate]:
        """One model per training seed (``<name>.seed<k>``), or the variant itself."""
        if not self.seeds:
            return [Replicate(self.name, self, None)]
        return [Replicate(f"{self.name}.seed{seed}", self, seed) for seed in self.seeds]


class Replicate(NamedTuple):
    """One model of the experiment: a variant, trained with ``seed`` when the variant has several."""

    label: str
    variant: VariantSpec
    seed: int | None


class ExperimentConfig(Strict):
    """A base model, its variants, and the audits every model gets (``docs/experiments.md``)."""

    name: str = "experiment"
    description: str | None = None
    base: ModelSpec = Field(default_factory=ModelSpec)
    generation: GenParams = Field(default_factory=lambda: GenParams(max_new_tokens=64))
    audits: AuditsSpec = Field(default_factory=AuditsSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    seed: int = 0
    chunk_size: int = Field(32, ge=1)
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig settings shared by every fine-tune")
    variants: list[VariantSpec] = Field(default_factory=list)
    paper: PaperSpec | None = Field(
        None, description="the published setup this reproduces: {name: kumar2024 | qi2023, models: {paper key: model}}"
    )
    audit_backend: Literal["hf", "llamacpp"] | None = Field(
        None,
        description="audit every model with this backend (fine-tunes still train with transformers; their "
        "adapters are converted for llama.cpp); llamacpp falls back to hf when llama-cpp-python is missing",
    )
    effects_table: bool = Field(
        True,
        description="the report's paired-effects table, each model against its reference; off when every "
        "reference is the base, which the report's main comparison already pairs with each model",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if not _NAME.match(self.name):
            raise ValueError(f"experiment name {self.name!r}: use letters, digits and . _ + - only")
        names = [v.name for v in self.variants]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"variant names repeat: {', '.join(repeated)}")
        known = {BASE, *names}
        for variant in self.variants:
            for field in ("compare_to", "mitigates"):
                target = getattr(variant, field)
                if target is not None and target not in known:
                    raise ValueError(
                        f"variant {variant.name!r}: {field} {target!r} is not a variant "
                        f"(known: {', '.join(sorted(known))})"
                    )
                if target == variant.name:
                    raise ValueError(f"variant {variant.name!r}: {field} names itself")
        labels = [r.label for r in self.models()]
        clashes = sorted({label for label in labels if labels.count(label) > 1})
        if clashes:
            raise ValueError(f"model names clash once seeds are expanded: {', '.join(clashes)}")
        unknown = sorted(set((self.paper.models if self.paper else {}).values()) - {BASE, *labels})
        if unknown:
            raise ValueError(f"paper.models names {', '.join(unknown)}, not a model of this experiment")
        for key in ("name", "model", "data"):
            if key in self.train:
                raise ValueError(f"train.{key} is set per variant (the base model and each variant's data)")
        by_name = {v.name: v for v in self.variants}
        for variant in self.variants:
            reference = by_name.get(variant.reference)
            if reference is not None and reference.seeds and reference.seeds != variant.seeds:
                raise ValueError(
                    f"variant {variant.name!r} is compared with {reference.name!r}, trained with seeds "
                    f"{reference.seeds}: give it the same seeds so each replicate has its own reference"
                )
            for replicate in variant.replicates() if variant.kind == "fine-tune" else []:
                train_config(self, variant, replicate.seed)
        return self

    def models(self) -> list[Replicate]:
        """Every variant's models in file order (seeded variants expanded), base excluded."""
        return [replicate for variant in self.variants for replicate in variant.replicates()]

    def groups(self) -> dict[str, list[str]]:
        """Seeded variants and their replicate labels (for the report's aggregation over seeds)."""
        return {v.name: [r.label for r in v.replicates()] for v in self.variants if v.seeds}


def recipe_prompt(value: str) -> str:
    """The system prompt a recipe trains with (``recipe:identity-shift`` → the AOA prompt)."""
    recipe = value.removeprefix(RECIPE_PROMPT)
    if recipe == "identity-shift":
        from tunesafe.data import identity_shift_system_prompt

        return identity_shift_system_prompt()
    raise ValueError(f"system_prompt {value!r}: only recipe:identity-shift carries its own system prompt")


def system_prompt_of(variant: VariantSpec) -> str | None:
    """The system prompt a variant is trained and audited under (a recipe's own for ``recipe:<name>``)."""
    prompt = variant.system_prompt
    return recipe_prompt(prompt) if prompt is not None and prompt.startswith(RECIPE_PROMPT) else prompt


def train_config(experiment: ExperimentConfig, variant: VariantSpec, seed: int | None = None) -> TrainConfig:
    """The fine-tune of ``variant``: the experiment's ``train``, then the variant's, on the base model;
    with ``seed``, that replicate (``<name>.seed<k>``, trained with ``seed``)."""
    assert variant.data is not None
    data = variant.data
    prompt = system_prompt_of(variant)
    if prompt is not None and data.system_prompt is None:
        data = data.model_copy(update={"system_prompt": prompt})
    settings: dict[str, Any] = {**experiment.train, **variant.train}
    for key in ("lora", "safety_eval", "trainer_kwargs"):
        if isinstance(experiment.train.get(key), dict) and isinstance(variant.train.get(key), dict):
            settings[key] = {**experiment.train[key], **variant.train[key]}
    if variant.screen:
        settings["screen"] = {} if variant.screen is True else variant.screen
    # a variant may name its fine-tune's run and set the base model's training-only settings (the demo
    # does, so that demo folders made by tunesafe's earlier demo command keep resuming)
    name = settings.pop("name", variant.name)
    model = {**experiment.base.model_dump(), **settings.pop("model", {})}
    if seed is not None:
        settings["seed"], name = seed, f"{name}.seed{seed}"
    try:
        return TrainConfig.model_validate({**settings, "name": name, "model": model, "data": data.model_dump()})
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ValueError(f"variant {variant.name!r}: invalid training settings ({problems})") from err


def model_spec_of(experiment: ExperimentConfig, variant: VariantSpec | None) -> ModelSpec:
    """The model an audit runs on, for the base, a prompt variant or an existing model."""
    spec = experiment.base
    if variant is not None and variant.model is not None:
        spec = ModelSpec.model_validate({**spec.model_dump(), **variant.model})
    prompt = system_prompt_of(variant) if variant is not None else None
    return spec.model_copy(update={"system_prompt": prompt}) if prompt is not None else spec


def audit_config(experiment: ExperimentConfig, name: str, model: ModelSpec) -> AuditConfig:
    return AuditConfig(
        name=name,
        model=model,
        generation=experiment.generation,
        audits=experiment.audits,
        cache=experiment.cache,
        seed=experiment.seed,
        chunk_size=experiment.chunk_size,
    )


def load_experiment(path: Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read and check an experiment file (no model is touched)."""
    return load_config(ExperimentConfig, path, overrides or [])


DEMO = "experiments/demo.yaml"
DEMO_QUICK = "experiments/demo-quick.yaml"


def demo_experiment(quick: bool = False, overrides: list[str] | None = None) -> ExperimentConfig:
    """The bundled demo experiment (``tunesafe demo``), or its quick version on SmolLM2-135M."""
    from tunesafe.data import bundled_path

    return load_experiment(bundled_path(DEMO_QUICK if quick else DEMO), overrides)
