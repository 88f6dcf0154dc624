"""Progress reporting. The library reports through a Reporter; only the CLI draws bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def task(self, description: str, total: int) -> AbstractContextManager[Advance]:
        """Context manager yielding ``advance(n)`` for a unit of work of ``total`` steps."""
        ...


class NullReporter:
    """Reports nothing (library default, tests)."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        yield lambda n: None
