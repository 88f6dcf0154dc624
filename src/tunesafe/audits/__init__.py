"""Audits: named measurements of one model. Each implements the Audit protocol (``audits.base``).

An audit's name is its config key (``audits.<name>`` in :class:`tunesafe.config.AuditsSpec`), its
module here (which defines ``AUDIT``), its records file ``samples/<name>.jsonl`` and its metrics key.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesafe.audits.base import Audit


def audit_names() -> list[str]:
    """Every audit, in the order they run and are reported: the fields of ``AuditsSpec``."""
    from tunesafe.config import AuditsSpec

    return list(AuditsSpec.model_fields)


def get_audit(name: str) -> Audit[Any]:
    """The audit called ``name`` (its module's ``AUDIT``)."""
    if name not in audit_names():
        raise ValueError(f"unknown audit {name!r}; known: {', '.join(audit_names())}")
    audit: Audit[Any] = import_module(f"tunesafe.audits.{name}").AUDIT
    return audit


def all_audits() -> list[Audit[Any]]:
    return [get_audit(name) for name in audit_names()]
