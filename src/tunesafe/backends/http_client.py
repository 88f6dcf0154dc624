"""A small JSON-over-HTTP client with retries, for served models (standard library only).

GET (no body) or POST JSON to ``<base_url><path>``; a connection error, a timeout, 408/409/425/429
or a 5xx is retried with exponential backoff (a numeric ``Retry-After`` is honoured). The API key
is read from the environment variable named by ``api_key_env`` at each request and sent as
``Authorization: Bearer``; it is never stored. A loopback server is reached directly, whatever
proxy the environment names.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from tunesafe.backends.base import BackendError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class HTTPStatusError(Exception):
    """A non-retryable (or still failing) HTTP status; the message is ``"<code>: <server's words>"``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code


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
        host = urlsplit(self.base_url).hostname or ""
        # a local server is reached directly, whatever proxy the environment names
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if host in _LOOPBACK else None

    def request(self, path: str, body: dict[str, Any] | None) -> Any:
        """GET (no body) or POST JSON, with retries; the parsed JSON answer.

        Raises:
            HTTPStatusError: the server answered a status that is not retried, or still failing.
            BackendError: the server cannot be reached, or answered something that is not JSON.
        """
        url = f"{self.base_url}{path}"
        headers = {"Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
            try:
                with self._open(request) as response:
                    payload = response.read()
            except urllib.error.HTTPError as err:
                detail = short(err.read())
                if err.code in RETRYABLE_STATUS and not last:
                    self._sleep(attempt, err.headers.get("Retry-After") if err.headers else None)
                    continue
                raise HTTPStatusError(err.code, detail) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException, OSError) as err:
                if not last:
                    self._sleep(attempt, None)
                    continue
                reason = getattr(err, "reason", err)
                raise BackendError(f"cannot reach {url}: {reason} (after {self.max_retries + 1} attempt(s))") from None
            try:
                return json.loads(payload)
            except ValueError:
                raise BackendError(f"{url} answered something that is not JSON: {short(payload)!r}") from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _open(self, request: urllib.request.Request) -> Any:
        if self._opener is not None:
            return self._opener.open(request, timeout=self.timeout_s)
        return urllib.request.urlopen(request, timeout=self.timeout_s)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.backoff_s * (2**attempt), 30.0)
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                delay = min(max(float(retry_after), 0.0), 60.0)
        time.sleep(delay)


def short(payload: bytes, limit: int = 300) -> str:
    """A server's answer as one line of at most ``limit`` characters (for error messages)."""
    text = payload.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"
