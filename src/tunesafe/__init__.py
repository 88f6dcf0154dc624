"""tunesafe: what did this fine-tune do to the model's safety, knowledge and truthfulness?

The public Python API is what this module exports (``tunesafe.__all__``); everything else may change.
Names load on first use, so ``import tunesafe`` stays light::

    import tunesafe

    config = tunesafe.load_config(tunesafe.AuditConfig, overrides=["model.source=smollm2-135m-instruct"])
    base = tunesafe.run_audit(config, "runs/base")             # samples → generate → judge → metrics
    tuned = tunesafe.finetune_run(tunesafe.TrainConfig(), "runs/finetune")
    ...
    report = tunesafe.write_report([base.path, variant.path], "runs/report")
    decision = tunesafe.evaluate_gate(report.json_path, tunesafe.GateThresholds(max_asr_increase=5))

See the README's "Python API" section and docs/architecture.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name → module (names are the library's own, so a submodule never shadows one)
_EXPORTS: dict[str, str] = {
    # configuration
    "AuditConfig": "tunesafe.config",
    "TrainConfig": "tunesafe.config",
    "ModelSpec": "tunesafe.config",
    "load_config": "tunesafe.config",
    "ExperimentConfig": "tunesafe.experiment",
    "load_experiment": "tunesafe.experiment",
    # the pipeline
    "run_audit": "tunesafe.runner",
    "finetune_run": "tunesafe.train.run",
    "tuned_model_spec": "tunesafe.train.run",
    "run_experiment": "tunesafe.experiment",
    "compare_runs": "tunesafe.report",
    "write_report": "tunesafe.report",
    "screen_file": "tunesafe.screen",
    "rejudge_run": "tunesafe.rejudge",
    "evaluate_gate": "tunesafe.gate",
    "GateThresholds": "tunesafe.gate",
    "import_completions": "tunesafe.importers.completions",
    "export_samples": "tunesafe.export",
    "write_card": "tunesafe.card",
    "write_attestation": "tunesafe.attest",
    "verify_attestation": "tunesafe.attest",
    # what they return and read
    "RunDir": "tunesafe.results",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from tunesafe.attest import verify_attestation as verify_attestation
    from tunesafe.attest import write_attestation as write_attestation
    from tunesafe.card import write_card as write_card
    from tunesafe.config import AuditConfig as AuditConfig
    from tunesafe.config import ModelSpec as ModelSpec
    from tunesafe.config import TrainConfig as TrainConfig
    from tunesafe.config import load_config as load_config
    from tunesafe.experiment import ExperimentConfig as ExperimentConfig
    from tunesafe.experiment import load_experiment as load_experiment
    from tunesafe.experiment import run_experiment as run_experiment
    from tunesafe.export import export_samples as export_samples
    from tunesafe.gate import GateThresholds as GateThresholds
    from tunesafe.gate import evaluate_gate as evaluate_gate
    from tunesafe.importers.completions import import_completions as import_completions
    from tunesafe.rejudge import rejudge_run as rejudge_run
    from tunesafe.report import compare_runs as compare_runs
    from tunesafe.report import write_report as write_report
    from tunesafe.results import RunDir as RunDir
    from tunesafe.runner import run_audit as run_audit
    from tunesafe.screen import screen_file as screen_file
    from tunesafe.train.run import finetune_run as finetune_run
    from tunesafe.train.run import tuned_model_spec as tuned_model_spec


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tunesafe' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
