"""The audit pipeline: samples → generate (cached) → judge (cached) → record → aggregate. Resumable.

Work is done in chunks; each chunk's records are appended to ``samples/<audit>.jsonl`` as soon
as they are judged, and each chunk's generations are stored in the cache, so an interrupted
audit re-run skips everything already done and regenerates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.io import atomic_write_text
from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.adapter_check import record_adapter_probe
from tunesafe.assets import cache_dir
from tunesafe.audits import all_audits
from tunesafe.audits.base import Audit, AuditContext, SampleSet
from tunesafe.backends.base import Backend
from tunesafe.backends.context_window import fit_prompts
from tunesafe.cache import CachedBackend, GenerationCache
from tunesafe.config import AuditConfig, CalibrationSpec, ConfigError, config_hash, dump_config, load_config
from tunesafe.judges import Judge, JudgeInput
from tunesafe.judges.calibration import NAME as CALIBRATION
from tunesafe.judges.calibration import judges_for, load_calibration
from tunesafe.judges.hygiene import apply_judges
from tunesafe.judges.panel import JudgePanel
from tunesafe.results import RunDir, RunError, Stopwatch, locked_output, new_run_path, open_run
from tunesafe.types import GenParams, Sample, SampleRecord, Verdict

if TYPE_CHECKING:
    from tunesafe.data.harmbench import Behavior

logger = logging.getLogger(__name__)


def default_cache_path() -> Path:
    return cache_dir() / "generations.sqlite"


def run_audit(
    config: AuditConfig,
    output: Path | None = None,
    *,
    runs_root: Path = Path("runs"),
    backend: Backend | None = None,
    judge_backends: Mapping[str, Backend] | None = None,
    reporter: Reporter | None = None,
    behaviors: Sequence[Behavior] | None = None,
    probe_base: Path | None = None,
    audits: Sequence[Audit[Any]] | None = None,
) -> RunDir:
    """Audit one model and write (or resume) its run directory: every audit switched on in
    ``config.audits``, one after the other, through the same loop (:func:`run_one_audit`).

    Args:
        config: the audit configuration.
        output: run directory; a new one under ``runs_root`` when omitted. An existing directory
            of the same config is resumed.
        backend: a ready backend (tests, embedding); built from ``config.model`` when omitted.
        judge_backends: ready backends for LLM judges, by judge name (tests, embedding).
        reporter: progress reporter (the CLI passes a rich one).
        behaviors: HarmBench rows to use instead of the harmful audit's dataset (tests).
        probe_base: the base model directory of a full fine-tune, probed against it before the audit
            (an adapter is probed against itself switched off without it).
        audits: audit objects to use instead of the registered ones of the same name, or besides them
            (an audit of one's own, configured by a field of an extended ``AuditsSpec``; docs/architecture.md).
    """
    reporter = reporter or NullReporter()
    if config.model.backend == "imported":
        raise ConfigError("an imported run has no model to generate with; use `tunesafe rejudge` on it")
    chosen = _switched_on(config, _with_replacements(audits, behaviors))
    # bad input (a prompt file, a model path) is reported before a run directory is made or a model loaded
    built = [(audit, spec, audit.build(spec, config.seed)) for audit, spec in chosen]
    if backend is None:
        from tunesafe.backends import check_model_spec

        check_model_spec(config.model)
    path = output or new_run_path(runs_root, config.name)
    cache = open_cache(config)  # a cache path that cannot be used is reported before any work too
    try:
        with locked_output(path):
            _extend_with_added_audits(path, config)
            run = open_run(path, "audit", config)
            _audit_run(run, config, built, backend, cache, reporter, judge_backends, probe_base)
    finally:
        if cache is not None:
            cache.close()
    return run


def _audit_run(
    run: RunDir,
    config: AuditConfig,
    built: Sequence[tuple[Audit[Any], Any, SampleSet]],
    backend: Backend | None,
    cache: GenerationCache | None,
    reporter: Reporter,
    judge_backends: Mapping[str, Backend] | None,
    probe_base: Path | None,
) -> None:
    """The audits of an opened run directory, one after the other; the run marked success or failed."""
    watch = Stopwatch()
    owned = backend is None
    cached: CachedBackend | None = None
    try:
        with run.recording_failures(watch):
            with watch("load_model"):
                inner = backend if backend is not None else _load_backend(config)
            cached = CachedBackend(inner, cache, config.cache.mode, flush_every=config.chunk_size)
            _check_same_model(run, cached)
            if config.long_prompts == "refuse":  # a prompt too long for the model stops the run before any generation
                _check_prompt_lengths(cached, config, built)
            record_adapter_probe(run, cached.inner, probe_base)  # warns when the fine-tune changes nothing
            session = _Session(AuditContext(run, cached, config, watch), cache, reporter, judge_backends)
            metrics = {audit.name: run_one_audit(session, audit, spec, samples) for audit, spec, samples in built}
            run.write_metrics(metrics)
            run.update_manifest(
                status="success",
                timings=watch.timings,
                info=_backend_info(cached),
            )
    finally:
        if owned and cached is not None:
            cached.close()


def _check_prompt_lengths(
    backend: Backend, config: AuditConfig, built: Sequence[tuple[Audit[Any], Any, SampleSet]]
) -> None:
    for audit, spec, sample_set in built:
        for params, group in _by_generation(audit, spec, config.generation, sample_set.samples):
            fit_prompts(group, backend, params, "refuse", audit.name)


def _with_replacements(audits: Sequence[Audit[Any]] | None, behaviors: Sequence[Behavior] | None) -> list[Audit[Any]]:
    """The registered audits, those of ``audits`` (and a harmful audit over ``behaviors``) in place of theirs;
    audits of other names after them (their config entries are fields of an extended ``AuditsSpec``)."""
    given = {audit.name: audit for audit in audits or ()}
    if behaviors is not None:
        from tunesafe.audits.harmful import HarmfulAudit

        given.setdefault(HarmfulAudit.name, HarmfulAudit(behaviors))
    registered = [given.pop(audit.name, audit) for audit in all_audits()]
    return registered + list(given.values())


def _switched_on(config: AuditConfig, audits: Sequence[Audit[Any]]) -> list[tuple[Audit[Any], Any]]:
    return [(audit, spec) for audit in audits if (spec := audit.spec_of(config.audits)) is not None]


def _backend_info(cached: CachedBackend) -> dict[str, Any]:
    """The manifest's ``info`` about the audited model: cache hits and misses, its name, what it says of
    itself (``backend_info``: e.g. a served model's log-likelihood method) and log-likelihood cache use."""
    info: dict[str, Any] = {"cache_hits": cached.hits, "cache_misses": cached.misses, "backend": cached.name}
    described = cached.describe()
    if described:
        info["backend_info"] = described
    if cached.score_hits or cached.score_misses:
        info["loglik_cache_hits"], info["loglik_cache_misses"] = cached.score_hits, cached.score_misses
    return info


def _extend_with_added_audits(path: Path, config: AuditConfig) -> None:
    """Let a finished or interrupted run take audits switched on since (e.g. ``--drift`` added later).

    Only when the new config is the recorded one plus audits that were off: every audit already
    recorded, the model and the decoding stay exactly as they were, so no record is mixed.
    """
    run = RunDir(path)
    if not run.manifest_path.exists():
        return
    recorded = run.manifest().config_hash
    new_hash = config_hash(config)
    if recorded == new_hash:
        return
    try:
        old = load_config(AuditConfig, run.config_path)
    except ConfigError:
        return  # create_or_resume refuses with its own message
    added = {
        name: getattr(config.audits, name)
        for name in type(config.audits).model_fields
        if getattr(old.audits, name) is None and getattr(config.audits, name) is not None
    }
    if not added or config_hash(old) != recorded:
        return
    widened = old.model_copy(update={"audits": old.audits.model_copy(update=added)})
    if config_hash(widened) != new_hash:
        return
    logger.info("%s: adding the %s audit(s) to the recorded run", path, ", ".join(added))
    atomic_write_text(run.config_path, dump_config(config))
    run.update_manifest(config_hash=new_hash)


@dataclass(frozen=True)
class _Session:
    """One model's audit in progress: what audits' hooks see (``context``) and what only the runner uses."""

    context: AuditContext
    cache: GenerationCache | None
    reporter: Reporter
    judge_backends: Mapping[str, Backend] | None


def run_one_audit(session: _Session, audit: Audit[Any], spec: Any, built: SampleSet | None = None) -> dict[str, Any]:
    """Build (unless ``built`` is given), generate, judge or score, and aggregate one audit; its hooks
    where it has them."""
    context = session.context
    run, watch = context.run, context.watch
    audit.check(spec, context.backend)  # fail before generating anything
    if built is None:
        built = audit.build(spec, context.config.seed)
    if built.dataset is not None:
        _check_same_dataset(run, audit.name, built.dataset)
        run.update_manifest(datasets={audit.name: built.dataset})
    with _panel(session, audit, spec) as panel:
        asked: dict[str, SampleRecord] = {}

        def ask(samples: Sequence[Sample]) -> list[SampleRecord]:
            records = _run_samples(session, audit, spec, samples, panel) if samples else []
            asked.update((r.sample_id, r) for r in records)
            return records

        ask(audit.select(spec, built, ask))
        records = list(asked.values())
        calibration_spec = audit.calibration(spec)
        calibration = None
        if calibration_spec is not None and panel is not None:
            with watch("judge"):
                calibration = judge_calibration(run, calibration_spec, panel)
    records = audit.rescore(spec, context, records)
    with watch("aggregate"):
        metrics = audit.aggregate(spec, records, seed=context.config.seed, calibration=calibration)
    return audit.finish(spec, context, metrics)


@contextmanager
def _panel(session: _Session, audit: Audit[Any], spec: Any) -> Iterator[JudgePanel | None]:
    """The judge panel of a judged audit (its fingerprints and description recorded), or None."""
    if not audit.judged:
        yield None
        return
    config = session.context.config
    with JudgePanel(
        audit.judges(spec), cache=session.cache, cache_mode=config.cache.mode, backends=session.judge_backends
    ) as panel:
        session.context.run.update_manifest(
            fingerprints=panel.fingerprints(), info={f"judges:{audit.name}": panel.describe()}
        )
        yield panel


def judge_calibration(run: RunDir, spec: CalibrationSpec, panel: JudgePanel) -> list[SampleRecord]:
    """Judge the labelled calibration set with the panel and store it as ``samples/calibration.jsonl``."""
    records, info = load_calibration(spec)
    judged = rejudge_records(records, judges_for(records, panel.judges))
    run.replace_records(CALIBRATION, judged)
    run.update_manifest(datasets={CALIBRATION: info})
    return judged


def _load_backend(config: AuditConfig) -> Backend:
    from tunesafe.backends import load_backend

    return load_backend(config.model)


def open_cache(config: AuditConfig) -> GenerationCache | None:
    """The generation / verdict cache a run's config asks for; None when caching is off."""
    if config.cache.mode == "off":
        return None
    return GenerationCache(Path(config.cache.path) if config.cache.path else default_cache_path())


def _check_same_model(run: RunDir, backend: CachedBackend) -> None:
    """Refuse to resume a run whose records came from a model with other content (a run recorded under
    the fingerprint an earlier version gave this same model resumes, keeping its recorded one)."""
    fingerprint = backend.fingerprint()
    recorded = run.manifest().fingerprints.get("model")
    if recorded is not None and recorded != fingerprint and recorded in backend.earlier_fingerprints():
        logger.info("%s: recorded under an earlier fingerprint of the same model; resuming", run.path)
        return
    if recorded is not None and recorded != fingerprint:
        raise RunError(
            f"{run.path} was produced by a model with different content (fingerprint "
            f"{recorded[:12]} vs {fingerprint[:12]}); the weights or their dtype changed (dtype auto is "
            "bfloat16 or float16 on a GPU, float32 on CPU) — use a new output directory"
        )
    run.update_manifest(fingerprints={"model": fingerprint})


def _check_same_dataset(run: RunDir, audit: str, dataset: Mapping[str, Any]) -> None:
    """Refuse to resume an audit whose prompt file changed since its records were made (an edited file
    would mix old and new prompts in one run)."""
    recorded = run.manifest().datasets.get(audit) or {}
    old, new = recorded.get("sha256"), dataset.get("sha256")
    if old and new and old != new:
        source = dataset.get("source") or dataset.get("path") or dataset.get("name") or audit
        raise RunError(
            f"{run.path}: the {audit} prompts changed since this run recorded them ({source}: sha256 "
            f"{str(old)[:12]} then, {str(new)[:12]} now); restore the file, or audit into a new output directory"
        )


def _refresh_verdicts(
    run: RunDir, audit: str, records: list[SampleRecord], panel: JudgePanel
) -> dict[str, SampleRecord]:
    """Resumed records get the current panel's verdicts (served by the verdict cache when unchanged).

    A judge whose behaviour changed since the records were judged (a retrained head, an edited
    prompt file) re-judges the stored completions instead of leaving stale verdicts beside new ones.
    """
    refreshed = rejudge_records(records, panel.judges)
    if any(a.verdicts != b.verdicts for a, b in zip(records, refreshed, strict=True)):
        logger.info("%s: judges changed since %d stored records were judged; re-judged them", audit, len(records))
        run.replace_records(audit, refreshed)
    return {r.sample_id: r for r in refreshed}


def merge_verdicts(old: Sequence[Verdict], new: Sequence[Verdict]) -> list[Verdict]:
    """``new`` replaces verdicts of the same judge; other judges' verdicts (e.g. added by rejudging) stay."""
    replaced = {v.judge for v in new}
    return [v for v in old if v.judge not in replaced] + list(new)


def rejudge_records(
    records: Sequence[SampleRecord],
    judges: Sequence[Judge],
    reporter: Reporter | None = None,
    title: str = "rejudge",
    chunk: int = 64,
) -> list[SampleRecord]:
    """Each record with fresh verdicts from ``judges`` on its stored completion (screened, batched)."""
    out: list[SampleRecord] = []
    with (reporter or NullReporter()).task(title, total=len(records)) as advance:
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            inputs = [
                JudgeInput.from_messages(r.messages, r.completion.text, r.completion.finish_reason == "length")
                for r in part
            ]
            for record, fresh in zip(part, apply_judges(judges, inputs), strict=True):
                out.append(record.model_copy(update={"verdicts": merge_verdicts(record.verdicts, fresh)}))
            advance(len(part))
    return out


def _run_samples(
    session: _Session, audit: Audit[Any], spec: Any, samples: Sequence[Sample], panel: JudgePanel | None
) -> list[SampleRecord]:
    """Generate and judge (or score) what is not yet in the run directory; all records in sample order.

    Samples are generated in chunks of ``chunk_size`` within runs of equal decoding settings, each
    chunk's records appended as soon as they are judged.
    """
    context = session.context
    run, config, watch, name = context.run, context.config, context.watch, audit.name
    wanted = {s.id for s in samples}
    done = {r.sample_id: r for r in run.records(name) if r.sample_id in wanted}
    if done and panel is not None:
        with watch("judge"):
            done = _refresh_verdicts(run, name, list(done.values()), panel)
    todo = [s for s in samples if s.id not in done]
    logger.info("%s: %d samples, %d already done, %d to run", name, len(samples), len(done), len(todo))
    with session.reporter.task(f"{name}: {config.name}", total=len(samples)) as advance:
        advance(len(done))
        for params, unfitted in _by_generation(audit, spec, config.generation, todo):
            group = fit_prompts(unfitted, context.backend, params, config.long_prompts, name)
            for start in range(0, len(group), config.chunk_size):
                chunk = group[start : start + config.chunk_size]
                with watch("generate"):
                    completions = context.backend.generate([s.messages for s in chunk], params, advance)
                with watch("judge"):
                    inputs = [
                        JudgeInput.from_messages(s.messages, c.text, c.finish_reason == "length")
                        for s, c in zip(chunk, completions, strict=True)
                    ]
                    verdicts = panel.judge(inputs) if panel is not None else [[] for _ in chunk]
                records = [
                    SampleRecord(
                        audit=name,
                        sample_id=s.id,
                        category=s.category,
                        subset=s.subset,
                        condition=s.condition,
                        messages=s.messages,
                        completion=c,
                        verdicts=v,
                        metadata={**s.metadata, **(audit.score(spec, s, c) or {})},
                    )
                    for s, c, v in zip(chunk, completions, verdicts, strict=True)
                ]
                run.append_records(name, records)
                done.update({r.sample_id: r for r in records})
    return [done[s.id] for s in samples]


def _by_generation(
    audit: Audit[Any], spec: Any, base: GenParams, samples: Sequence[Sample]
) -> list[tuple[GenParams, list[Sample]]]:
    """Consecutive samples with the same decoding settings, grouped (the drift audit's runs differ in seed)."""
    groups: list[tuple[GenParams, list[Sample]]] = []
    for sample in samples:
        params = audit.generation(spec, base, sample)
        if groups and groups[-1][0] == params:
            groups[-1][1].append(sample)
        else:
            groups.append((params, [sample]))
    return groups
