"""The audit pipeline: samples → generate (cached) → judge → record → aggregate. Resumable.

Work is done in chunks; each chunk's records are appended to ``samples/<audit>.jsonl`` as soon
as they are judged, and each chunk's generations are stored in the cache, so an interrupted
audit re-run skips everything already done and regenerates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesafe._util.hashing import sha256_obj
from tunesafe._util.progress import NullReporter, Reporter
from tunesafe.assets import cache_dir
from tunesafe.audits import harmful
from tunesafe.backends.base import Backend
from tunesafe.cache import CachedBackend, GenerationCache
from tunesafe.config import AuditConfig, dump_config
from tunesafe.judges import Judge, make_judge
from tunesafe.results import RunDir, RunError, Stopwatch, new_run_path
from tunesafe.types import Sample, SampleRecord

logger = logging.getLogger(__name__)

# Fields that change speed, not results: excluded from the hash that decides whether a run
# directory can be resumed.
_NON_SEMANTIC = {"cache": True, "chunk_size": True, "model": {"batch_size": True, "threads": True, "device": True}}


def config_hash(config: AuditConfig) -> str:
    return sha256_obj(config.model_dump(mode="json", exclude=_NON_SEMANTIC))


def default_cache_path() -> Path:
    return cache_dir() / "generations.sqlite"


def run_audit(
    config: AuditConfig,
    output: Path | None = None,
    *,
    runs_root: Path = Path("runs"),
    backend: Backend | None = None,
    reporter: Reporter | None = None,
    behaviors: Sequence[Any] | None = None,
) -> RunDir:
    """Audit one model and write (or resume) its run directory.

    Args:
        config: the audit configuration.
        output: run directory; a new one under ``runs_root`` when omitted. An existing directory
            of the same config is resumed.
        backend: a ready backend (tests, embedding); built from ``config.model`` when omitted.
        reporter: progress reporter (the CLI passes a rich one).
        behaviors: HarmBench rows to use instead of the bundled file (tests).
    """
    reporter = reporter or NullReporter()
    path = output or new_run_path(runs_root, config.name)
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
    try:
        with run.recording_failures(watch):
            with watch("load_model"):
                inner = backend if backend is not None else _load_backend(config)
            cache = None if config.cache.mode == "off" else GenerationCache(_cache_path(config))
            cached = CachedBackend(inner, cache, config.cache.mode, flush_every=config.chunk_size)
            _check_same_model(run, cached.fingerprint())
            metrics: dict[str, Any] = {}
            if config.audits.harmful is not None:
                spec = config.audits.harmful
                judges = [make_judge(j) for j in spec.judges]
                run.update_manifest(fingerprints={f"judge:{j.name}": j.fingerprint() for j in judges})
                samples = harmful.build_samples(spec, config.seed, behaviors)
                records = _run_samples(run, harmful.NAME, samples, cached, judges, config, reporter, watch)
                with watch("aggregate"):
                    metrics[harmful.NAME] = harmful.aggregate(records, [j.name for j in judges], spec.headline_excludes)
            run.write_metrics(metrics)
            run.update_manifest(
                status="success",
                timings=watch.timings,
                info={"cache_hits": cached.hits, "cache_misses": cached.misses, "backend": cached.name},
            )
        return run
    finally:
        if cached is not None and cached.cache is not None:
            cached.cache.close()
        if owned and cached is not None:
            cached.close()


def _load_backend(config: AuditConfig) -> Backend:
    from tunesafe.backends import load_backend

    return load_backend(config.model)


def _cache_path(config: AuditConfig) -> Path:
    return Path(config.cache.path) if config.cache.path else default_cache_path()


def _check_same_model(run: RunDir, fingerprint: str) -> None:
    """Refuse to resume a run whose records came from a model with other content."""
    recorded = run.manifest().fingerprints.get("model")
    if recorded is not None and recorded != fingerprint:
        raise RunError(
            f"{run.path} was produced by a model with different content (fingerprint "
            f"{recorded[:12]} vs {fingerprint[:12]}); the weights changed — use a new output directory"
        )
    run.update_manifest(fingerprints={"model": fingerprint})


def _run_samples(
    run: RunDir,
    audit: str,
    samples: Sequence[Sample],
    backend: CachedBackend,
    judges: Sequence[Judge],
    config: AuditConfig,
    reporter: Reporter,
    watch: Stopwatch,
) -> list[SampleRecord]:
    """Generate and judge what is not yet in the run directory; return all records in sample order."""
    wanted = {s.id for s in samples}
    done = {r.sample_id: r for r in run.records(audit) if r.sample_id in wanted}
    todo = [s for s in samples if s.id not in done]
    logger.info("%s: %d samples, %d already done, %d to run", audit, len(samples), len(done), len(todo))
    with reporter.task(f"{audit}: {config.name}", total=len(samples)) as advance:
        advance(len(done))
        for start in range(0, len(todo), config.chunk_size):
            chunk = todo[start : start + config.chunk_size]
            with watch("generate"):
                completions = backend.generate([s.messages for s in chunk], config.generation, advance)
            with watch("judge"):
                inputs = [harmful.judge_input(s, c.text) for s, c in zip(chunk, completions, strict=True)]
                verdicts = [judge.judge(inputs) for judge in judges]
            records = [
                SampleRecord(
                    audit=audit,
                    sample_id=s.id,
                    category=s.category,
                    subset=s.subset,
                    condition=s.condition,
                    messages=s.messages,
                    completion=c,
                    verdicts=[v[i] for v in verdicts],
                    metadata=s.metadata,
                )
                for i, (s, c) in enumerate(zip(chunk, completions, strict=True))
            ]
            run.append_records(audit, records)
            done.update({r.sample_id: r for r in records})
    return [done[s.id] for s in samples]
