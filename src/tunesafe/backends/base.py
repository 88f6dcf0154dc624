"""The Backend protocol: batches of conversations in, completions out.

Batch-first and synchronous, in the shape of lm-evaluation-harness's model contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tunesafe.types import Completion, Conversation, GenParams

ProgressCallback = Callable[[int], None]
"""Called with the number of conversations just finished."""


@runtime_checkable
class Backend(Protocol):
    """Turns conversations into completions."""

    name: str

    def fingerprint(self) -> str:
        """Content identity of the model (weights, adapter, config, chat template), never a path."""
        ...

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenParams,
        progress: ProgressCallback | None = None,
    ) -> list[Completion]:
        """Complete every conversation, in order."""
        ...

    def close(self) -> None:
        """Free memory held by the model."""
        ...


class BackendError(RuntimeError):
    """A backend could not produce completions (dead endpoint, bad model directory, ...)."""
