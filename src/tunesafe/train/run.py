"""A fine-tune as a run directory: config, manifest, and the trainer's outputs under ``train/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.config import ModelSpec, TrainConfig
from tunesafe.results import RunDir, Stopwatch, locked_output, new_run_path, open_run

if TYPE_CHECKING:
    from tunesafe.tracking import TrackingSession


def finetune_run(
    config: TrainConfig,
    output: Path | None = None,
    *,
    runs_root: Path = Path("runs"),
    reporter: Reporter | None = None,
    tracking: TrackingSession | None = None,
) -> RunDir:
    """Fine-tune ``config.model`` on ``config.data`` and record it as a run directory.

    A finished run of the same config is reused as it is (training is not repeated); an
    interrupted one resumes from its latest checkpoint (``save_steps`` > 0) rather than starting over.
    ``tracking`` (an open tracked run) receives the trainer's curves and the safety curve (``tunesafe.tracking``).
    """
    reporter = reporter or NullReporter()
    check_training_inputs(config)
    path = output or new_run_path(runs_root, config.name)
    with locked_output(path):
        return _finetune_in(open_run(path, "finetune", config), config, reporter, tracking)


def check_training_inputs(config: TrainConfig) -> None:
    """A user's training file read whole and the base model's path checked, before a run directory is
    made or a model prepared: bad input is reported first (each row is read again when training)."""
    from tunesafe.backends import check_model_spec
    from tunesafe.data.formats import read_messages_jsonl

    if config.data.path is not None and config.data.columns is None:
        read_messages_jsonl(Path(config.data.path))
    check_model_spec(config.model)


def _finetune_in(
    run: RunDir, config: TrainConfig, reporter: Reporter, tracking: TrackingSession | None = None
) -> RunDir:
    """Train into an opened run directory, or reuse its finished result."""
    from tunesafe.train.sft import finetune

    if run.manifest().info.get("result"):
        run.update_manifest(status="success")
        return run
    watch = Stopwatch()
    with run.recording_failures(watch):
        total = config.max_steps if config.max_steps > 0 else 0
        with reporter.task(f"finetune: {config.name}", total=total) as advance, watch("train"):
            last = [0]

            def on_step(step: int, steps: int) -> None:
                advance(step - last[0])
                last[0] = step

            result = finetune(config, run.path, progress=on_step, tracking=tracking)
        run.update_manifest(
            status="success",
            timings=watch.timings,
            fingerprints={"data": result.data_sha256},
            info={"result": result.model_dump(mode="json")},
        )
        return run


def tuned_model_spec(run: RunDir) -> ModelSpec:
    """The ModelSpec that audits a finished fine-tune: base + adapter (not merged), or the full model.

    A system prompt used in training is kept for the audit, as Qi et al. 2023 evaluate each model
    with its fine-tuning system prompt. The trained model is looked up in the run directory itself
    when the recorded absolute path no longer exists (the run was moved or copied).
    """
    import yaml

    config = TrainConfig.model_validate(yaml.safe_load(run.config_path.read_text(encoding="utf-8")))
    result = run.manifest().info.get("result") or {}
    spec = config.model
    if spec.system_prompt is None and config.data.system_prompt is not None:
        spec = spec.model_copy(update={"system_prompt": config.data.system_prompt})
    if result.get("adapter_dir"):
        return spec.model_copy(update={"adapter": str(_located(run, result["adapter_dir"]))})
    if result.get("full_model_dir"):
        return spec.model_copy(update={"source": str(_located(run, result["full_model_dir"])), "adapter": None})
    raise ValueError(f"{run.path} has no trained model recorded (status {run.manifest().status})")


def _located(run: RunDir, recorded: str) -> Path:
    path = Path(recorded)
    return path if path.exists() else run.train_dir / "model"
