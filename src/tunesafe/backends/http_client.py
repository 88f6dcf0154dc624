"""A small JSON-over-HTTP client with bounded retries, for served models (standard library only).

GET (no body) or POST JSON to ``<base_url><path>``. Retried, with exponential backoff, at most
``max_retries`` times: a connection error, a dropped connection, a timeout, 408/409/425/429 or a
5xx (a ``Retry-After`` in seconds or as an HTTP date is honoured, up to 60 s), and a 200 answer
that is not whole: truncated or invalid JSON, or one the caller's ``parse`` finds malformed
(:class:`MalformedResponseError`, e.g. an empty ``choices`` list). The error raised once the
retries are spent is one line naming the URL, the cause and the number of attempts.

The API key is read from the environment variable named by ``api_key_env`` at each request and sent
as ``Authorization: Bearer``; it is never stored on the client. It is registered with
:func:`tunesafe._util.redact.register_secret`, and every message this module builds goes through
:func:`~tunesafe._util.redact.redact`: a server that echoes the key in an error body does not put it
into an exception, a log or a run manifest. A loopback server is reached directly, whatever proxy
the environment names.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from tunesafe._util.redact import redact, register_secret
from tunesafe.backends.base import BackendError, ProgressCallback

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 60.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class HTTPStatusError(Exception):
    """A non-retryable (or still failing) HTTP status; the message is ``"<code>: <server's words>"`` (redacted).

    :meth:`describe` is the one-line error naming the URL and the number of attempts.
    """

    def __init__(self, code: int, detail: str, *, url: str = "", attempts: int = 1) -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.url = url
        self.attempts = attempts

    def describe(self) -> str:
        """``"<url> answered HTTP <code>: <server's words> (after <n> attempt(s))"``."""
        return one_line(f"{self.url} answered HTTP {self} ({attempts(self.attempts)})")


class MalformedResponseError(ValueError):
    """A 200 answer that lacks what every answer of its kind has (e.g. no ``choices``): retried like a 5xx,
    never turned into an empty result."""


class JSONClient:
    """Requests to one API root. Args as ``OpenAICompatBackend``'s of the same names."""

    def __init__(
        self, base_url: str, *, api_key_env: str | None, timeout_s: float, max_retries: int, backoff_s: float
    ) -> None:
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.pause: Callable[[float, threading.Event | None], None] = pause
        """How backoff waits: ``pause(seconds, stop)`` (tests record the delays instead)."""
        host = urlsplit(self.base_url).hostname or ""
        # a local server is reached directly, whatever proxy the environment names
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if host in _LOOPBACK else None

    def request(
        self,
        path: str,
        body: dict[str, Any] | None,
        parse: Callable[[Any], Any] | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> Any:
        """GET (no body) or POST JSON, with retries; the parsed JSON answer, passed through ``parse`` when given.

        Args:
            parse: reads the JSON answer; a :class:`MalformedResponseError` it raises is retried (other
                exceptions propagate at once).
            stop: when set (another request of the same batch failed for good), no further attempt is made.

        Raises:
            HTTPStatusError: the server answered a status that is not retried, or still failing.
            BackendError: the server cannot be reached, gave no (whole) answer, or answered something
                that is not JSON or that ``parse`` finds malformed, on every attempt.
        """
        url = f"{self.base_url}{path}"
        headers = {"Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            register_secret(key)
            headers["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        total = self.max_retries + 1
        if stop is not None and stop.is_set():
            raise BackendError(f"{url}: not sent, another request failed")
        for attempt in range(1, total + 1):
            last = attempt == total or (stop is not None and stop.is_set())
            request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
            retry_after: str | None = None
            try:
                with self._open(request) as response:
                    payload = response.read()
            except urllib.error.HTTPError as err:
                detail = _error_body(err)
                if err.code not in RETRYABLE_STATUS or last:
                    raise HTTPStatusError(err.code, detail, url=url, attempts=attempt) from None
                retry_after = err.headers.get("Retry-After") if err.headers else None
            except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException, OSError) as err:
                if last:
                    raise BackendError(one_line(f"{_cause(url, err, self.timeout_s)} ({attempts(attempt)})")) from None
            else:
                try:
                    answer = json.loads(payload)
                except ValueError:
                    cause = f"{url} answered truncated or invalid JSON: {short(payload)!r}"
                else:
                    if parse is None:
                        return answer
                    try:
                        return parse(answer)
                    except MalformedResponseError as err:
                        cause = f"{url} answered a malformed response: {redact(str(err))}"
                if last:
                    raise BackendError(one_line(f"{cause} ({attempts(attempt)})"))
            self._wait(attempt, retry_after, stop)
            if stop is not None and stop.is_set():
                raise BackendError(one_line(f"{url}: not retried, another request failed ({attempts(attempt)})"))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _open(self, request: urllib.request.Request) -> Any:
        if self._opener is not None:
            return self._opener.open(request, timeout=self.timeout_s)
        return urllib.request.urlopen(request, timeout=self.timeout_s)

    def _wait(self, attempt: int, retry_after: str | None, stop: threading.Event | None) -> None:
        """Back off before attempt ``attempt + 1``: ``backoff_s * 2**(attempt - 1)`` (at most 30 s), or what
        the server's ``Retry-After`` asks (at most 60 s)."""
        delay = min(self.backoff_s * (2 ** (attempt - 1)), MAX_BACKOFF_S)
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            delay = min(asked, MAX_RETRY_AFTER_S)
        self.pause(delay, stop)


def pause(seconds: float, stop: threading.Event | None) -> None:
    """Sleep ``seconds``, or until ``stop`` is set (the batch failed: no further attempt will be made)."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):
        return max(float(value), 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def attempts(n: int) -> str:
    return f"after {n} attempt{'s' if n != 1 else ''}"


def one_line(text: str) -> str:
    """``text`` redacted (:func:`~tunesafe._util.redact.redact`), its whitespace runs (newlines too) as one space."""
    return re.sub(r"\s+", " ", redact(text)).strip()


def short(payload: bytes, limit: int = 300) -> str:
    """A server's answer as one redacted line of at most ``limit`` characters (for error messages).

    Redacted before it is cut, so a secret straddling the cut does not leave its first half behind.
    """
    text = one_line(payload.decode("utf-8", errors="replace"))
    return text if len(text) <= limit else text[:limit] + "…"


def _error_body(err: urllib.error.HTTPError) -> str:
    try:
        return short(err.read())
    except (OSError, HTTPException):
        return ""  # the error body itself was cut off


def _cause(url: str, err: BaseException, timeout_s: float) -> str:
    """Why a request got no answer, in words naming the URL."""
    reason = getattr(err, "reason", None) if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"{url} gave no answer within {timeout_s:g} s"
    if isinstance(err, urllib.error.URLError):
        return f"cannot reach {url}: {redact(str(reason))}"
    return f"{url} closed the connection without a whole answer ({type(err).__name__}: {redact(str(err))})"


def in_parallel(
    max_concurrency: int, jobs: Sequence[Callable[[threading.Event], Any]], progress: ProgressCallback | None = None
) -> list[Any]:
    """Each job's result, in order, ``max_concurrency`` at a time; the first failure raises and stops the rest
    (each job is handed the stop event: a request in flight makes no further attempt once it is set)."""
    results: list[Any] = [None] * len(jobs)
    stop = threading.Event()

    def run(job: Callable[[threading.Event], Any]) -> Any:
        try:
            return job(stop)
        except BaseException:
            stop.set()  # before this worker takes the next job
            raise

    pool = ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(jobs))), thread_name_prefix="openai")
    try:
        futures: dict[Future[Any], int] = {pool.submit(run, job): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(1)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    return results
