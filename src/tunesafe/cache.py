"""Generation, log-likelihood and verdict cache: SQLite, keyed by model *content*, messages and
decoding parameters (or the scored continuation).

Verdicts are keyed by the judge's fingerprint (rules, prompt file hash, judge model content) and
the exact prompt and completion it saw, so re-judging stored completions is instant and a changed
judge never serves stale verdicts.

The key lists its components explicitly (inspect_ai's approach) and hashes the backend's
content fingerprint, never a path (lm-evaluation-harness's cache has no model identity, so a
re-trained checkpoint at the same path would be served stale outputs).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tunesafe._util.hashing import sha256_obj
from tunesafe.backends.base import (
    Backend,
    ContinuationScore,
    LoglikelihoodUnsupportedError,
    ProgressCallback,
    describe_backend,
    supports_loglikelihood,
)
from tunesafe.judges.base import Judge, JudgeInput
from tunesafe.types import Completion, Conversation, GenParams, Verdict

CACHE_VERSION = 1
CacheMode = Literal["read_write", "read_only", "off"]


def generation_key(fingerprint: str, messages: Conversation, params: GenParams) -> str:
    """The cache key: every component that can change a completion, and nothing else."""
    return sha256_obj(
        {
            "cache_version": CACHE_VERSION,
            "model": fingerprint,
            "messages": messages,
            "params": params.identity(),
        }
    )


def loglikelihood_key(fingerprint: str, messages: Conversation, continuation: str) -> str:
    """The key of a continuation's log-likelihood: the model's content, the conversation and the continuation."""
    return sha256_obj(
        {
            "cache_version": CACHE_VERSION,
            "kind": "loglikelihood",
            "model": fingerprint,
            "messages": messages,
            "continuation": continuation,
        }
    )


def verdict_key(judge_fingerprint: str, item: JudgeInput, reads_truncation: bool = False) -> str:
    """Cache key of one verdict; ``truncated`` is part of it only for judges that read it (so keys of
    the others stay as they were)."""
    return sha256_obj(
        {
            "cache_version": CACHE_VERSION,
            "judge": judge_fingerprint,
            "prompt": item.prompt,
            "completion": item.completion,
            **({"truncated": True} if reads_truncation and item.truncated else {}),
        }
    )


class GenerationCache:
    """Key → Completion, key → ContinuationScore and key → Verdict stores in one SQLite file (WAL mode;
    every write is one transaction)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)")
        self._db.commit()

    def _get(self, table: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk))
        return found

    def _put(self, table: str, items: dict[str, str]) -> None:
        now = time.time()
        with self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO {table} (key, value, created) VALUES (?, ?, ?)",
                [(k, v, now) for k, v in items.items()],
            )

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        return {k: Completion.model_validate_json(v) for k, v in self._get("generations", keys).items()}

    def put_many(self, items: dict[str, Completion]) -> None:
        self._put("generations", {k: c.model_dump_json() for k, c in items.items()})

    def get_scores(self, keys: Sequence[str]) -> dict[str, ContinuationScore]:
        out = {}
        for key, value in self._get("scores", keys).items():
            row: dict[str, Any] = json.loads(value)
            out[key] = ContinuationScore(logprob=float(row["logprob"]), n_tokens=int(row["n_tokens"]))
        return out

    def put_scores(self, items: dict[str, ContinuationScore]) -> None:
        self._put("scores", {k: json.dumps({"logprob": s.logprob, "n_tokens": s.n_tokens}) for k, s in items.items()})

    def get_verdicts(self, keys: Sequence[str]) -> dict[str, Verdict]:
        return {k: Verdict.model_validate_json(v) for k, v in self._get("verdicts", keys).items()}

    def put_verdicts(self, items: dict[str, Verdict]) -> None:
        self._put("verdicts", {k: v.model_dump_json() for k, v in items.items()})

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class _Cached:
    """What the cached wrappers share: the wrapped object, the cache (None when off), hit counts, its fingerprint."""

    inner: Backend | Judge

    def __init__(self, inner: Backend | Judge, cache: GenerationCache | None, mode: CacheMode) -> None:
        self.inner = inner
        self.cache = cache if mode != "off" else None
        self.mode = mode
        self.name = inner.name
        self.hits = 0
        self.misses = 0
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.inner.fingerprint()
        return self._fingerprint


class CachedBackend(_Cached):
    """A Backend that serves cached completions and generates only the misses.

    Misses are generated in batches of ``flush_every`` and stored after each, so an
    interrupted run loses at most one batch of work.
    """

    inner: Backend

    def __init__(
        self, inner: Backend, cache: GenerationCache | None, mode: CacheMode = "read_write", flush_every: int = 32
    ) -> None:
        super().__init__(inner, cache, mode)
        self.flush_every = flush_every
        self.score_hits = 0
        self.score_misses = 0

    def generate(
        self, conversations: Sequence[Conversation], params: GenParams, progress: ProgressCallback | None = None
    ) -> list[Completion]:
        keys = [generation_key(self.fingerprint(), conv, params) for conv in conversations]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        results: list[Completion | None] = [found.get(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        self.hits += len(conversations) - len(todo)
        self.misses += len(todo)
        if progress and len(todo) < len(conversations):
            progress(len(conversations) - len(todo))
        for start in range(0, len(todo), self.flush_every):
            idx = todo[start : start + self.flush_every]
            fresh = self.inner.generate([conversations[i] for i in idx], params, progress)
            for i, completion in zip(idx, fresh, strict=True):
                results[i] = completion
            if self.cache is not None and self.mode == "read_write":
                self.cache.put_many({keys[i]: c for i, c in zip(idx, fresh, strict=True)})
        return [r for r in results if r is not None]

    @property
    def supports_loglikelihood(self) -> bool:
        """Whether the wrapped backend can score continuations (forwarded, never cached)."""
        return supports_loglikelihood(self.inner)

    def loglikelihood(self, requests: Sequence[tuple[Conversation, str]]) -> list[ContinuationScore]:
        """The wrapped backend's log-likelihoods: cached ones served, only the misses scored (one call),
        keyed by the model's content fingerprint, the conversation and the continuation."""
        if not supports_loglikelihood(self.inner):
            raise LoglikelihoodUnsupportedError(f"backend {self.name} cannot give log-likelihoods of continuations")
        keys = [loglikelihood_key(self.fingerprint(), conv, cont) for conv, cont in requests]
        found = self.cache.get_scores(keys) if self.cache is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in found]
        self.score_hits += len(requests) - len(todo)
        self.score_misses += len(todo)
        if todo:
            fresh = self.inner.loglikelihood([requests[i] for i in todo])  # type: ignore[attr-defined]
            if len(fresh) != len(todo):
                raise RuntimeError(f"backend {self.name} returned {len(fresh)} scores for {len(todo)} requests")
            new = {keys[i]: score for i, score in zip(todo, fresh, strict=True)}
            if self.cache is not None and self.mode == "read_write":
                self.cache.put_scores(new)
            found = {**found, **new}
        return [found[k] for k in keys]

    def describe(self) -> dict[str, Any]:
        """The wrapped backend's ``describe()`` (``{}`` when it has none)."""
        return describe_backend(self.inner)

    def close(self) -> None:
        self.inner.close()


class CachedJudge(_Cached):
    """A Judge that serves cached verdicts and sends only the misses to the wrapped judge, as one batch."""

    inner: Judge

    def __init__(self, inner: Judge, cache: GenerationCache | None, mode: CacheMode = "read_write") -> None:
        super().__init__(inner, cache, mode)
        self.measures = getattr(inner, "measures", "harm")

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        reads = bool(getattr(self.inner, "reads_truncation", False))
        keys = [verdict_key(self.fingerprint(), item, reads) for item in items]
        found = self.cache.get_verdicts(keys) if self.cache is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(items) - len(todo)
        self.misses += len(todo)
        fresh = self.inner.judge([items[i] for i in todo]) if todo else []
        if len(fresh) != len(todo):
            raise RuntimeError(f"judge {self.name} returned {len(fresh)} verdicts for {len(todo)} items")
        new = {keys[i]: v for i, v in zip(todo, fresh, strict=True)}
        if self.cache is not None and self.mode == "read_write" and new:
            self.cache.put_verdicts(new)
        found.update(new)
        return [found[k] for k in keys]
