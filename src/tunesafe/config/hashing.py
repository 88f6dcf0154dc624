"""The one config hash: whether a run directory holds a config (and may be resumed)."""

from __future__ import annotations

from typing import Any

from tunesafe._util.hashing import sha256_obj
from tunesafe.config.audits import AuditConfig
from tunesafe.config.models import normalised_for_hash, without_absent_endpoints
from tunesafe.config.training import TrainConfig

# --- the one config hash ------------------------------------------------------------------------
# It decides whether a run directory holds a config (and may be resumed). Whatever was added to a
# config after runs were made leaves no trace while it is off, so those runs keep their hashes
# (tests/unit/test_config_hash_pins.py pins them).

TRAINING_FORMAT_VERSION = 2
"""Bumped when tunesafe changes how training data is built or tokenized, so that a finished
fine-tune made the old way is not reused as if it were current (2: open-ended openings)."""

# Audit fields that change speed, not results.
_AUDIT_SPEED_ONLY: dict[str, Any] = {
    "cache": True,
    "chunk_size": True,
    "model": {"batch_size": True, "threads": True, "device": True},
}
# Fine-tune data and training settings as they are when off (no mapping, no mixing, no preset, no
# checkpoints, no safety curve, no screening).
_TRAIN_DATA_OFF = {"columns": None, "role": None, "split": "train", "harmful_fraction": 0.0, "safety_fraction": 0.0}
_TRAIN_OFF = {"preset": None, "save_steps": 0, "safety_eval": None, "screen": None}


def config_hash(config: AuditConfig | TrainConfig) -> str:
    """The hash of what decides a run's results: an audit's or a fine-tune's config.

    Every model spec (audited, judging or fine-tuned) is normalised the same way: no endpoint
    leaves no trace, ``dtype: auto`` hashes as float32 and ``device_map`` not at all
    (:func:`normalised_for_hash`). An audit hashes its decoding identity and only the audits that
    are on; a fine-tune hashes its settings without those that are off, and the training-data
    format version.
    """
    if isinstance(config, TrainConfig):
        data = normalised_for_hash(without_absent_endpoints(config.model_dump(mode="json")))
        data["data"] = {k: v for k, v in data["data"].items() if not (k in _TRAIN_DATA_OFF and v == _TRAIN_DATA_OFF[k])}
        data = {k: v for k, v in data.items() if not (k in _TRAIN_OFF and v == _TRAIN_OFF[k])}
        return sha256_obj({"config": data, "format": TRAINING_FORMAT_VERSION})
    data = config.model_dump(mode="json", exclude=_AUDIT_SPEED_ONLY)
    if data["long_prompts"] == "refuse":  # refusing changes no completion: runs made before it keep their hash
        del data["long_prompts"]
    data["generation"] = config.generation.identity()
    data["audits"] = {name: spec for name, spec in data["audits"].items() if spec is not None}
    return sha256_obj(normalised_for_hash(without_absent_endpoints(data)))
