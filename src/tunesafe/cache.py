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
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from tunesafe._util.hashing import sha256_obj
from tunesafe.backends.base import (
    Backend,
    BackendError,
    ContinuationScore,
    LoglikelihoodUnsupportedError,
    ProgressCallback,
    describe_backend,
    measures_prompts,
    supports_loglikelihood,
)
from tunesafe.errors import InputError
from tunesafe.judges.base import Judge, JudgeInput
from tunesafe.types import Completion, Conversation, GenParams, Verdict

CACHE_VERSION = 1
_T = TypeVar("_T")
logger = logging.getLogger(__name__)
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


class CacheError(InputError):
    """The cache path cannot be used (a folder, under a file, not writable); the message says the fix."""


_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_TABLES = ("generations", "verdicts", "scores")


def _is_corruption(err: sqlite3.Error) -> bool:
    name = getattr(err, "sqlite_errorname", "")
    text = str(err)
    return name.startswith(_CORRUPT) or "malformed" in text or "not a database" in text


class GenerationCache:
    """Key → Completion, key → ContinuationScore and key → Verdict stores in one SQLite file (WAL mode;
    every write is one transaction).

    A cache file found corrupt (on opening, by SQLite's ``quick_check``, or on any later read or write)
    is moved aside as ``<name>.corrupt-<time>`` with a warning and a fresh one takes its place: the
    cache only holds what can be generated again, so the run goes on.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._check_path()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as err:
            if not _is_corruption(err):
                raise self._unusable(err) from err
            self._quarantine(err)
            self._db = self._connect()

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise CacheError(f"cache path {self.path} is a folder; set cache.path to a file, or use --no-cache")
        existing = next((p for p in self.path.parents if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise CacheError(f"cache path {self.path} is under {existing}, which is a file; set cache.path elsewhere")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(
                f"cannot create the cache folder {self.path.parent} ({err.strerror}); use --no-cache"
            ) from err

    def _unusable(self, err: sqlite3.Error) -> CacheError:
        return CacheError(
            f"cannot use the generation cache {self.path} ({err}); set cache.path to a writable file, or use --no-cache"
        )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            checked = db.execute("PRAGMA quick_check").fetchone()
            if checked is None or checked[0] != "ok":
                raise sqlite3.DatabaseError(
                    f"database disk image is malformed ({checked[0] if checked else 'no answer'})"
                )
            for table in _TABLES:
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
                )
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    def _quarantine(self, err: sqlite3.Error) -> None:
        """Move the corrupt file (and its WAL) aside, so nothing is lost and a fresh cache can start."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            for suffix in ("", "-wal"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    source.replace(Path(f"{aside}{suffix}"))
            Path(f"{self.path}-shm").unlink(missing_ok=True)
        except OSError as move_err:
            raise CacheError(
                f"the generation cache {self.path} is corrupt ({err}) and cannot be moved aside "
                f"({move_err.strerror}); delete it, or use --no-cache"
            ) from err
        logger.warning(
            "the generation cache %s was corrupt (%s); moved it aside to %s and started a new one",
            self.path,
            err,
            aside,
        )

    def _recovering(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``; a corrupt cache found on the way is moved aside and the operation retried once."""
        try:
            return operation()
        except sqlite3.DatabaseError as err:
            if not _is_corruption(err):
                raise self._unusable(err) from err
            self._db.close()
            self._quarantine(err)
            self._db = self._connect()
            return operation()

    def _get(self, table: str, keys: Sequence[str]) -> dict[str, str]:
        def read() -> dict[str, str]:
            found: dict[str, str] = {}
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(self._db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk))
            return found

        return self._recovering(read)

    def _put(self, table: str, items: dict[str, str]) -> None:
        now = time.time()

        def write() -> None:
            with self._db:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO {table} (key, value, created) VALUES (?, ?, ?)",
                    [(k, v, now) for k, v in items.items()],
                )

        self._recovering(write)

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
        return self._recovering(lambda: int(self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]))

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

    @property
    def measures_prompts(self) -> bool:
        """Whether the wrapped backend can measure prompts (forwarded, never cached)."""
        return measures_prompts(self.inner)

    def context_window(self) -> int | None:
        """The wrapped backend's context window (None when it cannot say)."""
        window: int | None = self.inner.context_window() if self.measures_prompts else None  # type: ignore[attr-defined]
        return window

    def prompt_tokens(self, conversations: Sequence[Conversation]) -> list[int]:
        """The wrapped backend's prompt lengths in tokens (never cached: counting is cheap)."""
        if not self.measures_prompts:
            raise BackendError(f"backend {self.name} cannot measure prompts")
        counts: list[int] = self.inner.prompt_tokens(conversations)  # type: ignore[attr-defined]
        return counts

    def earlier_fingerprints(self) -> list[str]:
        """The wrapped backend's fingerprints of this same model by earlier versions (``[]`` when none)."""
        earlier = getattr(self.inner, "earlier_fingerprints", None)
        return list(earlier()) if callable(earlier) else []

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
