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

from tunesafe.experiment.plan import (
    ExperimentPlan,
    Step,
    effects,
    mitigation_note,
    plan_costs,
    plan_experiment,
)
from tunesafe.experiment.run import ExperimentResult, available_backend, run_experiment
from tunesafe.experiment.spec import (
    BASE,
    DEMO,
    DEMO_QUICK,
    RECIPE_PROMPT,
    ExperimentConfig,
    Replicate,
    VariantSpec,
    audit_config,
    demo_experiment,
    load_experiment,
    model_spec_of,
    recipe_prompt,
    system_prompt_of,
    train_config,
)

__all__ = [
    "BASE",
    "DEMO",
    "DEMO_QUICK",
    "RECIPE_PROMPT",
    "ExperimentConfig",
    "ExperimentPlan",
    "ExperimentResult",
    "Replicate",
    "Step",
    "VariantSpec",
    "audit_config",
    "available_backend",
    "demo_experiment",
    "effects",
    "load_experiment",
    "mitigation_note",
    "model_spec_of",
    "plan_costs",
    "plan_experiment",
    "recipe_prompt",
    "run_experiment",
    "system_prompt_of",
    "train_config",
]
