"""Metric names: every number tunesafe logs, named by where it lives in its JSON (``docs/tracking.md``).

A name is a path of keys joined by ``/``; each key keeps letters, digits and ``_ - . space :``, any
other character becomes ``_`` (MLflow's rule), so both services show the same names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunesafe.gate import GateResult
    from tunesafe.report import Comparison

__all__ = [
    "audit_metrics",
    "comparison_metrics",
    "finetune_metrics",
    "flatten",
    "gate_metrics",
    "key",
    "safety_metrics",
]

_UNSAFE = re.compile(r"[^0-9A-Za-z_\-. :]")


def key(*parts: object) -> str:
    """``a/b/c`` from parts, each part's unsafe characters (``/`` included) replaced by ``_``."""
    return "/".join(_UNSAFE.sub("_", str(part)) for part in parts if str(part) != "")


def under(prefix: str, *parts: object) -> str:
    """``prefix/a/b``: ``prefix`` (already a name) kept as it is, the parts made safe as in :func:`key`."""
    return "/".join(p for p in (prefix, key(*parts)) if p)


def flatten(data: Any, prefix: str = "") -> dict[str, float]:
    """Every finite number in nested mappings, named by its path; lists, texts, booleans and None are left out."""
    out: dict[str, float] = {}
    if isinstance(data, Mapping):
        for name, value in data.items():
            out.update(flatten(value, under(prefix, name)))
    elif isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data) and prefix:
        out[prefix] = float(data)
    return out


def audit_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """An audit's ``metrics.json``, flattened (``harmful/judges/<judge>/asr/value``), plus headline shortcuts:
    ``harmful/asr`` and ``overrefusal/refusal_rate`` (value, ``_ci_low``, ``_ci_high``) of each audit's
    headline judge."""
    body = {name: value for name, value in metrics.items() if name != "schema_version"}
    out = flatten(body, prefix)
    for audit, rate_name in (("harmful", "asr"), ("overrefusal", "refusal_rate")):
        section = body.get(audit) or {}
        judge = section.get("headline_judge")
        rate = ((section.get("judges") or {}).get(judge) or {}).get(rate_name) if judge else None
        if isinstance(rate, Mapping):
            for field, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
                out.update(flatten({f"{rate_name}{suffix}": rate.get(field)}, under(prefix, audit)))
    return out


def comparison_metrics(comparison: Comparison) -> dict[str, float]:
    """A report's rates and paired changes per model, and its effects (each variant vs its own reference).

    ``compare/harmful/<judge>/<model>/...``, ``compare/overrefusal/<model>/...``, ``compare/drift/<model>/...``,
    ``compare/truthfulness/<model>/...`` (each row's ``asr`` or accuracy and ``change``: ``difference``,
    ``ci_low``, ``ci_high``, ``p_value``), and ``effect/<variant>/<reference>/<measure>/...``.
    """
    out: dict[str, float] = {}
    for section in comparison.judges:
        out.update(_rows(section.models, key("compare", "harmful", section.judge)))
    for name in ("overrefusal", "drift", "truthfulness"):
        part = getattr(comparison, name)
        if part is not None:
            out.update(_rows(part.models, key("compare", name)))
    for row in comparison.effects:
        data = row.model_dump(mode="json")
        out.update(
            flatten(
                {k: v for k, v in data.items() if k not in ("variant", "reference")},
                key("effect", row.variant, row.reference),
            )
        )
    return out


def _rows(rows: Iterable[Any], prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in rows:
        data = row.model_dump(mode="json")
        out.update(flatten({k: v for k, v in data.items() if k not in ("completions",)}, under(prefix, row.name)))
    return out


def gate_metrics(result: GateResult) -> dict[str, float]:
    """``gate/passed`` (1 or 0), ``gate/n_checks``, ``gate/n_failed`` and, per check,
    ``gate/<model>/<metric>[/<condition>]/`` ``value``, ``compared``, ``limit``, ``passed``, ``p_value``."""
    out = {
        "gate/passed": 1.0 if result.passed else 0.0,
        "gate/n_checks": float(len(result.checks)),
        "gate/n_failed": float(len(result.failures)),
    }
    for check in result.checks:
        where = key("gate", check.model, check.metric, check.condition or "")
        numbers = {"value": check.value, "compared": check.compared, "limit": check.limit, "p_value": check.p_value}
        out.update(flatten({**numbers, "passed": 1.0 if check.passed else 0.0}, where))
    return out


def safety_metrics(point: Mapping[str, Any]) -> dict[str, float]:
    """One safety-during-training point: ``safety/asr`` (with ``_ci_low``, ``_ci_high``), ``safety/n_judged``,
    ``safety/unscored``; logged at the point's training step."""
    rate = point.get("asr") or {}
    return flatten(
        {
            "asr": rate.get("value"),
            "asr_ci_low": rate.get("ci_low"),
            "asr_ci_high": rate.get("ci_high"),
            "n_judged": rate.get("n"),
            "unscored": rate.get("unscored"),
        },
        "safety",
    )


def finetune_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """A fine-tune's result (manifest ``info.result``): ``finetune/steps``, ``finetune/first_loss``,
    ``finetune/final_loss``, ``finetune/train_seconds``, ``finetune/n_examples``."""
    wanted = ("steps", "first_loss", "final_loss", "train_seconds", "n_examples")
    return flatten({name: result.get(name) for name in wanted}, "finetune")
