"""Variants trained with several seeds: per-seed rates, their spread, and a change pooled over seeds.

An experiment can train a variant once per seed (models ``<name>.seed<k>``); one replicate's ASR mixes
the fine-tune's effect with seed-to-seed variation. Per group this module reports each replicate's
headline ASR (Wilson interval), the mean, sample standard deviation (``statistics.stdev``) and range over
seeds, and — when every replicate has an effect row (``effects.py``) naming its reference — a pooled
change: per prompt, the mean over the replicates of ``complied`` minus the mean over their (distinct)
references, averaged over prompts, with a paired bootstrap interval and centred-bootstrap p
(Efron & Tibshirani 1993; :func:`tunesafe.stats.paired_bootstrap_difference`). Resampling prompts keeps
each prompt's seeds together, so the interval reflects prompt-to-prompt variation of the seed-averaged
effect. The same is done for over-refusal on the harmless prompts when the runs have that audit.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tunesafe.audits.overrefusal import refused
from tunesafe.judges.verdicts import complied
from tunesafe.report.build.align import HarmfulAlignment, LoadedRun, align
from tunesafe.report.build.changes import Change
from tunesafe.stats import PairedScoreDifference, paired_bootstrap_difference
from tunesafe.types import RateEstimate, SampleRecord

if TYPE_CHECKING:
    from tunesafe.report.build.effects import EffectRow
    from tunesafe.report.build.sections import JudgeSection, OverrefusalSection

__all__ = ["PooledChange", "SeedGroup", "SeedRun", "Spread", "check_group_labels", "seed_groups"]

N_BOOTSTRAP = 10_000


class SeedRun(BaseModel):
    """One replicate: its rates and its paired changes against its own reference (from its effect row)."""

    label: str
    reference: str | None = None
    asr: RateEstimate | None = None  # headline judge, headline prompts
    asr_change: Change | None = None
    overrefusal: RateEstimate | None = None
    overrefusal_change: Change | None = None


class Spread(BaseModel):
    """A rate over seeds: mean, sample standard deviation (None with one seed), minimum and maximum."""

    n_seeds: int
    mean: float
    sd: float | None
    min: float
    max: float


class PooledChange(PairedScoreDifference):
    """Per item, mean over seeds of the variant's flag minus the references' mean; ``base_mean`` is the
    references' rate and ``other_mean`` the variant's, on the items every run scored."""

    references: list[str]


class SeedGroup(BaseModel):
    name: str
    members: list[str]
    judge: str | None = None  # the headline judge
    seeds: list[SeedRun]
    asr: Spread | None = None
    asr_pooled: PooledChange | None = None
    overrefusal_judge: str | None = None
    overrefusal: Spread | None = None
    overrefusal_pooled: PooledChange | None = None
    notes: list[str] = Field(default_factory=list)


def check_group_labels(groups: Mapping[str, Sequence[str]], labels: Sequence[str]) -> None:
    """Raise ``ValueError`` for an empty group, a repeated member or a label that is not a compared run."""
    known = ", ".join(labels)
    for name, members in groups.items():
        if not members:
            raise ValueError(f"seed group {name!r} has no runs")
        for label in members:
            if label not in labels:
                raise ValueError(f"seed group {name!r}: {label!r} is not one of the compared runs (labels: {known})")
        if len(set(members)) != len(members):
            raise ValueError(f"seed group {name!r} lists a run twice: {', '.join(members)}")


def spread(values: Sequence[float | None]) -> Spread | None:
    """Mean, sample SD, min and max of the rates measured (None when none was)."""
    kept = [v for v in values if v is not None]
    if not kept:
        return None
    sd = statistics.stdev(kept) if len(kept) > 1 else None
    return Spread(n_seeds=len(kept), mean=statistics.fmean(kept), sd=sd, min=min(kept), max=max(kept))


def pooled_change(
    variants: Sequence[Sequence[bool | None]], references: Sequence[Sequence[bool | None]], names: Sequence[str]
) -> PooledChange | None:
    """Flags aligned on the same items (one sequence per run) → the seed-pooled paired change.

    An item enters only when every variant and every reference scored it. None with fewer than 2 items.
    """
    base, other = [], []
    for i in range(len(variants[0]) if variants else 0):
        flags_v = [run[i] for run in variants]
        flags_r = [run[i] for run in references]
        if any(f is None for f in (*flags_v, *flags_r)):
            continue
        other.append(statistics.fmean(float(f) for f in flags_v))  # type: ignore[arg-type]
        base.append(statistics.fmean(float(f) for f in flags_r))  # type: ignore[arg-type]
    if len(base) < 2:
        return None
    d = paired_bootstrap_difference(base, other, n_bootstrap=N_BOOTSTRAP, seed=0)
    return PooledChange(**d.model_dump(), references=list(names))


def seed_groups(
    groups: Mapping[str, Sequence[str]],
    judges: Sequence[JudgeSection],
    headline_judge: str | None,
    overrefusal: OverrefusalSection | None,
    effect_rows: Sequence[EffectRow],
    loaded: Sequence[LoadedRun],
    labels: Sequence[str],
    harmful: HarmfulAlignment | None,
) -> list[SeedGroup]:
    """One :class:`SeedGroup` per group, from the comparison built so far (its judge sections, over-refusal
    section and effect rows) and the loaded runs."""
    check_group_labels(groups, labels)
    index = {label: i for i, label in enumerate(labels)}
    headline = next((s for s in judges if s.judge == headline_judge), None)
    asr = {m.name: m.asr for m in headline.models} if headline else {}
    over = {m.name: m.asr for m in overrefusal.models} if overrefusal else {}
    effects = {row.variant: row for row in effect_rows}
    over_judge = overrefusal.judge if overrefusal else None
    out = []
    for name, members in groups.items():
        rows = [effects.get(label) for label in members]
        seeds = [
            SeedRun(
                label=label,
                reference=row.reference if row else None,
                asr=asr.get(label),
                asr_change=row.asr if row else None,
                overrefusal=over.get(label),
                overrefusal_change=row.overrefusal if row else None,
            )
            for label, row in zip(members, rows, strict=True)
        ]
        references = list(dict.fromkeys(row.reference for row in rows if row)) if all(rows) else []
        notes = [] if all(rows) or not effect_rows else ["Not every run of the group has an effect row: no pooling."]
        group = SeedGroup(
            name=name,
            members=list(members),
            judge=headline_judge if headline else None,
            seeds=seeds,
            asr=spread([s.asr.value if s.asr else None for s in seeds]),
            overrefusal_judge=over_judge,
            overrefusal=spread([s.overrefusal.value if s.overrefusal else None for s in seeds]),
            notes=notes,
        )
        if references and harmful is not None and headline_judge:
            group.asr_pooled = _pooled(
                [harmful.headline[index[m]] for m in members],
                [harmful.headline[index[r]] for r in references],
                references,
                complied,
                headline_judge,
            )
        if references and over_judge is not None:
            _, aligned = align([loaded[index[label]].overrefusal for label in [*members, *references]])
            cut = len(members)
            group.overrefusal_pooled = _pooled(aligned[:cut], aligned[cut:], references, refused, over_judge)
        out.append(group)
    return out


def _pooled(
    variants: Sequence[Sequence[SampleRecord]],
    references: Sequence[Sequence[SampleRecord]],
    names: Sequence[str],
    flag: Callable[[SampleRecord, str], bool | None],
    judge: str,
) -> PooledChange | None:
    def flags(runs: Sequence[Sequence[SampleRecord]]) -> list[list[bool | None]]:
        return [[flag(record, judge) for record in run] for run in runs]

    return pooled_change(flags(variants), flags(references), names)
