"""Console output for the CLI only: logging setup and a rich progress Reporter."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tunesafe._util.progress import Advance
from tunesafe._util.redact import redact

console = Console(stderr=True)
_NOISY = ("transformers", "httpx", "urllib3", "datasets", "accelerate", "peft", "trl", "filelock")


def setup_logging(level: str = "INFO") -> None:
    # transformers and huggingface_hub draw their own tqdm bars (weight loading); ours suffice.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False, markup=False)
    handler.addFilter(_redacting)
    logging.basicConfig(level=level.upper(), format="%(message)s", handlers=[handler], force=True)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


def _redacting(record: logging.LogRecord) -> bool:
    """Log lines pass through :func:`redact`: a key a server echoed never reaches the console."""
    message = record.getMessage()
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    return True


class RichReporter:
    """Progress bars with time remaining on a terminal; a log line every ~10% otherwise (CI, pipes)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.log = logging.getLogger("tunesafe.progress")

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        if self.enabled:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            ) as progress:
                task_id = progress.add_task(description, total=total or None)
                yield lambda n: progress.advance(task_id, n)
            return
        yield self._logging_advance(description, total)

    def _logging_advance(self, description: str, total: int) -> Advance:
        state = {"done": 0, "next": 0.0, "start": time.monotonic()}

        def advance(n: int) -> None:
            state["done"] += n
            fraction = state["done"] / total if total else 0.0
            if fraction >= state["next"] or state["done"] == total:
                elapsed = time.monotonic() - state["start"]
                left = f"~{elapsed / fraction * (1 - fraction):.0f}s left" if fraction > 0 else "starting"
                self.log.info("%s: %d/%d (%.0fs elapsed, %s)", description, state["done"], total, elapsed, left)
                state["next"] = fraction + 0.1

        return advance
