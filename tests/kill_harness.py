"""Run a ``tunesafe`` command that kills itself with SIGKILL in the middle of one write (issue 15).

    python -m tests.kill_harness <site> <n> -- <tunesafe CLI args...>

Run from the repository root (``tests`` must be importable). The harness patches one write site so that
its ``n``-th call (counting from 1) leaves that write half done and then sends the process SIGKILL: no
``finally``, no ``atexit``, no flush happens after that point, exactly as when the OOM killer or a
scheduler kills a job. Before dying it prints one ``kill_harness: ...`` line to stderr saying where.
If the site is called fewer than ``n`` times the command finishes normally (the test sees exit 0 and
fails: a harness that never fires cannot pass silently).

Sites:

- ``samples``: ``append_jsonl`` (results.py's run directory records): half of the first row's JSON is
  appended, flushed and fsynced (a torn last line), then SIGKILL.
- ``samples-partial``: the same, after the first half of the chunk's rows were appended whole.
- ``cache``: ``GenerationCache._put`` (generations and verdicts): the rows are inserted in an open
  transaction, then SIGKILL before the commit.
- ``manifest``: ``atomic_write_json`` as used by results.py (``manifest.json`` and ``metrics.json``): half of
  the text is written and fsynced into the temp file, then SIGKILL (the temp file stays behind).
- ``report``: the report's writes (``report.json``, ``report.md``, ``report.html``): the same, half of the text.
- ``checkpoint``: transformers' ``Trainer._save_checkpoint`` runs whole, then SIGKILL (between checkpoints).
- ``checkpoint-mid``: inside ``Trainer._save_checkpoint``: the checkpoint's adapter weights, optimizer and
  scheduler states are written, ``optimizer.pt`` is cut to half its size (torn, as ``torch.save`` leaves it
  when killed), and SIGKILL comes before the RNG state and ``trainer_state.json`` are written.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPORT_FILES = {"report.json", "report.md", "report.html"}


def die(where: str) -> None:
    """Say where, then SIGKILL this process (nothing after this line runs)."""
    sys.stderr.write(f"kill_harness: SIGKILL {where}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # SIGKILL is delivered at once; never reached


class Counter:
    """Counts calls of one site; ``hit()`` is true on the ``n``-th."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def hit(self) -> bool:
        self.calls += 1
        return self.calls == self.n


def replace_everywhere(owner: Any, name: str, new: Any) -> None:
    """Set ``owner.name`` to ``new`` and in every loaded module that imported the original by name; modules
    imported later take ``new`` from ``owner``."""
    original = getattr(owner, name)
    for module in list(sys.modules.values()):
        if module is not None and getattr(module, name, None) is original:
            setattr(module, name, new)
    setattr(owner, name, new)


def _half_written(path: Path, text: str, where: str) -> None:
    """Write half of ``text`` into the temp file an atomic write of ``path`` uses, fsync it, and die."""
    from tunesafe._util.io import atomic_output

    with atomic_output(path) as handle:
        handle.write(text[: len(text) // 2])
        handle.flush()
        os.fsync(handle.fileno())
        die(f"{where}: half of {path.name} ({len(text) // 2} of {len(text)} characters) in its temp file")


def patch_samples(n: int, whole_first: bool) -> None:
    import json

    import tunesafe._util.io as io
    import tunesafe.results  # noqa: F401 (loaded so its imported name is patched too)

    original = io.append_jsonl
    counter = Counter(n)

    def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
        if not counter.hit():
            original(path, rows)
            return
        rows = list(rows)
        whole = rows[: len(rows) // 2] if whole_first else []
        if whole:
            original(path, whole)
        line = json.dumps(rows[len(whole)], ensure_ascii=False) + "\n"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        io.drop_torn_tail(path)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line[: len(line) // 2])
            handle.flush()
            os.fsync(handle.fileno())
        die(f"in append_jsonl call {n} ({path.name}): {len(whole)} of {len(rows)} rows whole, then half a row")

    replace_everywhere(io, "append_jsonl", append_jsonl)


def patch_cache(n: int) -> None:
    from tunesafe.cache import GenerationCache

    original = GenerationCache._put
    counter = Counter(n)

    def _put(self: GenerationCache, table: str, items: dict[str, str]) -> None:
        if not counter.hit():
            original(self, table, items)
            return
        db = self._db
        if not db.in_transaction:
            db.execute("BEGIN")
        db.executemany(
            f"INSERT OR REPLACE INTO {table} (key, value, created) VALUES (?, ?, ?)",
            [(k, v, time.time()) for k, v in items.items()],
        )
        assert db.in_transaction
        die(f"in GenerationCache._put call {n}: {len(items)} {table} rows inserted, not committed")

    GenerationCache._put = _put  # type: ignore[method-assign]


def patch_manifest(n: int) -> None:
    import json

    import tunesafe._util.io as io
    import tunesafe.results as results

    original: Callable[[Path, Any], None] = results.atomic_write_json  # type: ignore[attr-defined]
    counter = Counter(n)

    def atomic_write_json(path: Path, obj: Any) -> None:
        if not counter.hit():
            original(path, obj)
            return
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
        _half_written(Path(path), text, f"in atomic_write_json call {n}")

    results.atomic_write_json = atomic_write_json  # type: ignore[attr-defined]
    assert io.atomic_write_json is original  # other writers (models.py, training data) are left alone


def patch_report(n: int) -> None:
    import tunesafe.report as report

    original: Callable[[Path, str], None] = report.atomic_write_text  # type: ignore[attr-defined]
    counter = Counter(n)

    def atomic_write_text(path: Path, text: str) -> None:
        if Path(path).name not in REPORT_FILES or not counter.hit():
            original(path, text)
            return
        _half_written(Path(path), text, f"in report write {n}")

    report.atomic_write_text = atomic_write_text  # type: ignore[attr-defined]


def patch_checkpoint(n: int, mid: bool) -> None:
    from transformers import Trainer

    counter = Counter(n)
    if not mid:
        original = Trainer._save_checkpoint

        def _save_checkpoint(self: Any, model: Any, trial: Any) -> None:
            original(self, model, trial)
            if counter.hit():
                die(f"after checkpoint {n} (step {self.state.global_step}) was saved")

        Trainer._save_checkpoint = _save_checkpoint  # type: ignore[method-assign]
        return

    original_opt = Trainer._save_optimizer_and_scheduler

    def _save_optimizer_and_scheduler(self: Any, output_dir: str) -> None:
        original_opt(self, output_dir)
        if counter.hit():
            optimizer = Path(output_dir) / "optimizer.pt"
            size = optimizer.stat().st_size
            with optimizer.open("rb+") as handle:
                handle.truncate(size // 2)
                os.fsync(handle.fileno())
            die(f"inside checkpoint {n} ({Path(output_dir).name}): weights written, optimizer.pt torn")

    Trainer._save_optimizer_and_scheduler = _save_optimizer_and_scheduler  # type: ignore[method-assign]


SITES: dict[str, Callable[[int], None]] = {
    "samples": lambda n: patch_samples(n, whole_first=False),
    "samples-partial": lambda n: patch_samples(n, whole_first=True),
    "cache": patch_cache,
    "manifest": patch_manifest,
    "report": patch_report,
    "checkpoint": lambda n: patch_checkpoint(n, mid=False),
    "checkpoint-mid": lambda n: patch_checkpoint(n, mid=True),
}


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[2] != "--" or argv[0] not in SITES:
        raise SystemExit(f"usage: python -m tests.kill_harness {{{','.join(SITES)}}} <n> -- <tunesafe args...>")
    SITES[argv[0]](int(argv[1]))
    from tunesafe.cli import app

    app(args=argv[3:], prog_name="tunesafe")


if __name__ == "__main__":
    main(sys.argv[1:])
