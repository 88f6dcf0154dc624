"""What every spec shares: strict models (unknown keys are errors) and the one error type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tunesafe.errors import InputError


class ConfigError(InputError):
    """A configuration file or override is invalid; the message says where and why."""


class Strict(BaseModel):
    """A spec: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
