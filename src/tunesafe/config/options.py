"""Command-line style options turned into configs: the ``audit``, ``finetune`` and ``rejudge`` flags are
shorthands for ``--set`` overrides and specs, read here so the CLI only parses and prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunesafe.config.audits import AuditConfig, CalibrationSpec, JudgeSpec
from tunesafe.config.base import ConfigError
from tunesafe.config.loading import load_config
from tunesafe.config.models import model_overrides
from tunesafe.config.training import TrainConfig


def judge_spec(text: str) -> JudgeSpec:
    """``--judge TEXT``: a judge name or ``kind@model``; a one-line ConfigError naming it otherwise."""
    try:
        return JudgeSpec.model_validate(text)
    except ValidationError as err:
        raise ConfigError(f"--judge {text}: {err.errors()[0]['msg']}") from err


def judge_specs(texts: Sequence[str]) -> list[JudgeSpec]:
    """Every ``--judge``, at least one."""
    if not texts:
        raise ConfigError("give at least one --judge")
    return [judge_spec(text) for text in texts]


def calibration_choice(calibrate: bool, path: Path | None) -> CalibrationSpec | None:
    """``--calibration FILE`` (a labelled set of one's own) wins over ``--calibrate`` (the bundled one)."""
    if path is not None:
        return CalibrationSpec(path=str(path))
    return CalibrationSpec(bundled=True) if calibrate else None


def audit_config(
    path: Path | None,
    overrides: Sequence[str] = (),
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    adapter: Path | None = None,
    limit: int | None = None,
    dataset: str | None = None,
    judges: Sequence[str] = (),
    overrefusal: bool = True,
    calibrate: bool = False,
    name: str | None = None,
    cache: bool = True,
    switch_on: Sequence[str] = (),
) -> AuditConfig:
    """The audit config of ``path`` with ``overrides``, then the ``tunesafe audit`` flags; ``switch_on``
    names audits to run with their defaults unless the config already sets them (``--drift``)."""
    flags = list(overrides)
    flags += model_overrides(model, base_url=base_url, api_key_env=api_key_env)
    flags += [f"model.adapter={adapter}"] if adapter else []
    flags += [f"audits.harmful.limit={limit}"] if limit else []
    flags += [f"audits.harmful.dataset={dataset}"] if dataset else []
    flags += [f"audits.harmful.judges=[{', '.join(judges)}]"] if judges else []
    flags += ["audits.overrefusal=null"] if not overrefusal else []
    flags += ["audits.harmful.calibration={bundled: true}"] if calibrate else []
    flags += [f"name={name}"] if name else []
    flags += ["cache.mode='off'"] if not cache else []  # quoted: YAML reads a bare off as false
    config = load_config(AuditConfig, path, flags)
    switched: dict[str, Any] = {k: {} for k in switch_on if getattr(config.audits, k) is None}
    if not switched:
        return config
    return AuditConfig.model_validate({**config.model_dump(), "audits": {**config.audits.model_dump(), **switched}})


def train_config(
    path: Path | None,
    overrides: Sequence[str] = (),
    *,
    model: str | None = None,
    recipe: str | None = None,
    data: str | None = None,
    preset: str | None = None,
    screen: bool = False,
) -> TrainConfig:
    """The fine-tune config of ``path`` with ``overrides``, then the ``tunesafe finetune`` flags
    (``screen`` first, so explicit ``screen.*`` settings still apply)."""
    flags = ["screen={}"] if screen else []
    flags += list(overrides)
    flags += [f"model.source={model}"] if model else []
    flags += [f"data.recipe={recipe}"] if recipe else []
    flags += [f"data.path={data}", "data.recipe=null"] if data else []
    flags += [f"preset={preset}"] if preset else []
    return load_config(TrainConfig, path, flags)
