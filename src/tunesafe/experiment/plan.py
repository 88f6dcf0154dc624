"""What running an experiment would do, step by step, with each step's state and the costs (no model touched)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from tunesafe.config import (
    ModelSpec,
    TrainConfig,
)
from tunesafe.experiment.spec import BASE, ExperimentConfig, VariantSpec, audit_config, model_spec_of, train_config
from tunesafe.results import RunDir, RunError

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
            detail = _model_desc(model_spec_of(experiment, variant))
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
