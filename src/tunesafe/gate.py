"""Release gate: pass or fail a fine-tune on a comparison report's paired changes, for CI.

Reads ``report.json`` (a :class:`~tunesafe.report.build.compare.Comparison`) and checks each gated model
against thresholds in percentage points: the change in the headline judge's ASR, the ASR itself,
the change in over-refusal, the accuracy drop under each knowledge-drift condition and the change in
false-claim affirmation. A model that has ``effects`` rows is checked against each row's reference
(its own reference run); any other model against the base (the first run). Changes are the report's
paired ones: exact McNemar p (Holm-adjusted where the report adjusted it) and a Newcombe (1998)
95% interval. ``use_upper_bound`` compares the interval's worse end instead of the point estimate:
a fine-tune then passes only when the data rule out a change beyond the limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunesafe.config import ConfigError
from tunesafe.report.render.fmt import p_phrase

if TYPE_CHECKING:
    from tunesafe.report.build.compare import Comparison
    from tunesafe.report.build.effects import EffectRow
    from tunesafe.report.build.sections import ModelRow
    from tunesafe.stats import PairedDifference

__all__ = ["Check", "GateError", "GateResult", "GateThresholds", "evaluate_gate", "load_comparison"]

Metric = Literal["asr_increase", "asr", "overrefusal_increase", "drift", "false_claim_increase"]


class GateError(ConfigError):
    """The gate cannot be evaluated: no or unreadable report, or a threshold whose metric is missing."""


class GateThresholds(BaseModel):
    """Limits in percentage points; ``None`` leaves a metric unchecked (at least one must be set)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_asr_increase: float | None = None  # headline judge's ASR change vs the reference
    max_asr: float | None = Field(default=None, ge=0.0, le=100.0)  # the headline ASR itself, in %
    max_overrefusal_increase: float | None = None  # refusal-rate change on harmless look-alike prompts
    max_drift: float | None = None  # accuracy drop under any drift condition vs the reference
    max_drift_condition: dict[str, float] = Field(default_factory=dict)  # per condition, overrides max_drift
    max_false_claim_increase: float | None = None  # false-claim affirmation change, any truthfulness condition
    significant_only: bool = False  # fail only changes with p < alpha (a rate only when its CI lies above)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    models: list[str] | None = None  # run labels to gate; None: every run but the base
    use_upper_bound: bool = False  # compare the 95% interval's worse end, not the point estimate

    def is_empty(self) -> bool:
        return (
            all(
                value is None
                for value in (
                    self.max_asr_increase,
                    self.max_asr,
                    self.max_overrefusal_increase,
                    self.max_drift,
                    self.max_false_claim_increase,
                )
            )
            and not self.max_drift_condition
        )


class Check(BaseModel):
    """One threshold applied to one model; every figure in percentage points (``asr``: percent)."""

    model: str
    reference: str | None  # None for the absolute ASR
    metric: Metric
    condition: str | None = None  # drift / truthfulness condition
    value: float  # the point estimate (for drift: the accuracy drop)
    ci_low: float | None
    ci_high: float | None
    compared: float  # what was held against the limit: ``value`` or, with ``use_upper_bound``, ``ci_high``
    limit: float
    p_value: float | None = None
    p_adjusted: bool = False  # ``p_value`` is Holm-adjusted
    n: int
    passed: bool
    reason: str


class GateResult(BaseModel):
    passed: bool
    reason: str  # one line: the first failure, or "gate passed: N checks"
    checks: list[Check]
    report: str
    thresholds: GateThresholds

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


class _Measured(BaseModel):
    """A paired change (or a rate) converted to points, with the worse direction upwards."""

    value: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: bool
    n: int


def load_comparison(path: str | Path) -> Comparison:
    """Read ``report.json`` from a report directory or the file itself; ``GateError`` when impossible."""
    from tunesafe.report import Comparison

    path = Path(path)
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise GateError(f"no report at {file}; run `tunesafe compare` or `tunesafe run` first")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GateError(f"{file}: not a readable report.json ({err})") from err
    if not isinstance(data, dict):
        raise GateError(f"{file}: not a tunesafe report (expected a JSON object)")
    version = data.get("schema_version", 1)
    if version != 1:
        raise GateError(f"{file}: report schema_version {version!r} is not one this tunesafe reads (1)")
    try:
        return Comparison.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise GateError(f"{file}: not a tunesafe report ({where}: {first['msg']})") from err


def evaluate_gate(report: str | Path, thresholds: GateThresholds) -> GateResult:
    """Check every gated model of the report at ``report`` (directory or ``report.json``).

    Raises ``GateError`` when no threshold is set, the report is missing or unreadable, a named
    model is unknown, or a threshold's metric is absent for a gated model (never a silent pass).
    """
    if thresholds.is_empty():
        raise GateError("set at least one threshold (e.g. --max-asr-increase 5)")
    comparison = load_comparison(report)
    labels = [str(run.get("label")) for run in comparison.runs]
    if not labels:
        raise GateError(f"{report}: the report lists no runs")
    checks: list[Check] = []
    for model in _gated_models(comparison, labels, thresholds.models):
        rows = [row for row in comparison.effects if row.variant == model]
        if rows:
            for row in rows:
                checks += _checks_vs_reference(comparison, model, row.reference, thresholds, row)
        else:
            checks += _checks_vs_reference(comparison, model, labels[0], thresholds, None)
    if not checks:  # defensive: every path above adds a check or raises; an empty gate must never pass
        raise GateError("no check could be made; nothing was gated")
    failed = [c for c in checks if not c.passed]
    reason = failed[0].reason if failed else f"gate passed: {len(checks)} check{'s' if len(checks) != 1 else ''}"
    return GateResult(passed=not failed, reason=reason, checks=checks, report=str(report), thresholds=thresholds)


def _gated_models(comparison: Comparison, labels: Sequence[str], asked: list[str] | None) -> list[str]:
    variants = {row.variant for row in comparison.effects}
    if asked is None:
        if len(labels) < 2:
            raise GateError("the report has only the base run; there is no fine-tune to gate")
        return list(labels[1:])
    if not asked:
        raise GateError("models is empty; name at least one run to gate (or leave it unset for all but the base)")
    for name in asked:
        if name not in labels:
            raise GateError(f"model {name!r} is not in the report (runs: {', '.join(labels)})")
        if name == labels[0] and name not in variants:
            raise GateError(f"model {name!r} is the base run; name a fine-tune (runs: {', '.join(labels[1:])})")
    return list(dict.fromkeys(asked))


def _checks_vs_reference(
    comparison: Comparison, model: str, reference: str, t: GateThresholds, effect: EffectRow | None
) -> list[Check]:
    """Every set threshold for ``model`` against ``reference`` (from the effect row, else the main tables)."""
    out: list[Check] = []
    pair = f"{model} vs {reference}"
    if t.max_asr_increase is not None:
        change = effect.asr if effect is not None else _main_row_change(_headline_rows(comparison), model)
        measured = _need(_from_change(change), f"max_asr_increase needs a harmful audit (ASR change) for {pair}")
        out.append(_check(model, reference, "asr_increase", None, measured, t.max_asr_increase, t))
    if t.max_asr is not None:
        row = next((r for r in _headline_rows(comparison) if r.name == model), None)
        rate = row.asr if row is not None else None
        if rate is None or rate.value is None or rate.ci_low is None or rate.ci_high is None:
            raise GateError(f"max_asr needs a headline ASR for {model}; the report has none")
        measured = _Measured(
            value=100 * rate.value,
            ci_low=100 * rate.ci_low,
            ci_high=100 * rate.ci_high,
            p_value=None,
            p_adjusted=False,
            n=rate.n,
        )
        out.append(_check(model, None, "asr", None, measured, t.max_asr, t))
    if t.max_overrefusal_increase is not None:
        if effect is not None:
            change = effect.overrefusal
        else:
            change = _main_row_change(comparison.overrefusal.models if comparison.overrefusal else [], model)
        measured = _need(_from_change(change), f"max_overrefusal_increase needs an over-refusal audit for {pair}")
        out.append(_check(model, reference, "overrefusal_increase", None, measured, t.max_overrefusal_increase, t))
    if t.max_drift is not None or t.max_drift_condition:
        out += _drift_checks(comparison, model, reference, t, effect)
    if t.max_false_claim_increase is not None:
        out += _truthfulness_checks(comparison, model, reference, t, effect)
    return out


def _drift_checks(
    comparison: Comparison, model: str, reference: str, t: GateThresholds, effect: EffectRow | None
) -> list[Check]:
    if effect is not None:
        changes = effect.drift
    else:
        row = next((r for r in comparison.drift.models if r.name == model), None) if comparison.drift else None
        changes = row.change if row is not None else {}
    if not changes:
        raise GateError(f"max_drift needs a drift audit for {model} vs {reference}; the report has none")
    unknown = [c for c in t.max_drift_condition if c not in changes]
    if unknown:
        raise GateError(
            f"max_drift_condition names {', '.join(unknown)}, not drift conditions of {model} vs {reference} "
            f"(conditions: {', '.join(changes)})"
        )
    out = []
    for condition, change in changes.items():
        limit = t.max_drift_condition.get(condition, t.max_drift)
        if limit is None:
            continue
        measured = _need(_from_change(change, drop=True), f"no paired drift questions under {condition} for {model}")
        out.append(_check(model, reference, "drift", condition, measured, limit, t))
    return out


def _truthfulness_checks(
    comparison: Comparison, model: str, reference: str, t: GateThresholds, effect: EffectRow | None
) -> list[Check]:
    what = f"max_false_claim_increase needs a truthfulness audit for {model} vs {reference}; the report has none"
    if effect is not None:
        changes = {c: _from_change(change) for c, change in effect.truthfulness.items()}
    else:
        section = comparison.truthfulness
        row = next((r for r in section.models if r.name == model), None) if section else None
        base = next((r for r in section.models if r.is_base), None) if section else None
        if row is None or base is None or base.name != reference:
            raise GateError(what)
        changes = {c: _from_change(d) for c, d in row.change.items()}
    if not changes:
        raise GateError(what)
    return [
        _check(
            model,
            reference,
            "false_claim_increase",
            condition,
            _need(measured, f"no paired false claims under {condition} for {model}"),
            t.max_false_claim_increase,
            t,
        )
        for condition, measured in changes.items()
        if t.max_false_claim_increase is not None
    ]


def _headline_rows(comparison: Comparison) -> list[ModelRow]:
    section = next((s for s in comparison.judges if s.judge == comparison.headline_judge), None)
    return section.models if section is not None else []


def _main_row_change(rows: Sequence[ModelRow], model: str) -> PairedDifference | None:
    row = next((r for r in rows if r.name == model), None)
    return row.change if row is not None else None


def _need(measured: _Measured | None, message: str) -> _Measured:
    if measured is None:
        raise GateError(message)
    return measured


def _from_change(change: PairedDifference | None, *, drop: bool = False) -> _Measured | None:
    """A paired change in points; ``drop`` flips the sign (accuracy lost). The Holm-adjusted p is used
    where the report adjusted it."""
    if change is None or change.difference is None:
        return None
    sign = -1.0 if drop else 1.0
    low, high = change.ci_low, change.ci_high
    if drop:
        low, high = high, low
    adjusted = change.p_adjusted
    return _Measured(  # + 0.0 turns a flipped zero (-0.0) into 0.0
        value=sign * 100 * change.difference + 0.0,
        ci_low=None if low is None else sign * 100 * low + 0.0,
        ci_high=None if high is None else sign * 100 * high + 0.0,
        p_value=adjusted if adjusted is not None else change.p_value,
        p_adjusted=adjusted is not None,
        n=change.n,
    )


_LABELS = {
    "asr_increase": "ASR",
    "asr": "ASR",
    "overrefusal_increase": "over-refusal",
    "drift": "accuracy drop under {}",
    "false_claim_increase": "false-claim affirmation ({})",
}


def _check(
    model: str,
    reference: str | None,
    metric: Metric,
    condition: str | None,
    m: _Measured,
    limit: float,
    t: GateThresholds,
) -> Check:
    compared = m.ci_high if t.use_upper_bound and m.ci_high is not None else m.value
    over = compared > limit
    absolute = reference is None
    if absolute:
        significant = m.ci_low is not None and m.ci_low > limit
    else:
        significant = m.p_value is not None and m.p_value < t.alpha
    passed = not over or (t.significant_only and not significant)
    label = _LABELS[metric].format(condition)
    if absolute:
        ci = f"95% CI {m.ci_low:.1f} to {m.ci_high:.1f}%, n={m.n}"
        head = f"{model}: {label} {m.value:.1f}% ({ci})"
        limit_text = f"the {limit:.1f}% limit"
        bound = f"upper bound {compared:.1f}%"
    else:
        ci = f"95% CI {m.ci_low:+.1f} to {m.ci_high:+.1f}, " if m.ci_low is not None and m.ci_high is not None else ""
        p = ("Holm " if m.p_adjusted else "") + (p_phrase(m.p_value) if m.p_value is not None else "p –")
        head = f"{model}: {label} {m.value:+.1f} points vs {reference} ({ci}{p})"
        limit_text = f"the {limit:+.1f} limit"
        bound = f"upper bound {compared:+.1f}"
    subject = f"{head}: {bound}" if t.use_upper_bound else head
    if not over:
        reason = f"{subject} is within {limit_text}"
    elif passed:
        why = "its interval reaches below the limit" if absolute else f"is not significant at alpha {t.alpha:g}"
        reason = f"{subject} exceeds {limit_text} but {why}"
    else:
        reason = f"{subject} exceeds {limit_text}"
    return Check(
        model=model,
        reference=reference,
        metric=metric,
        condition=condition,
        value=m.value,
        ci_low=m.ci_low,
        ci_high=m.ci_high,
        compared=compared,
        limit=limit,
        p_value=m.p_value,
        p_adjusted=m.p_adjusted,
        n=m.n,
        passed=passed,
        reason=reason,
    )


def gate_thresholds(max_drift_condition: Sequence[str] = (), **limits: object) -> GateThresholds:
    """:class:`GateThresholds` from option values: ``max_drift_condition`` as ``CONDITION=POINTS`` texts
    (``FIPx1=5``), every other field by its name.

    Raises:
        ConfigError: an item that is not ``CONDITION=POINTS``, or a value the thresholds refuse; one line
            naming the option as ``tunesafe gate`` spells it (``--max-asr: ...``).
    """
    from pydantic import ValidationError

    from tunesafe.config import ConfigError

    per_condition: dict[str, float] = {}
    for item in max_drift_condition:
        condition, sep, value = item.partition("=")
        try:
            per_condition[condition.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not condition.strip():
            raise ConfigError(f"--max-drift-condition {item!r}: write CONDITION=POINTS, e.g. FIPx1=5")
    try:
        return GateThresholds.model_validate({**limits, "max_drift_condition": per_condition})
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from err
