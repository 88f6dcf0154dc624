"""Experiments: a base model and its variants (fine-tunes, mitigations, existing checkpoints), each
trained once and audited once, compared in one report.

A variant is one of

- a **fine-tune** of the base (``data``: a recipe or the user's data, optionally mixed; ``train``:
  settings over the experiment's ``train``; ``screen``: drop flagged rows before training);
- an **existing model** (``model``: a checkpoint, an adapter, another source), audited as it is;
- the **base under another system prompt** (only ``system_prompt``), e.g. the persona prompt alone.

Mitigations are variants like any other (Qi et al. 2023, arXiv 2310.03693, Sec. 5: safety-example
mixing; training-data screening): ``mitigates: <variant>`` makes the report show what the
mitigation buys in ASR and costs in over-refusal and drift against the variant it mitigates.

Everything lives under one directory: ``finetune-<variant>/``, ``audit-<variant>/`` and ``report/``.
Re-running resumes: finished fine-tunes and audits are reused, interrupted ones continue.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.config import (
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    DataSpec,
    ModelSpec,
    TrainConfig,
    dump_config,
)
from tunesafe.report.paper import PaperSpec
from tunesafe.results import RunDir, RunError
from tunesafe.types import GenParams

logger = logging.getLogger(__name__)

BASE = "base"
RECIPE_PROMPT = "recipe:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantSpec(_Strict):
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


class ExperimentConfig(_Strict):
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


def _system_prompt(variant: VariantSpec) -> str | None:
    prompt = variant.system_prompt
    return recipe_prompt(prompt) if prompt is not None and prompt.startswith(RECIPE_PROMPT) else prompt


def train_config(experiment: ExperimentConfig, variant: VariantSpec, seed: int | None = None) -> TrainConfig:
    """The fine-tune of ``variant``: the experiment's ``train``, then the variant's, on the base model;
    with ``seed``, that replicate (``<name>.seed<k>``, trained with ``seed``)."""
    assert variant.data is not None
    data = variant.data
    prompt = _system_prompt(variant)
    if prompt is not None and data.system_prompt is None:
        data = data.model_copy(update={"system_prompt": prompt})
    settings: dict[str, Any] = {**experiment.train, **variant.train}
    for key in ("lora", "safety_eval", "trainer_kwargs"):
        if isinstance(experiment.train.get(key), dict) and isinstance(variant.train.get(key), dict):
            settings[key] = {**experiment.train[key], **variant.train[key]}
    if variant.screen:
        settings["screen"] = {} if variant.screen is True else variant.screen
    name = variant.name
    if seed is not None:
        settings["seed"], name = seed, f"{variant.name}.seed{seed}"
    try:
        return TrainConfig.model_validate(
            {**settings, "name": name, "model": experiment.base.model_dump(), "data": data.model_dump()}
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ValueError(f"variant {variant.name!r}: invalid training settings ({problems})") from err


def _model_spec(experiment: ExperimentConfig, variant: VariantSpec | None) -> ModelSpec:
    """The model an audit runs on, for the base, a prompt variant or an existing model."""
    spec = experiment.base
    if variant is not None and variant.model is not None:
        spec = ModelSpec.model_validate({**spec.model_dump(), **variant.model})
    prompt = _system_prompt(variant) if variant is not None else None
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


# --- the plan ---------------------------------------------------------------------------------


class Step(BaseModel):
    """One unit of work: training a variant or auditing a model, and where its run directory is."""

    kind: Literal["finetune", "audit"]
    variant: str
    path: Path
    state: Literal["new", "resume", "done", "conflict"]
    detail: str


class ExperimentPlan(BaseModel):
    name: str
    root: Path
    steps: list[Step]
    effects: list[dict[str, Any]]

    def lines(self) -> list[str]:
        out = [f"experiment {self.name} → {self.root}"]
        out += [f"  {s.kind:8s} {s.variant:28s} [{s.state}] {s.detail}  ({s.path.name})" for s in self.steps]
        out += [
            f"  effect   {e['variant']:28s} vs {e['reference']}" + (f" ({e['note']})" if e.get("note") else "")
            for e in self.effects
        ]
        return out


def _state(path: Path, config_hash: str | None) -> Literal["new", "resume", "done", "conflict"]:
    if not (path / "manifest.json").exists():
        return "new"
    try:
        manifest = RunDir(path).manifest()
    except RunError:
        return "conflict"
    if config_hash is not None and manifest.config_hash != config_hash:
        return "conflict"
    return "done" if manifest.status == "success" else "resume"


def _train_detail(cfg: TrainConfig) -> str:
    data = cfg.data
    source = f"recipe {data.recipe}, {data.n_examples} rows" if data.recipe else f"data {data.path}"
    mix = [f"harmful {data.harmful_fraction:.0%}"] if data.harmful_fraction else []
    mix += [f"safety {data.safety_fraction:.0%}"] if data.safety_fraction else []
    steps = f"{cfg.max_steps} steps" if cfg.max_steps > 0 else f"{cfg.num_train_epochs:g} epochs"
    screen = ", screened" if getattr(cfg, "screen", None) is not None else ""
    method = f"LoRA r{cfg.lora.r}" if cfg.method != "full" else "full"
    return f"{source}{' + ' + ' + '.join(mix) if mix else ''}{screen}; {method}, {steps}"


def mitigation_note(variant: VariantSpec) -> str | None:
    """A short label of what a mitigation does (for the report), from its settings."""
    if variant.description:
        return variant.description
    parts = []
    if variant.screen:
        parts.append("screening")
    if variant.data is not None and variant.data.safety_fraction:
        parts.append(f"safety mix {variant.data.safety_fraction:.0%}")
    return ", ".join(parts) or None


def effects(experiment: ExperimentConfig) -> list[dict[str, Any]]:
    """The paired comparisons the report shows: each model against its reference (a replicate against
    the reference's replicate of the same seed when both are seeded)."""
    out = []
    for label, variant, seed in experiment.models():
        kind = "mitigation" if variant.mitigates else "prompt" if variant.kind == "prompt" else "fine-tune"
        note = mitigation_note(variant) if variant.mitigates else variant.description
        reference = variant.reference
        if seed is not None and reference != BASE and any(v.name == reference and v.seeds for v in experiment.variants):
            reference = f"{reference}.seed{seed}"
        out.append({"variant": label, "reference": reference, "kind": kind, "note": note})
    return out


def plan_experiment(experiment: ExperimentConfig, root: Path) -> ExperimentPlan:
    """What running ``experiment`` under ``root`` would do, without touching a model."""
    from tunesafe.config import config_hash

    root = Path(root)
    steps = [
        Step(
            kind="audit",
            variant=BASE,
            path=root / "audit-base",
            state=_state(root / "audit-base", None),
            detail=_model_desc(experiment.base),
        )
    ]
    for label, variant, seed in experiment.models():
        audit_path = root / f"audit-{label}"
        if variant.kind == "fine-tune":
            cfg = train_config(experiment, variant, seed)
            path = root / f"finetune-{label}"
            steps.append(
                Step(
                    kind="finetune",
                    variant=label,
                    path=path,
                    state=_state(path, config_hash(cfg)),
                    detail=_train_detail(cfg),
                )
            )
            detail = "the fine-tune above"
        else:
            detail = _model_desc(_model_spec(experiment, variant))
        steps.append(Step(kind="audit", variant=label, path=audit_path, state=_state(audit_path, None), detail=detail))
    return ExperimentPlan(name=experiment.name, root=root, steps=steps, effects=effects(experiment))


def plan_costs(experiment: ExperimentConfig, plan: ExperimentPlan) -> list[str]:
    """What the steps still to do cost: generations per model, optimiser steps, and a rough CPU time
    (``tunesafe.estimate``: counts exact, times scaled from measured 2-core rates)."""
    from tunesafe import estimate

    audits = [s for s in plan.steps if s.kind == "audit" and s.state != "done"]
    trainings = [s for s in plan.steps if s.kind == "finetune" and s.state != "done"]
    try:
        cost = estimate.audit_cost(audit_config(experiment, BASE, experiment.base))
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        return [f"  cost: unknown ({type(err).__name__}: {err})"]
    per_model = ", ".join(f"{name} {n:,}" for name, n in cost.generations.items())
    replicates = {r.label: r for r in experiment.models()}
    steps: int | None = 0
    train_seconds: float | None = 0.0
    params = estimate.parameter_count(experiment.base)
    for step in trainings:
        _, variant, seed = replicates[step.variant]
        cfg = train_config(experiment, variant, seed)
        # user data trained for epochs: its row count is only known once it is read
        n = estimate.train_steps(cfg, cfg.data.n_examples) if cfg.data.path is None or cfg.max_steps > 0 else None
        steps = None if n is None or steps is None else steps + n
        seconds = None if n is None else estimate.training_seconds(cfg, n, params)
        train_seconds = None if seconds is None or train_seconds is None else train_seconds + seconds
    gen_one = estimate.generation_seconds(cost, params)
    gen_seconds = None if gen_one is None else gen_one * len(audits)
    total = None if gen_seconds is None or train_seconds is None else gen_seconds + train_seconds
    return [
        f"  per model: {per_model} generations (≤ {cost.new_tokens:,} new tokens)",
        f"  to do: {len(audits)} audit(s), {cost.total * len(audits):,} generations; "
        f"{len(trainings)} fine-tune(s), {'?' if steps is None else steps} optimiser steps",
        f"  rough time on a 2-core CPU: {estimate.fmt_duration(total)} (generation "
        f"{estimate.fmt_duration(gen_seconds)}, training {estimate.fmt_duration(train_seconds)}); "
        "cached generations cost nothing, a GPU is far faster",
    ]


def _model_desc(spec: ModelSpec) -> str:
    desc = spec.source + (f" + adapter {spec.adapter}" if spec.adapter else "")
    return desc + (" (own system prompt)" if spec.system_prompt else "")


# --- running ----------------------------------------------------------------------------------


class ExperimentResult(BaseModel):
    root: Path
    audits: dict[str, Path]
    finetunes: dict[str, Path]
    report: Any  # ReportFiles


def load_experiment(path: Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read and check an experiment file (no model is touched)."""
    from tunesafe.config import load_config

    return load_config(ExperimentConfig, path, overrides or [])


def run_experiment(
    experiment: ExperimentConfig,
    root: Path,
    *,
    reporter: Reporter | None = None,
    show_harmful: bool = False,
) -> ExperimentResult:
    """Train every fine-tune variant once, audit every model once, and write the report under ``root``.

    A step whose directory holds a different config (the experiment file changed) stops the run with
    the directory named, before anything is overwritten.
    """
    from tunesafe._util.io import atomic_write_text
    from tunesafe.train.run import finetune_run, tuned_model_spec

    reporter = reporter or NullReporter()
    root = Path(root)
    plan = plan_experiment(experiment, root)
    conflicts = [s for s in plan.steps if s.state == "conflict"]
    if conflicts:
        names = ", ".join(f"{s.variant} ({s.path})" for s in conflicts)
        raise RunError(
            f"the {conflicts[0].kind} of {names} was made with other settings; "
            "remove that directory to redo it, or rename the variant"
        )
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "experiment.yaml", dump_config(experiment))
    audits: dict[str, Path] = {}
    finetunes: dict[str, Path] = {}
    progress = _StepLog(experiment.name, plan)
    progress.next("audit", BASE)
    audits[BASE] = _audit(experiment, BASE, experiment.base, root, reporter)
    for label, variant, seed in experiment.models():
        if variant.kind == "fine-tune":
            progress.next("finetune", label)
            tuned = finetune_run(train_config(experiment, variant, seed), root / f"finetune-{label}", reporter=reporter)
            finetunes[label] = tuned.path
            model = tuned_model_spec(tuned)
        else:
            model = _model_spec(experiment, variant)
        progress.next("audit", label)
        audits[label] = _audit(experiment, label, model, root, reporter)
    progress.done()
    from tunesafe.report import write_report
    from tunesafe.report.effects import EffectSpec

    report = write_report(
        list(audits.values()),
        root / "report",
        show_harmful=show_harmful,
        effects=[EffectSpec(**e) for e in plan.effects] if experiment.effects_table else [],
        groups=experiment.groups() or None,
        paper=experiment.paper,
    )
    return ExperimentResult(root=root, audits=audits, finetunes=finetunes, report=report)


class _StepLog:
    """One log line per step of the experiment: which step of how many, and the time so far."""

    def __init__(self, name: str, plan: ExperimentPlan) -> None:
        self.name = name
        self.states: dict[tuple[str, str], str] = {(s.kind, s.variant): s.state for s in plan.steps}
        self.total = len(plan.steps)
        self.count = 0
        self.start = time.perf_counter()

    def next(self, kind: str, label: str) -> None:
        self.count += 1
        state = self.states.get((kind, label), "new")
        note = {"done": " (finished before: reused)", "resume": " (resuming)"}.get(state, "")
        elapsed = time.perf_counter() - self.start
        logger.info(
            "experiment %s [%d/%d, %.0f s so far]: %s %s%s",
            self.name,
            self.count,
            self.total,
            elapsed,
            kind,
            label,
            note,
        )

    def done(self) -> None:
        logger.info(
            "experiment %s: %d steps in %.0f s; writing the report",
            self.name,
            self.total,
            time.perf_counter() - self.start,
        )


def _audit(experiment: ExperimentConfig, name: str, model: ModelSpec, root: Path, reporter: Reporter) -> Path:
    """Audit one model; a full fine-tune or another checkpoint is probed against the base first (adapter_check.py)."""
    from tunesafe.runner import run_audit

    if experiment.audit_backend is not None:
        model = model.model_copy(update={"backend": available_backend(experiment.audit_backend)})
    probe_base = None
    if name != BASE and model.adapter is None and model.source != experiment.base.source:
        from tunesafe.models import resolve_model_source

        probe_base = resolve_model_source(experiment.base.source)
    try:
        config = audit_config(experiment, name, model)
        return run_audit(config, root / f"audit-{name}", reporter=reporter, probe_base=probe_base).path
    except RunError as err:
        raise RunError(f"audit of {name!r}: {err}") from err


def available_backend(requested: str) -> str:
    """``requested``, or ``hf`` when it is ``llamacpp`` and llama-cpp-python is not installed."""
    if requested == "llamacpp" and importlib.util.find_spec("llama_cpp") is None:
        logger.warning(
            "llama-cpp-python is not installed (pip install 'tunesafe[llamacpp]'): auditing with transformers"
        )
        return "hf"
    return requested


DEMO = "experiments/demo.yaml"
DEMO_QUICK = "experiments/demo-quick.yaml"


def demo_experiment(quick: bool = False, overrides: list[str] | None = None) -> ExperimentConfig:
    """The bundled demo experiment (``tunesafe demo``), or its quick version on SmolLM2-135M."""
    from tunesafe.data import bundled_path

    return load_experiment(bundled_path(DEMO_QUICK if quick else DEMO), overrides)
