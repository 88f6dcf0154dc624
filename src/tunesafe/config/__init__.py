"""Configuration, one home: every spec (pydantic, unknown keys are errors), YAML and ``--set`` overrides,
and the one config hash.

``base`` (strict models, ConfigError) · ``models`` (what is audited or fine-tuned, served endpoints) ·
``audits`` (judges and the audits' entries, AuditConfig) · ``training`` (data, LoRA, screening,
TrainConfig) · ``loading`` (YAML in and out, overrides) · ``hashing`` (whether a run directory holds a config).
"""

from __future__ import annotations

from tunesafe.config.audits import (
    LLM_JUDGE_KINDS,
    AuditConfig,
    AuditsSpec,
    CacheSpec,
    CalibrationSpec,
    ColumnMap,
    DriftAuditSpec,
    HarmfulAuditSpec,
    JudgeKind,
    JudgeSpec,
    LLMJudgeKind,
    OverrefusalAuditSpec,
    TruthfulnessAuditSpec,
)
from tunesafe.config.base import ConfigError, Strict
from tunesafe.config.hashing import TRAINING_FORMAT_VERSION, config_hash
from tunesafe.config.loading import apply_overrides, dump_config, load_config, parse_override
from tunesafe.config.models import (
    LLAMACPP_PREFIX,
    RESERVED_REQUEST_FIELDS,
    SERVED_PREFIX,
    EndpointSpec,
    ModelSpec,
    model_overrides,
    normalised_for_hash,
    without_absent_endpoints,
)
from tunesafe.config.training import (
    FLAG_KINDS,
    MAPPED_FIELDS,
    REQUIRED_FIELDS,
    DataSpec,
    FlagKind,
    LoraSpec,
    RecipeName,
    SafetyEvalSpec,
    ScreenSpec,
    ScreenThresholds,
    TrainConfig,
    check_mapping,
)

__all__ = [
    "ConfigError",
    "Strict",
    "RESERVED_REQUEST_FIELDS",
    "EndpointSpec",
    "ModelSpec",
    "normalised_for_hash",
    "without_absent_endpoints",
    "SERVED_PREFIX",
    "LLAMACPP_PREFIX",
    "model_overrides",
    "LLMJudgeKind",
    "JudgeKind",
    "LLM_JUDGE_KINDS",
    "JudgeSpec",
    "ColumnMap",
    "CalibrationSpec",
    "HarmfulAuditSpec",
    "OverrefusalAuditSpec",
    "DriftAuditSpec",
    "TruthfulnessAuditSpec",
    "AuditsSpec",
    "CacheSpec",
    "AuditConfig",
    "RecipeName",
    "LoraSpec",
    "DataSpec",
    "MAPPED_FIELDS",
    "REQUIRED_FIELDS",
    "check_mapping",
    "SafetyEvalSpec",
    "FlagKind",
    "FLAG_KINDS",
    "ScreenThresholds",
    "ScreenSpec",
    "TrainConfig",
    "parse_override",
    "apply_overrides",
    "load_config",
    "dump_config",
    "TRAINING_FORMAT_VERSION",
    "config_hash",
]
