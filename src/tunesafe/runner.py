"""The audit pipeline: samples → generate (cached) → judge (cached) → record → aggregate. Resumable.

Work is done in chunks; each chunk's records are appended to ``samples/<audit>.jsonl`` as soon
as they are judged, and each chunk's generations are stored in the cache, so an interrupted
audit re-run skips everything already done and regenerates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tunesafe._util.hashing import sha256_obj
from tunesafe._util.io import atomic_write_text
from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.adapter_check import record_adapter_probe
from tunesafe.assets import cache_dir
from tunesafe.audits import drift, harmful, overrefusal
from tunesafe.backends.base import Backend, loglikelihood_unavailable_reason, supports_loglikelihood
from tunesafe.cache import CachedBackend, GenerationCache
from tunesafe.config import (
    AuditConfig,
    CalibrationSpec,
    ConfigError,
    DriftAuditSpec,
    JudgeSpec,
    TruthfulnessAuditSpec,
    dump_config,
    load_config,
    normalised_for_hash,
    without_absent_endpoints,
)
from tunesafe.judges import Judge, JudgeInput
from tunesafe.judges.calibration import NAME as CALIBRATION
from tunesafe.judges.calibration import judges_for, load_calibration
from tunesafe.judges.hygiene import apply_judges
from tunesafe.judges.panel import JudgePanel
from tunesafe.results import RunDir, RunError, Stopwatch, new_run_path
from tunesafe.types import Completion, GenParams, Sample, SampleRecord, Verdict

logger = logging.getLogger(__name__)

# Fields that change speed, not results: excluded from the hash that decides whether a run
# directory can be resumed. ``device_map`` (placement) is left out of every model spec and
# ``dtype: auto`` hashes as float32 (``config.normalised_for_hash`` says why).
_NON_SEMANTIC = {"cache": True, "chunk_size": True, "model": {"batch_size": True, "threads": True, "device": True}}


def config_hash(config: AuditConfig) -> str:
    data = config.model_dump(mode="json", exclude=_NON_SEMANTIC)
    data["generation"] = config.generation.identity()
    # audits that are off leave no trace, so a new kind of audit does not change existing runs' hashes
    data["audits"] = {name: spec for name, spec in data["audits"].items() if spec is not None}
    # likewise a model (audited or judging) without an endpoint
    return sha256_obj(normalised_for_hash(without_absent_endpoints(data)))


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
    behaviors: Sequence[Any] | None = None,
    probe_base: Path | None = None,
) -> RunDir:
    """Audit one model and write (or resume) its run directory.

    Args:
        config: the audit configuration.
        output: run directory; a new one under ``runs_root`` when omitted. An existing directory
            of the same config is resumed.
        backend: a ready backend (tests, embedding); built from ``config.model`` when omitted.
        judge_backends: ready backends for LLM judges, by judge name (tests, embedding).
        reporter: progress reporter (the CLI passes a rich one).
        behaviors: HarmBench rows to use instead of the bundled file (tests).
        probe_base: the base model directory of a full fine-tune, probed against it before the audit
            (an adapter is probed against itself switched off without it).
    """
    reporter = reporter or NullReporter()
    if config.model.backend == "imported":
        raise ConfigError("an imported run has no model to generate with; use `tunesafe rejudge` on it")
    path = output or new_run_path(runs_root, config.name)
    _extend_with_added_audits(path, config)
    run = RunDir.create_or_resume(
        path,
        kind="audit",
        name=config.name,
        config_yaml=dump_config(config),
        config_hash=config_hash(config),
        seed=config.seed,
    )
    watch = Stopwatch()
    owned = backend is None
    cached: CachedBackend | None = None
    cache: GenerationCache | None = None
    try:
        with run.recording_failures(watch):
            with watch("load_model"):
                inner = backend if backend is not None else _load_backend(config)
            cache = open_cache(config)
            cached = CachedBackend(inner, cache, config.cache.mode, flush_every=config.chunk_size)
            _check_same_model(run, cached.fingerprint())
            record_adapter_probe(run, cached.inner, probe_base)  # warns when the fine-tune changes nothing
            context = _Context(run, cached, cache, config, reporter, watch, judge_backends)
            metrics: dict[str, Any] = {}
            if config.audits.harmful is not None:
                spec = config.audits.harmful
                samples, info = harmful.build_samples(spec, config.seed, behaviors)
                metrics[harmful.NAME] = _audit(context, harmful.NAME, samples, info, spec.judges, spec.calibration)
            if config.audits.overrefusal is not None:
                spec_or = config.audits.overrefusal
                samples, info = overrefusal.build_samples(spec_or, config.seed)
                metrics[overrefusal.NAME] = _audit(context, overrefusal.NAME, samples, info, spec_or.judges, None)
            if config.audits.drift is not None:
                metrics[drift.NAME] = _drift_audit(context, config.audits.drift)
            if config.audits.truthfulness is not None:
                metrics["truthfulness"] = _truthfulness_audit(context, config.audits.truthfulness)
            run.write_metrics(metrics)
            run.update_manifest(
                status="success",
                timings=watch.timings,
                info=_backend_info(cached),
            )
        return run
    finally:
        if cache is not None:
            cache.close()
        if owned and cached is not None:
            cached.close()


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


class _Context(NamedTuple):
    run: RunDir
    backend: CachedBackend
    cache: GenerationCache | None
    config: AuditConfig
    reporter: Reporter
    watch: Stopwatch
    judge_backends: Mapping[str, Backend] | None


def _audit(
    ctx: _Context,
    audit: str,
    samples: Sequence[Sample],
    dataset: dict[str, Any],
    judge_specs: Sequence[JudgeSpec],
    calibration: CalibrationSpec | None,
) -> dict[str, Any]:
    """Generate, judge and aggregate one audit; judge the calibration set when one is given."""
    with JudgePanel(
        judge_specs, cache=ctx.cache, cache_mode=ctx.config.cache.mode, backends=ctx.judge_backends
    ) as panel:
        ctx.run.update_manifest(
            fingerprints=panel.fingerprints(), datasets={audit: dataset}, info={f"judges:{audit}": panel.describe()}
        )
        records = _run_samples(ctx, audit, samples, panel)
        calibration_records = None
        if calibration is not None:
            with ctx.watch("judge"):
                calibration_records = judge_calibration(ctx.run, calibration, panel)
    with ctx.watch("aggregate"):
        return aggregate_audit(audit, records, ctx.config, calibration_records)


def _drift_audit(ctx: _Context, spec: DriftAuditSpec) -> dict[str, Any]:
    """Ask every trivia question under every condition and score the answers (no judges: alias matching).

    With ``known_only`` the B questions are asked first (first run) and only those answered
    correctly go on; with ``runs`` > 1 each run samples with its own seed.
    """
    items, info = drift.load_items(spec.dataset, spec.limit, ctx.config.seed)
    ctx.run.update_manifest(datasets={drift.NAME: info})

    def annotate(sample: Sample, completion: Completion) -> dict[str, Any]:
        return {"drift": drift.score(sample, completion, spec)}

    def ask(samples: Sequence[Sample]) -> list[SampleRecord]:
        records: list[SampleRecord] = []
        for k in range(spec.runs):
            part = [s for s in samples if drift.run_index(s) == k]
            params = drift.generation_params(spec, ctx.config.generation, k)
            records += _run_samples(ctx, drift.NAME, part, None, params=params, annotate=annotate)
        return records

    screen = None
    if spec.known_only:
        screen = ask(drift.build_samples(spec.model_copy(update={"runs": 1}), items, ["B"]))
        known = drift.known_questions(screen)
        items = [item for item in items if item.id in known]
        logger.info("drift: %d of %d questions answered correctly under B are kept", len(items), len(screen))
    records = ask(drift.build_samples(spec, items))
    with ctx.watch("aggregate"):
        return drift.aggregate(records, spec.conditions, screen)


def _truthfulness_audit(ctx: _Context, spec: TruthfulnessAuditSpec) -> dict[str, Any]:
    """True/false claims plainly and after a misleading preamble (generated, parsed: no judges), then
    TruthfulQA-style multiple choice by log-likelihood when a file is given (resumable per question)."""
    from tunesafe.audits import multiple_choice, truthfulness

    if spec.multiple_choice is not None:
        multiple_choice.require_loglikelihood(ctx.backend)  # fail before generating anything
    metrics: dict[str, Any] = {}
    if spec.conditions:
        samples, info = truthfulness.build_samples(spec, ctx.config.seed)
        ctx.run.update_manifest(datasets={truthfulness.NAME: info})
        params = truthfulness.generation_params(spec, ctx.config.generation)
        records = _run_samples(
            ctx,
            truthfulness.NAME,
            samples,
            None,
            params=params,
            annotate=lambda s, c: {truthfulness.NAME: truthfulness.score(s, c)},
        )
        margins, why = spec.loglik and supports_loglikelihood(ctx.backend), ""
        if margins:
            with ctx.watch("loglikelihood"):
                scored = truthfulness.add_margins(records, ctx.backend)  # type: ignore[arg-type]
            if scored != records:
                ctx.run.replace_records(truthfulness.NAME, scored)
                records = scored
        elif spec.loglik:
            why = loglikelihood_unavailable_reason(ctx.backend) or "no log-likelihood support"
            logger.warning(
                "truthfulness: %s cannot give log-likelihoods (%s); the log P(True) - log P(False) margins are left "
                "out (a served model needs endpoint.chat_template, see docs/endpoints.md)",
                ctx.backend.name,
                why,
            )
        with ctx.watch("aggregate"):
            metrics = truthfulness.aggregate(records, spec.conditions)
        if spec.loglik:
            metrics["loglik_margins"] = {"available": margins}
            if not margins:
                metrics["loglik_margins"]["reason"] = f"backend {ctx.backend.name}: {why}"
    if spec.multiple_choice is not None:
        questions, mc_info = multiple_choice.load_questions(spec.multiple_choice, spec.mc_limit, ctx.config.seed)
        ctx.run.update_manifest(datasets={multiple_choice.NAME: mc_info})
        with ctx.watch("loglikelihood"):
            scored = multiple_choice.score_pending(ctx.run, ctx.backend, questions, ctx.config.chunk_size)
        metrics["multiple_choice"] = multiple_choice.aggregate(scored)
    return metrics


def judge_calibration(run: RunDir, spec: CalibrationSpec, panel: JudgePanel) -> list[SampleRecord]:
    """Judge the labelled calibration set with the panel and store it as ``samples/calibration.jsonl``."""
    records, info = load_calibration(spec)
    judged = rejudge_records(records, judges_for(records, panel.judges))
    run.replace_records(CALIBRATION, judged)
    run.update_manifest(datasets={CALIBRATION: info})
    return judged


def judge_names(records: Sequence[SampleRecord], configured: Sequence[str]) -> list[str]:
    """The configured judges first, then any other judge found in the records (added by rejudging)."""
    names = list(configured)
    for record in records:
        names += [v.judge for v in record.verdicts if v.judge not in names]
    return names


def aggregate_audit(
    audit: str,
    records: Sequence[SampleRecord],
    config: AuditConfig,
    calibration_records: Sequence[SampleRecord] | None = None,
) -> dict[str, Any]:
    """An audit's metrics from its records (used by the runner, rejudging and importing)."""
    from tunesafe.judges.agreement import panel_summary

    if audit == overrefusal.NAME:
        spec_or = config.audits.overrefusal
        configured = [j.display_name for j in spec_or.judges] if spec_or else []
        return overrefusal.aggregate(records, judge_names(records, configured))
    spec = config.audits.harmful
    configured = [j.display_name for j in spec.judges] if spec else []
    excludes = spec.headline_excludes if spec else []
    judges = judge_names(records, configured)
    metrics = harmful.aggregate(records, judges, excludes)
    headline = [r for r in records if r.subset not in excludes]
    n_bootstrap = spec.calibration.n_bootstrap if spec and spec.calibration else 2000
    summary = panel_summary(headline, judges, calibration_records, n_bootstrap=n_bootstrap, seed=config.seed)
    metrics["panel"] = summary.model_dump(mode="json")
    return metrics


def _load_backend(config: AuditConfig) -> Backend:
    from tunesafe.backends import load_backend

    return load_backend(config.model)


def open_cache(config: AuditConfig) -> GenerationCache | None:
    """The generation / verdict cache a run's config asks for; None when caching is off."""
    if config.cache.mode == "off":
        return None
    return GenerationCache(Path(config.cache.path) if config.cache.path else default_cache_path())


def _check_same_model(run: RunDir, fingerprint: str) -> None:
    """Refuse to resume a run whose records came from a model with other content."""
    recorded = run.manifest().fingerprints.get("model")
    if recorded is not None and recorded != fingerprint:
        raise RunError(
            f"{run.path} was produced by a model with different content (fingerprint "
            f"{recorded[:12]} vs {fingerprint[:12]}); the weights or their dtype changed (dtype auto is "
            "bfloat16 or float16 on a GPU, float32 on CPU) — use a new output directory"
        )
    run.update_manifest(fingerprints={"model": fingerprint})


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
    ctx: _Context,
    audit: str,
    samples: Sequence[Sample],
    panel: JudgePanel | None,
    *,
    params: GenParams | None = None,
    annotate: Callable[[Sample, Completion], dict[str, Any]] | None = None,
) -> list[SampleRecord]:
    """Generate and judge (or ``annotate``) what is not yet in the run directory; all records in sample order."""
    run, config, watch = ctx.run, ctx.config, ctx.watch
    wanted = {s.id for s in samples}
    done = {r.sample_id: r for r in run.records(audit) if r.sample_id in wanted}
    if done and panel is not None:
        with watch("judge"):
            done = _refresh_verdicts(run, audit, list(done.values()), panel)
    todo = [s for s in samples if s.id not in done]
    logger.info("%s: %d samples, %d already done, %d to run", audit, len(samples), len(done), len(todo))
    with ctx.reporter.task(f"{audit}: {config.name}", total=len(samples)) as advance:
        advance(len(done))
        for start in range(0, len(todo), config.chunk_size):
            chunk = todo[start : start + config.chunk_size]
            with watch("generate"):
                completions = ctx.backend.generate([s.messages for s in chunk], params or config.generation, advance)
            with watch("judge"):
                inputs = [
                    JudgeInput.from_messages(s.messages, c.text, c.finish_reason == "length")
                    for s, c in zip(chunk, completions, strict=True)
                ]
                verdicts = panel.judge(inputs) if panel is not None else [[] for _ in chunk]
            records = [
                SampleRecord(
                    audit=audit,
                    sample_id=s.id,
                    category=s.category,
                    subset=s.subset,
                    condition=s.condition,
                    messages=s.messages,
                    completion=c,
                    verdicts=v,
                    metadata={**s.metadata, **(annotate(s, c) if annotate else {})},
                )
                for s, c, v in zip(chunk, completions, verdicts, strict=True)
            ]
            run.append_records(audit, records)
            done.update({r.sample_id: r for r in records})
    return [done[s.id] for s in samples]
