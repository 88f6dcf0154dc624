"""What a failed command tells its user: one line and an exit code, never a traceback.

Exit codes: 2 bad input (:class:`~tunesafe.errors.InputError`, a value or key the library rejected,
a path that is missing, a file, a folder or not writable), 1 the run itself failed (a backend, the
trainer, the disk), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Messages pass through
:func:`~tunesafe._util.redact.redact`, so a key echoed by a server never reaches the console.
"""

from __future__ import annotations

import errno
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

__all__ = ["Failure", "Terminated", "describe_failure", "terminate_as_interrupt"]

_USER_PATH_ERRNOS = {
    errno.ENOENT: "does not exist",
    errno.EACCES: "is not writable (permission denied)",
    errno.EPERM: "is not writable (operation not permitted)",
    errno.EROFS: "is on a read-only file system",
    errno.EISDIR: "is a folder where a file is needed",
    errno.ENOTDIR: "is under a file, not a folder",
    errno.EEXIST: "already exists",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process was, so run directories record ``interrupted`` as for Ctrl-C."""


@dataclass(frozen=True)
class Failure:
    message: str
    exit_code: int


def describe_failure(err: BaseException) -> Failure | None:
    """The one line (a multi-line message joined) and exit code for ``err``; None for what is not a failure
    to report (a bug keeps its traceback)."""
    from tunesafe._util.redact import redact
    from tunesafe.errors import InputError

    failure = _classify(err, InputError)
    if failure is None:
        return None
    one_line = " ".join(line.strip() for line in failure.message.splitlines() if line.strip())
    return Failure(redact(one_line), failure.exit_code)


def _classify(err: BaseException, input_error: type[Exception]) -> Failure | None:
    if isinstance(err, Terminated):
        return Failure("terminated (SIGTERM); re-run the same command to resume", 143)
    if isinstance(err, KeyboardInterrupt):
        return Failure("interrupted; re-run the same command to resume", 130)
    if isinstance(err, input_error):
        return Failure(str(err), 2)
    if isinstance(err, UnicodeDecodeError):
        return Failure(f"a file is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8", 2)
    if isinstance(err, OSError) and not isinstance(err, ConnectionError | TimeoutError):
        return _os_failure(err)
    if isinstance(err, sqlite3.Error):
        return Failure(f"the generation cache failed ({err}); re-run with --no-cache or set cache.path", 1)
    if isinstance(err, ValueError | LookupError):
        return Failure(str(err).strip("'\"") or type(err).__name__, 2)
    if isinstance(err, RuntimeError | ConnectionError | TimeoutError | MemoryError):
        return Failure(f"{type(err).__name__}: {err}", 1)
    return None


def _os_failure(err: OSError) -> Failure:
    what = _USER_PATH_ERRNOS.get(err.errno or 0)
    if what is not None and err.filename is not None:
        fix = "check the path" if err.errno == errno.ENOENT else "choose another path"
        return Failure(f"{err.filename} {what}; {fix}", 2)
    if err.errno == errno.ENOSPC:
        return Failure(f"no space left on the device{f' writing {err.filename}' if err.filename else ''}", 1)
    return Failure(f"{err.strerror or type(err).__name__}{f': {err.filename}' if err.filename else ''}", 1)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the body runs, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt), so a run that is
    stopped by a scheduler or ``kill`` records ``interrupted`` and resumes, as after Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
