"""The Audit protocol: what one named measurement needs from the runner, and what it gives back.

An audit builds its samples from its config entry (``audits.<name>``), says which judges score them
(or scores each completion itself), and aggregates the records into metrics. The runner
(:func:`tunesafe.runner.run_audit`) does the rest the same way for every audit: resumable
generation in chunks through the cache, judging, the records file ``samples/<name>.jsonl`` and the
manifest. Optional hooks cover what some audits need beyond that: a check before anything is
generated, a selection step that may ask questions first (the drift audit's known-questions
screen, Fastowski & Kasneci 2024), re-scoring the records with the model (log-likelihood margins)
and extra metrics at the end (TruthfulQA multiple choice).

The same object serves ``rejudge`` and ``import``: they call :meth:`Audit.aggregate` on stored
records, so a run's metrics mean the same whichever way its records were made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import BaseModel

from tunesafe.types import Completion, GenParams, Sample, SampleRecord

if TYPE_CHECKING:
    from tunesafe.backends.base import Backend
    from tunesafe.config import AuditConfig, AuditsSpec, CalibrationSpec, JudgeSpec
    from tunesafe.judges.base import Judge
    from tunesafe.results import RunDir, Stopwatch

SpecT = TypeVar("SpecT", bound=BaseModel)

Ask = Callable[[Sequence[Sample]], list[SampleRecord]]
"""Generate (or take from the run directory) and score these samples; their records in sample order."""


@dataclass(frozen=True)
class SampleSet:
    """An audit's samples and the provenance of the data they came from (the manifest's ``datasets``).

    ``source`` carries what a later hook needs to rebuild samples (the drift audit's trivia items).
    ``dataset`` None records nothing (an audit with no generated part).
    """

    samples: list[Sample]
    dataset: dict[str, Any] | None
    source: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class AuditContext:
    """What the runner lends an audit's hooks: the run directory, the (cached) model, the config, the clock."""

    run: RunDir
    backend: Backend
    config: AuditConfig
    watch: Stopwatch


class Cost(NamedTuple):
    """What an audit asks of a model at most: generations, new tokens and log-likelihood requests."""

    generations: int
    new_tokens: int
    loglik_requests: int = 0


class Audit(ABC, Generic[SpecT]):
    """One named measurement. Subclasses set ``name`` (the config key ``audits.<name>``, the records file
    and the metrics key) and implement :meth:`build` and :meth:`aggregate`; the rest has defaults."""

    name: ClassVar[str]
    judged: ClassVar[bool] = False
    """Whether judges score this audit (``rejudge`` passes judge-free audits by)."""
    hides_completions: ClassVar[bool] = False
    """Whether completions may be harmful: reports and exports hide those a judge scored as compliance."""

    def records_files(self) -> dict[str, str | None]:
        """The records files this audit writes (``samples/<file>.jsonl``), each with the metadata key that
        holds a judge-free record's scores (None for judged records: their verdicts are the scores)."""
        return {self.name: None if self.judged else self.name}

    def spec_of(self, audits: AuditsSpec) -> SpecT | None:
        """This audit's config entry; None when it is off."""
        spec: SpecT | None = getattr(audits, self.name)
        return spec

    @abstractmethod
    def build(self, spec: SpecT, seed: int) -> SampleSet:
        """The samples to generate (seeded selection) and the dataset's provenance."""

    def judges(self, spec: SpecT) -> Sequence[JudgeSpec]:
        """The judges that score this audit's completions (the first is the headline); none: :meth:`score`."""
        return ()

    def accepts(self, judge: Judge) -> bool:
        """Whether ``rejudge`` may apply ``judge`` here (a harm judge cannot measure over-refusal)."""
        return self.judged

    def calibration(self, spec: SpecT) -> CalibrationSpec | None:
        """A labelled set the panel judges too, for its measured error rates (none by default)."""
        return None

    def generation(self, spec: SpecT, base: GenParams, sample: Sample) -> GenParams:
        """The decoding settings of ``sample`` (default: the run's)."""
        return base

    def score(self, spec: SpecT, sample: Sample, completion: Completion) -> dict[str, Any] | None:
        """Judge-free scoring: metadata added to the record (e.g. ``{"drift": {"correct": ...}}``)."""
        return None

    @abstractmethod
    def aggregate(
        self,
        spec: SpecT,
        records: Sequence[SampleRecord],
        *,
        seed: int = 0,
        calibration: Sequence[SampleRecord] | None = None,
    ) -> dict[str, Any]:
        """The audit's metrics from its records (runner, rejudge and import alike)."""

    # -- optional hooks ----------------------------------------------------------------------------

    def check(self, spec: SpecT, backend: Backend) -> None:
        """Fail before anything is generated when ``backend`` cannot serve this audit."""

    def select(self, spec: SpecT, built: SampleSet, ask: Ask) -> list[Sample]:
        """The samples to run: all of them, unless the audit first asks some (a screening pass)."""
        return built.samples

    def rescore(self, spec: SpecT, context: AuditContext, records: list[SampleRecord]) -> list[SampleRecord]:
        """Records after generation, before aggregation (e.g. log-likelihood margins from the model)."""
        return records

    def finish(self, spec: SpecT, context: AuditContext, metrics: dict[str, Any]) -> dict[str, Any]:
        """Metrics with anything measured after the generated part (e.g. multiple choice by log-likelihood)."""
        return metrics

    def cost(self, spec: SpecT, config: AuditConfig) -> Cost:
        """Generations and new tokens this audit asks for at most (``tunesafe validate``'s estimate)."""
        samples = self.build(spec, config.seed).samples
        tokens = sum(self.generation(spec, config.generation, s).max_new_tokens for s in samples)
        return Cost(len(samples), tokens)
