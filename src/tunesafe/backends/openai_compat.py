"""A served model behind an OpenAI-compatible ``/chat/completions`` API (vLLM, llama.cpp server, TGI, ...).

Standard library only (``urllib.request``, one thread per request in flight). The request and
response shapes are OpenAI's Chat Completions API, which vLLM's and llama.cpp's servers implement;
parameters a server does not know (``seed``) are ignored by it. See ``docs/endpoints.md``.

What HTTP cannot give, and how it is filled in:

- **token ids**: unknown; ``TokenStep.token_id`` / ``top_ids`` are ``-1``, except when the server
  spells tokens as ``token_id:<n>`` (vLLM's ``--return-tokens-as-token-ids``), whose ``n`` is used.
- **entropy** of the full next-token distribution: only the top-k log-probabilities come back, so
  ``TokenStep.entropy`` is a *lower bound*: the listed tokens' ``-p log p`` plus the unlisted mass
  ``r`` times ``-log p_min`` (no unlisted token is likelier than the least likely listed one).
- **log-likelihoods of given continuations** (multiple-choice scoring): not supported; the class
  has no ``loglikelihood`` method, so ``supports_loglikelihood`` is false.

The API key is read from the environment variable named by ``api_key_env`` at each request and sent
as ``Authorization: Bearer``; it is never stored on the object, in its ``repr`` or its fingerprint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from http.client import HTTPException
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tunesafe._util.hashing import sha256_obj
from tunesafe.backends.base import BackendError, ProgressCallback
from tunesafe.types import Completion, Conversation, GenParams, TokenStep

if TYPE_CHECKING:
    from tunesafe.config import ModelSpec

logger = logging.getLogger(__name__)

BACKEND_VERSION = 1
"""Bump when the request built from a conversation changes: it is part of the fingerprint."""

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MISSING_LOGPROB = -9999.0
"""Stands for a log-probability a server gives as null or non-finite (OpenAI's own floor value)."""
SERVED_FIELDS = ("id", "root", "parent", "meta")
"""The stable fields of a ``/models`` entry kept in the fingerprint (``created`` changes per request)."""
_FINISH = {"stop": "stop", "eos": "stop", "eos_token": "stop", "stop_sequence": "stop", "length": "length"}
_TOKEN_ID = re.compile(r"^token_id:(\d+)$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_NO_MODELS_ROUTE = {404, 405, 501}  # a server without a /models route


class OpenAICompatBackend:
    """Generates with a model served behind ``<base_url>/chat/completions``.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model name (the request's ``model`` field).
        api_key_env: name of the environment variable holding the API key (None: no key sent; an
            unset variable sends none either).
        timeout_s: per-request timeout in seconds.
        max_concurrency: requests in flight at once.
        max_retries: retries of a request after a connection error, timeout, 429 or 5xx, with
            exponential backoff (a numeric ``Retry-After`` is honoured).
        revision: a label bumped when the deployment's weights change (part of the fingerprint).
        system_prompt: prepended as a system turn to conversations that have none (as ``HFBackend``).
        backoff_s: first backoff delay; doubles per retry, at most 30 s.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
        max_retries: int = 3,
        revision: str | None = None,
        system_prompt: str | None = None,
        backoff_s: float = 1.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.revision = revision
        self.system_prompt = system_prompt
        self.backoff_s = backoff_s
        self.name = f"openai:{model}"
        self._fingerprint: str | None = None
        host = urlsplit(self.base_url).hostname or ""
        # a local server is reached directly, whatever proxy the environment names
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if host in _LOOPBACK else None

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> OpenAICompatBackend:
        """The backend a ``ModelSpec`` with ``backend: openai`` describes."""
        endpoint = spec.endpoint
        if endpoint is None:
            raise ValueError("backend openai needs endpoint: {base_url: ..., model: ...}")
        return cls(
            endpoint.base_url,
            endpoint.model,
            api_key_env=endpoint.api_key_env,
            timeout_s=endpoint.timeout_s,
            max_concurrency=endpoint.max_concurrency,
            max_retries=endpoint.max_retries,
            revision=endpoint.revision,
            system_prompt=spec.system_prompt,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAICompatBackend(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, revision={self.revision!r})"
        )

    # -- identity ---------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of base URL, served model name, revision, system prompt and the server's ``/models`` entry.

        The entry (id, root, parent, meta: e.g. vLLM's model path, llama.cpp's parameter count and
        file size) is asked for once; a server without ``/models`` leaves it out. An unreachable
        server raises ``BackendError``, so a run never records a fingerprint made without it.
        """
        if self._fingerprint is None:
            self._fingerprint = sha256_obj(
                {
                    "backend": "openai",
                    "version": BACKEND_VERSION,
                    "base_url": self.base_url,
                    "model": self.model,
                    "revision": self.revision,
                    "system_prompt": self.system_prompt,
                    "served": self._served_entry(),
                }
            )
        return self._fingerprint

    def _served_entry(self) -> dict[str, Any] | None:
        try:
            listing = self._request("/models", None)
        except _HTTPStatusError as err:
            if err.code not in _NO_MODELS_ROUTE:  # e.g. 401: a wrong key would change the fingerprint once fixed
                raise BackendError(f"{self.base_url}/models answered HTTP {err}") from None
            logger.warning("%s/models answered HTTP %s; the fingerprint uses the model name only", self.base_url, err)
            return None
        entries = listing.get("data") if isinstance(listing, dict) else None
        for entry in entries or []:
            if isinstance(entry, dict) and entry.get("id") == self.model:
                return {key: entry[key] for key in SERVED_FIELDS if key in entry}
        logger.warning("%s/models does not list %r; the fingerprint uses the name only", self.base_url, self.model)
        return None

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenParams,
        progress: ProgressCallback | None = None,
    ) -> list[Completion]:
        """Complete every conversation, in order, ``max_concurrency`` requests at a time.

        All or nothing: the first request that fails for good raises ``BackendError`` and the
        batch returns nothing (the runner's resume redoes it).
        """
        if not conversations:
            return []
        bodies = [self._body(conversation, params) for conversation in conversations]
        results: list[Completion | None] = [None] * len(bodies)
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(bodies)), thread_name_prefix="openai")
        try:
            futures: dict[Future[Completion], int] = {
                pool.submit(self._complete, body, params): index for index, body in enumerate(bodies)
            }
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [r for r in results if r is not None]

    def close(self) -> None:
        """Nothing to free: the model lives in the server."""

    def _with_system(self, conversation: Conversation) -> Conversation:
        if self.system_prompt is None or any(m.get("role") == "system" for m in conversation):
            return list(conversation)
        return [{"role": "system", "content": self.system_prompt}, *conversation]

    def _body(self, conversation: Conversation, params: GenParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self._with_system(conversation),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stream": False,
        }
        if params.logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = params.logprobs
        return body

    def _complete(self, body: dict[str, Any], params: GenParams) -> Completion:
        url = f"{self.base_url}/chat/completions"
        try:
            data = self._request("/chat/completions", body)
        except _HTTPStatusError as err:
            raise BackendError(f"{url} answered HTTP {err}") from None
        try:
            return parse_completion(data, want_logprobs=params.logprobs is not None)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise BackendError(f"{url} answered an unexpected response ({type(err).__name__}: {err})") from None

    # -- HTTP -------------------------------------------------------------------------------

    def _request(self, path: str, body: dict[str, Any] | None) -> Any:
        """GET (no body) or POST JSON, with retries; raises ``BackendError`` (no traceback chain) when it fails."""
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
                detail = _short(err.read())
                if err.code in RETRYABLE_STATUS and not last:
                    self._sleep(attempt, err.headers.get("Retry-After") if err.headers else None)
                    continue
                raise _HTTPStatusError(err.code, detail) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException, OSError) as err:
                if not last:
                    self._sleep(attempt, None)
                    continue
                reason = getattr(err, "reason", err)
                raise BackendError(f"cannot reach {url}: {reason} (after {self.max_retries + 1} attempt(s))") from None
            try:
                return json.loads(payload)
            except ValueError:
                raise BackendError(f"{url} answered something that is not JSON: {_short(payload)!r}") from None
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


class _HTTPStatusError(Exception):
    """A non-retryable (or still failing) HTTP status; the message is ``"<code>: <server's words>"``."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code


def _short(payload: bytes, limit: int = 300) -> str:
    text = payload.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


def parse_completion(data: dict[str, Any], *, want_logprobs: bool) -> Completion:
    """A ``Completion`` from a Chat Completions response (first choice).

    ``finish_reason``: ``stop`` (also TGI's ``eos_token`` / ``stop_sequence``) or ``length``; other
    reasons pass through. ``n_tokens``: ``usage.completion_tokens``, else the number of steps.

    Raises:
        ValueError: logprobs were asked for and the response carries none.
    """
    choice = data["choices"][0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    reason = choice.get("finish_reason")
    finish = _FINISH.get(reason, reason) if reason is not None else None
    steps = None
    if want_logprobs:
        content = (choice.get("logprobs") or {}).get("content")
        if content is None:
            raise ValueError("no logprobs.content in the response (does the server support logprobs?)")
        steps = [token_step(entry) for entry in content]
    usage = data.get("usage") or {}
    n_tokens = usage.get("completion_tokens")
    if n_tokens is None and steps is not None:
        n_tokens = len(steps)
    return Completion(text=text, finish_reason=finish, n_tokens=n_tokens, steps=steps)


def token_step(entry: dict[str, Any]) -> TokenStep:
    """One ``logprobs.content`` entry as a ``TokenStep`` (ids -1 unless spelled ``token_id:<n>``)."""
    chosen = _logprob(entry.get("logprob"))
    tops = entry.get("top_logprobs") or [{"token": entry.get("token", ""), "logprob": chosen}]
    top_logprobs = [_logprob(top.get("logprob")) for top in tops]
    return TokenStep(
        token_id=token_id(entry.get("token")),
        logprob=chosen,
        entropy=entropy_lower_bound(top_logprobs),
        top_ids=[token_id(top.get("token")) for top in tops],
        top_logprobs=top_logprobs,
    )


def token_id(token: Any) -> int:
    """The id in a ``token_id:<n>`` token string (vLLM ``--return-tokens-as-token-ids``), else -1 (unknown)."""
    match = _TOKEN_ID.match(token) if isinstance(token, str) else None
    return int(match.group(1)) if match else -1


def entropy_lower_bound(top_logprobs: Sequence[float]) -> float:
    """A lower bound (nats) of the full next-token entropy from its top-k natural-log probabilities.

    ``sum(-p log p)`` over the listed tokens, plus the unlisted mass ``r = 1 - sum(p)`` times
    ``-log p_min``: every unlisted token is at most as likely as the least likely listed one, so
    each contributes ``-p log p >= -p log p_min``. Exact when the listed tokens hold all the mass.
    """
    if not top_logprobs:
        return 0.0
    probs = [math.exp(lp) for lp in top_logprobs]
    listed = -sum(p * lp for p, lp in zip(probs, top_logprobs, strict=True) if p > 0.0)
    rest = max(0.0, 1.0 - sum(probs))
    return listed + rest * -min(top_logprobs)


def _logprob(value: Any) -> float:
    if value is None:
        return MISSING_LOGPROB
    value = float(value)
    return value if math.isfinite(value) else MISSING_LOGPROB
