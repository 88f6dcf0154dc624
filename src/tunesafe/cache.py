"""Generation cache: SQLite, keyed by model *content*, messages and decoding parameters.

The key lists its components explicitly (inspect_ai's approach) and hashes the backend's
content fingerprint, never a path (lm-evaluation-harness's cache has no model identity, so a
re-trained checkpoint at the same path would be served stale outputs).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from tunesafe._util.hashing import sha256_obj
from tunesafe.backends.base import Backend, ProgressCallback
from tunesafe.types import Completion, Conversation, GenParams

CACHE_VERSION = 1
CacheMode = Literal["read_write", "read_only", "off"]


def generation_key(fingerprint: str, messages: Conversation, params: GenParams) -> str:
    """The cache key: every component that can change a completion, and nothing else."""
    return sha256_obj(
        {
            "cache_version": CACHE_VERSION,
            "model": fingerprint,
            "messages": messages,
            "params": params.model_dump(mode="json"),
        }
    )


class GenerationCache:
    """A key → Completion store in one SQLite file (WAL mode; every write is one transaction)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, value FROM generations WHERE key IN ({marks})", chunk)
            for key, value in rows:
                found[key] = Completion.model_validate_json(value)
        return found

    def put_many(self, items: dict[str, Completion]) -> None:
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO generations (key, value, created) VALUES (?, ?, ?)",
                [(k, c.model_dump_json(), now) for k, c in items.items()],
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class CachedBackend:
    """A Backend that serves cached completions and generates only the misses.

    Misses are generated in batches of ``flush_every`` and stored after each, so an
    interrupted run loses at most one batch of work.
    """

    def __init__(
        self, inner: Backend, cache: GenerationCache | None, mode: CacheMode = "read_write", flush_every: int = 32
    ) -> None:
        self.inner = inner
        self.cache = cache if mode != "off" else None
        self.mode = mode
        self.flush_every = flush_every
        self.name = inner.name
        self.hits = 0
        self.misses = 0
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.inner.fingerprint()
        return self._fingerprint

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

    def close(self) -> None:
        self.inner.close()
