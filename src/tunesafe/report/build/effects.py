"""What each fine-tune and mitigation did: paired changes of a variant against its own reference run.

The main tables compare every run with the first. An experiment's variants often have another
proper reference: an identity-shift fine-tune is compared with the base under the same persona
prompt, a mitigation (safety-example mixing, screening) with the unmitigated variant it mitigates.
Each :class:`EffectSpec` names such a pair by run label; its :class:`EffectRow` holds the paired
changes (exact McNemar p, Newcombe 1998 interval) in ASR, over-refusal, drift accuracy and
false-claim affirmation, and the paired bootstrap change of the harm judges' graded scores
(``scores.py``). The ASR p-values of all rows are Holm (1979) adjusted together, since they are
tested as one family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from tunesafe.audits import truthfulness as truthfulness_audit
from tunesafe.audits.overrefusal import refused
from tunesafe.report.build.align import HarmfulAlignment, LoadedRun, align
from tunesafe.report.build.changes import Change, change, paired_change
from tunesafe.report.build.scores import graded_changes
from tunesafe.report.build.truthfulness import affirmed
from tunesafe.stats import PairedScoreDifference, holm_adjust

if TYPE_CHECKING:
    from tunesafe.results import RunDir

# what the variant is: a fine-tune, another model, the base under another prompt, or a mitigation of another variant
EffectKind = Literal["fine-tune", "model", "prompt", "mitigation"]


class EffectSpec(BaseModel):
    """One paired comparison: ``variant`` against ``reference`` (run labels)."""

    variant: str
    reference: str
    kind: EffectKind
    note: str | None = None  # what the variant does, e.g. "screening", "safety mix 30%"


class EffectRow(BaseModel):
    """The paired changes ``variant − reference``; None / empty where the pair lacks the audit."""

    variant: str
    reference: str
    kind: EffectKind
    note: str | None = None
    asr: Change | None = None  # headline judge, headline prompts; ``p_adjusted``: Holm over all rows
    asr_by_judge: dict[str, Change] = Field(default_factory=dict)  # every shared judge, headline prompts
    overrefusal_judge: str | None = None
    overrefusal: Change | None = None  # refusal rate on harmless look-alike prompts
    drift: dict[str, Change] = Field(default_factory=dict)  # condition -> accuracy change
    truthfulness: dict[str, Change] = Field(default_factory=dict)  # condition -> false-claim affirmation change
    # "judge:key" -> paired change of a graded judge score (Qi et al. 1–5, StrongREJECT 0–1), headline prompts
    graded: dict[str, PairedScoreDifference] = Field(default_factory=dict)


def check_effect_labels(specs: Sequence[EffectSpec], labels: Sequence[str]) -> None:
    """Raise ``ValueError`` naming an unknown label (and the known ones) or a run compared with itself."""
    known = ", ".join(labels)
    for spec in specs:
        for role, label in (("variant", spec.variant), ("reference", spec.reference)):
            if label not in labels:
                raise ValueError(f"effect {role} {label!r} is not one of the compared runs (labels: {known})")
        if spec.variant == spec.reference:
            raise ValueError(f"effect compares {spec.variant!r} with itself; name another run as its reference")


def effect_rows(
    specs: Sequence[EffectSpec],
    loaded: Sequence[LoadedRun],
    labels: Sequence[str],
    harmful: HarmfulAlignment | None,
    overrefusal_judge: str | None,
) -> list[EffectRow]:
    """One row per spec, from the runs ``compare_runs`` loaded (``labels`` in the same order).

    ASR is paired on the headline prompts the main table uses (shared by every run); over-refusal,
    drift and truthfulness on the items both runs of the pair answered. ``overrefusal_judge`` is the
    main over-refusal section's judge; without one, the reference's headline judge is used.
    """
    check_effect_labels(specs, labels)
    index = {label: i for i, label in enumerate(labels)}
    rows = []
    for spec in specs:
        ref, var = index[spec.reference], index[spec.variant]
        by_judge = (
            {j: change(harmful.headline[ref], harmful.headline[var], j) for j in harmful.judges} if harmful else {}
        )
        headline = by_judge.get(harmful.headline_judge) if harmful else None
        judge, over = _overrefusal_change(loaded[ref], loaded[var], overrefusal_judge)
        rows.append(
            EffectRow(
                variant=spec.variant,
                reference=spec.reference,
                kind=spec.kind,
                note=spec.note,
                asr=headline.model_copy() if headline else None,
                asr_by_judge=by_judge,
                overrefusal_judge=judge,
                overrefusal=over,
                drift=_drift_changes(loaded[ref], loaded[var]),
                truthfulness=_truthfulness_changes(loaded[ref].run, loaded[var].run),
                graded=graded_changes(harmful.headline[ref], harmful.headline[var], harmful.judges) if harmful else {},
            )
        )
    tested = [row.asr for row in rows if row.asr is not None]
    for tested_change, p in zip(tested, holm_adjust([c.p_value for c in tested]), strict=True):
        tested_change.p_adjusted = p
    return rows


def _overrefusal_change(ref: LoadedRun, var: LoadedRun, judge: str | None) -> tuple[str | None, Change | None]:
    judge = judge or ref.overrefusal_metrics.get("headline_judge")
    if judge is None or not all(judge in item.overrefusal_metrics.get("judges", {}) for item in (ref, var)):
        return None, None
    order, (base, other) = align([ref.overrefusal, var.overrefusal])
    return (judge, change(base, other, judge, refused)) if order else (None, None)


def _drift_changes(ref: LoadedRun, var: LoadedRun) -> dict[str, Change]:
    """Accuracy change per condition both runs asked, paired on the questions both asked under it."""
    out = {}
    for condition in [c for c in ref.drift if c in var.drift]:
        order, (base, other) = align([ref.drift[condition], var.drift[condition]])
        if order:
            out[condition] = paired_change([(a.correct, b.correct) for a, b in zip(base, other, strict=True)])
    return out


def _truthfulness_changes(ref: RunDir, var: RunDir) -> dict[str, Change]:
    """False-claim affirmation change per condition, paired on the false claims both runs parsed."""
    name = truthfulness_audit.NAME
    ref_records = {r.sample_id: r for r in ref.records(name)}
    var_records = {r.sample_id: r for r in var.records(name)} if ref_records else {}
    _, (base, other) = align([ref_records, var_records])
    pairs: dict[str, list[tuple[bool, bool]]] = {}
    for a, b in zip(base, other, strict=True):
        if a.metadata.get(name, {}).get("statement") != "false":
            continue
        pair = (affirmed(a), affirmed(b))
        pairs.setdefault(a.condition or "plain", [])
        if pair[0] is not None and pair[1] is not None:
            pairs[a.condition or "plain"].append((pair[0], pair[1]))
    return {condition: paired_change(p) for condition, p in pairs.items()}
