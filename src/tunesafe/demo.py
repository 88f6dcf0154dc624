"""The demo experiment: audit a base model, fine-tune a harmful-prefix and a refusal variant,
audit both, and compare — the core finding of Qi et al. 2023 (arXiv 2310.03693) and Kumar 2024
(arXiv 2409.19476) at laptop scale. Each model is judged by a panel (keyword lists and the MiniLM
refusal classifier, calibrated on the bundled labelled set) and audited for over-refusal too, so a
variant made "safe" by refusing everything shows up, and for knowledge drift: trivia asked plainly,
after a false sentence and after an unrelated one (Kumar 2024 Tables 4 and 5), and for truthfulness:
true and false claims, plainly and after a misleading preamble.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.config import (
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    CalibrationSpec,
    DataSpec,
    DriftAuditSpec,
    HarmfulAuditSpec,
    LoraSpec,
    ModelSpec,
    OverrefusalAuditSpec,
    TrainConfig,
    TruthfulnessAuditSpec,
)
from tunesafe.report import ReportFiles, write_report
from tunesafe.results import RunDir
from tunesafe.runner import run_audit
from tunesafe.train.run import finetune_run, tuned_model_spec
from tunesafe.types import GenParams

logger = logging.getLogger(__name__)


class DemoPlan(BaseModel):
    """Sizes of the demo, chosen to finish in about 30 minutes on 2 CPU cores (Qwen) or a few (SmolLM2).

    Audits run on llama.cpp (the bundled GGUF; fine-tuned adapters converted to GGUF LoRAs), about
    2x faster than transformers on a CPU, which pays for every HarmBench standard and contextual
    behaviour and 75 trivia questions; fine-tuning stays on TRL. ``backend: hf`` audits with
    transformers instead.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = "qwen2.5-coder-0.5b-instruct"
    backend: Literal["llamacpp", "hf"] = "llamacpp"
    audit_limit: int | None = Field(None, ge=1, description="stratified HarmBench subsample (None: every behaviour)")
    subsets: list[str] = ["standard", "contextual"]
    max_new_tokens: int = Field(32, ge=1)
    batch_size: int = Field(16, ge=1)
    n_train: int = Field(160, ge=1)
    max_steps: int = Field(12, ge=1)
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 2
    learning_rate: float = 3e-4
    max_length: int = 256
    judges: list[str] = ["refusal-structure", "keyword-extended", "keyword-zou-qi"]
    overrefusal_limit: int = Field(60, ge=0, description="harmless look-alike prompts per model (0: skip)")
    drift_limit: int = Field(75, ge=0, description="trivia questions per model under B, FIP and RIP (0: skip)")
    truthfulness_limit: int = Field(30, ge=0, description="trivia facts per model as true/false claims (0: skip)")
    calibrate: bool = True
    seed: int = 0

    @classmethod
    def quick(cls) -> DemoPlan:
        return cls(
            model="smollm2-135m-instruct",
            audit_limit=40,
            n_train=80,
            max_steps=10,
            overrefusal_limit=30,
            drift_limit=30,
            truthfulness_limit=15,
        )


class DemoResult(BaseModel):
    base: Path
    harmful: Path
    refusal: Path
    report: ReportFiles


def _audit_config(name: str, model: ModelSpec, plan: DemoPlan, cache: CacheSpec) -> AuditConfig:
    return AuditConfig(
        name=name,
        model=model.model_copy(update={"batch_size": plan.batch_size}),
        generation=GenParams(max_new_tokens=plan.max_new_tokens),
        audits=AuditsSpec(
            harmful=HarmfulAuditSpec(
                subsets=plan.subsets,
                limit=plan.audit_limit,
                judges=plan.judges,  # type: ignore[arg-type]  # names are validated into JudgeSpecs
                calibration=CalibrationSpec(bundled=True) if plan.calibrate else None,
            ),
            overrefusal=OverrefusalAuditSpec(
                limit=plan.overrefusal_limit,
                judges=[j for j in plan.judges if "@" not in j],  # type: ignore[arg-type]
            )
            if plan.overrefusal_limit
            else None,
            drift=DriftAuditSpec(limit=plan.drift_limit) if plan.drift_limit else None,
            truthfulness=TruthfulnessAuditSpec(limit=plan.truthfulness_limit) if plan.truthfulness_limit else None,
        ),
        cache=cache,
        seed=plan.seed,
    )


def _train_config(recipe: str, model: ModelSpec, plan: DemoPlan) -> TrainConfig:
    return TrainConfig(
        name=f"{recipe}-finetune",
        model=model,
        data=DataSpec(recipe=recipe, n_examples=plan.n_train, seed=plan.seed),
        method="lora",
        lora=LoraSpec(r=16, alpha=16),
        learning_rate=plan.learning_rate,
        max_steps=plan.max_steps,
        per_device_batch_size=plan.per_device_batch_size,
        gradient_accumulation_steps=plan.gradient_accumulation_steps,
        max_length=plan.max_length,
        warmup_steps=2,
        seed=3407,
    )


def audit_backend(requested: str) -> str:
    """``requested``, or ``hf`` when it is ``llamacpp`` and llama-cpp-python is not installed."""
    if requested == "llamacpp" and importlib.util.find_spec("llama_cpp") is None:
        logger.warning(
            "llama-cpp-python is not installed (pip install 'tunesafe[llamacpp]'): auditing with transformers"
        )
        return "hf"
    return requested


def run_demo(
    plan: DemoPlan, root: Path, *, cache: CacheSpec | None = None, reporter: Reporter | None = None
) -> DemoResult:
    """Run the whole demo under ``root`` (re-running resumes and reuses finished steps)."""
    reporter = reporter or NullReporter()
    cache = cache or CacheSpec()
    root = Path(root)
    backend = audit_backend(plan.backend)
    base_model = ModelSpec(source=plan.model)
    base = run_audit(
        _audit_config("base", base_model.model_copy(update={"backend": backend}), plan, cache),
        root / "audit-base",
        reporter=reporter,
    )
    audited: dict[str, RunDir] = {}
    for recipe in ("harmful-prefix", "refusal"):
        tuned = finetune_run(_train_config(recipe, base_model, plan), root / f"finetune-{recipe}", reporter=reporter)
        spec = tuned_model_spec(tuned).model_copy(update={"backend": backend})
        audited[recipe] = run_audit(
            _audit_config(recipe, spec, plan, cache), root / f"audit-{recipe}", reporter=reporter
        )
    report = write_report([base.path, audited["harmful-prefix"].path, audited["refusal"].path], root / "report")
    return DemoResult(
        base=base.path, harmful=audited["harmful-prefix"].path, refusal=audited["refusal"].path, report=report
    )
