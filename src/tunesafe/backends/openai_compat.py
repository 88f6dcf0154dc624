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
- **log-likelihoods of given continuations** (truthfulness margins, multiple-choice scoring): only
  with ``chat_template`` (the served model's template, read from its GGUF or HF folder), rendered
  here; the prompt plus continuation is then scored through ``/completions`` with ``echo`` and
  ``logprobs`` (OpenAI's legacy API, llama-cpp-python's server, vLLM) or vLLM's ``prompt_logprobs``,
  whichever one probe request finds working and correctly aligned (:meth:`loglikelihood_method`).
  Without ``chat_template``, ``supports_loglikelihood`` is false.

Failures (``backends/http_client.py``): a connection error, a timeout, a dropped connection, 408/409/
425/429 (``Retry-After`` honoured) or a 5xx, and a 200 answer that is truncated JSON or has no choices,
are retried at most ``max_retries`` times with exponential backoff; then one ``BackendError`` of one
line names the URL, the cause and the number of attempts. A batch is all or nothing: no partial or
empty completion is ever returned in place of a failed one, so nothing unanswered is judged or scored
(the runner keeps the chunks finished before, and a resumed run redoes only the rest).

The API key is read from the environment variable named by ``api_key_env`` at each request and sent
as ``Authorization: Bearer``; it is never stored on the object, in its ``repr`` or its fingerprint.
It is registered as a secret (``tunesafe._util.redact``): error messages never carry it, even when a
server echoes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import sha256_obj
from tunesafe._util.redact import redact
from tunesafe.backends.base import (
    BackendError,
    ContinuationScore,
    LoglikelihoodUnsupportedError,
    ProgressCallback,
    with_system_prompt,
)
from tunesafe.backends.http_client import HTTPStatusError, JSONClient, in_parallel, one_line
from tunesafe.backends.openai_responses import (
    check_alignment,
    continuation_score,
    parse_completion,
    parse_scored_text,
)
from tunesafe.types import Completion, Conversation, GenParams

if TYPE_CHECKING:
    from tunesafe.backends.chat_template import ChatTemplate
    from tunesafe.config import ModelSpec

logger = logging.getLogger(__name__)

BACKEND_VERSION = 1
"""Bump when the request built from a conversation changes: it is part of the fingerprint."""

SERVED_FIELDS = ("id", "root", "parent", "meta")
"""The stable fields of a ``/models`` entry kept in the fingerprint (``created`` changes per request)."""
_NO_MODELS_ROUTE = {404, 405, 501}  # a server without a /models route

LOGLIK_METHODS = ("echo", "prompt_logprobs")
"""How a served model scores given text, in the order tried: ``/completions`` with ``echo`` and
``logprobs`` (OpenAI's legacy API, llama-cpp-python's server, vLLM), then vLLM's ``prompt_logprobs``."""
PROBE_CONVERSATION: Conversation = [{"role": "user", "content": "Count from one to ten in words."}]
PROBE_CONTINUATION = "One, two, three,"
"""The probe request: a continuation after which the next token is all but certain (not an end of turn)."""
# sampling settings that keep the probe's greedy token the raw argmax (llama.cpp's and vLLM's names)
_NEUTRAL = {"temperature": 0.0, "top_p": 1.0, "repeat_penalty": 1.0, "repetition_penalty": 1.0}


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
        chat_template: where the served model's chat template is read from (a ``.gguf`` file, a
            Hugging Face model folder or a bundled model name); enables :meth:`loglikelihood`.
        extra_body: server-specific fields added to every request (tunesafe's own fields win).
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
        chat_template: str | None = None,
        extra_body: dict[str, Any] | None = None,
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
        self.chat_template = chat_template
        self.extra_body = dict(extra_body or {})
        self.name = f"openai:{model}"
        self._fingerprint: str | None = None
        self._template: ChatTemplate | None = None
        self._loglik: dict[str, Any] | None = None  # the probe's finding, once probed
        self._http = JSONClient(
            self.base_url,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
        )

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
            chat_template=endpoint.chat_template,
            extra_body=endpoint.extra_body,
        )

    def __repr__(self) -> str:
        return (
            f"OpenAICompatBackend(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, revision={self.revision!r})"
        )

    # -- identity ---------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of base URL, served model name, revision, system prompt and the server's ``/models`` entry,
        and of the chat template's content and the ``extra_body`` fields when they are set (left out
        otherwise, so fingerprints made before they existed stay the same).

        The entry (id, root, parent, meta: e.g. vLLM's model path, llama.cpp's parameter count and
        file size) is asked for once; a server without ``/models`` leaves it out. An unreachable
        server raises ``BackendError``, so a run never records a fingerprint made without it.
        """
        if self._fingerprint is None:
            identity: dict[str, Any] = {
                "backend": "openai",
                "version": BACKEND_VERSION,
                "base_url": self.base_url,
                "model": self.model,
                "revision": self.revision,
                "system_prompt": self.system_prompt,
                "served": self._served_entry(),
            }
            if self.chat_template is not None:
                identity["chat_template"] = self.template().identity()
            if self.extra_body:
                identity["extra_body"] = self.extra_body
            self._fingerprint = sha256_obj(identity)
        return self._fingerprint

    def _served_entry(self) -> dict[str, Any] | None:
        try:
            listing = self._http.request("/models", None)
        except HTTPStatusError as err:
            if err.code not in _NO_MODELS_ROUTE:  # e.g. 401: a wrong key would change the fingerprint once fixed
                raise BackendError(err.describe()) from None
            logger.warning("%s; the fingerprint uses the model name only", err.describe())
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
        """Complete every conversation, in order, at most ``max_concurrency`` requests in flight.

        All or nothing: the first request that fails for good raises ``BackendError`` (one line: URL,
        cause, attempts) and the batch returns nothing (the runner's resume redoes it); requests not
        yet sent are cancelled and those in flight make no further attempt.
        """
        if not conversations:
            return []
        bodies = [self._body(conversation, params) for conversation in conversations]
        return in_parallel(self.max_concurrency, [partial(self._complete, body, params) for body in bodies], progress)

    def close(self) -> None:
        """Nothing to free: the model lives in the server."""

    def _with_system(self, conversation: Conversation) -> Conversation:
        return with_system_prompt(conversation, self.system_prompt)

    def _body(self, conversation: Conversation, params: GenParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self.extra_body,
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

    def _complete(self, body: dict[str, Any], params: GenParams, stop: threading.Event | None = None) -> Completion:
        url = f"{self.base_url}/chat/completions"
        want_logprobs = params.logprobs is not None
        try:
            completion: Completion = self._http.request(
                "/chat/completions", body, lambda data: parse_completion(data, want_logprobs=want_logprobs), stop=stop
            )
        except HTTPStatusError as err:
            raise BackendError(err.describe()) from None
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise BackendError(_unexpected(url, err)) from None
        return completion

    # -- log-likelihood ---------------------------------------------------------------------

    def template(self) -> ChatTemplate:
        """The served model's chat template, read once from ``chat_template``.

        Raises:
            LoglikelihoodUnsupportedError: no ``chat_template`` is set.
            BackendError: the template cannot be read from it.
        """
        if self.chat_template is None:
            raise LoglikelihoodUnsupportedError(
                f"backend {self.name} has no endpoint.chat_template: log-likelihoods need the served model's "
                "chat template (a .gguf, an HF model folder or a bundled model name), see docs/endpoints.md"
            )
        if self._template is None:
            from tunesafe.backends.chat_template import ChatTemplate

            try:
                self._template = ChatTemplate.from_source(self.chat_template)
            except (ValueError, OSError, KeyError) as err:
                raise BackendError(f"endpoint.chat_template {self.chat_template!r}: {err}") from None
        return self._template

    @property
    def supports_loglikelihood(self) -> bool:
        """Whether continuations can be scored: ``chat_template`` is set and the server passed the probe
        (asked once; a server that cannot be reached raises ``BackendError``)."""
        return self.loglikelihood_method() is not None

    def loglikelihood_method(self) -> str | None:
        """How this server scores text: the first of :data:`LOGLIK_METHODS` that answers the probe
        correctly, or None (no ``chat_template``, or neither works: ``describe()`` says why).

        The probe scores :data:`PROBE_CONTINUATION` after :data:`PROBE_CONVERSATION` (one tiny request per
        method tried, at most two, once per backend). For ``echo`` it also checks that the
        log-probabilities belong to the tokens they are listed with: with greedy decoding the generated
        token's log-probability must be the largest listed at its position. llama-cpp-python's server
        lists each prompt token with the *next* position's distribution when the prompt does not start
        with the model's BOS token (e.g. Qwen2.5's GGUFs, whose BOS ``<|endoftext|>`` no chat turn
        starts with); such a server is refused rather than trusted.
        """
        if self.chat_template is None:
            return None
        if self._loglik is None:
            self._loglik = self._probe_loglikelihood()
        method = self._loglik.get("method")
        return method if isinstance(method, str) else None

    def loglikelihood(self, requests: Sequence[tuple[Conversation, str]]) -> list[ContinuationScore]:
        """Summed natural-log probability of each continuation as the assistant's reply, in order.

        As ``HFBackend.loglikelihood``: the prompt is the conversation (with the system prompt rule of
        :meth:`generate`) rendered by the chat template with the generation prompt; the continuation is
        appended as text and ``prompt + continuation`` is scored by the server (one request each,
        ``max_concurrency`` at a time). The continuation's tokens are those holding at least one of its
        characters, counted back from the end of the scored text (:func:`continuation_score`). An empty
        continuation scores 0 over 0 tokens without a request.

        Raises:
            LoglikelihoodUnsupportedError: no ``chat_template``, or the server cannot score text.
            BackendError: a request failed for good (nothing is returned).
        """
        if not requests:
            return []
        method = self.loglikelihood_method()
        if method is None:
            reason = (self._loglik or {}).get("reason", "no endpoint.chat_template")
            raise LoglikelihoodUnsupportedError(
                f"backend {self.name} cannot give log-likelihoods of continuations: {reason}"
            )
        results: list[ContinuationScore | None] = [None] * len(requests)
        jobs: list[tuple[int, str, str]] = []
        for index, (conversation, continuation) in enumerate(requests):
            if continuation:
                jobs.append((index, self._prompt_text(conversation) + continuation, continuation))
            else:
                results[index] = ContinuationScore(logprob=0.0, n_tokens=0)
        if jobs:
            scores = in_parallel(
                self.max_concurrency, [partial(self._score, method, text, cont) for _, text, cont in jobs]
            )
            for (index, _, _), score in zip(jobs, scores, strict=True):
                results[index] = score
        return [r for r in results if r is not None]

    def describe(self) -> dict[str, Any]:
        """What a run manifest records of this backend (``info.backend_info``): the server, the served
        model, the chat template and how log-likelihoods were scored (when they were asked for)."""
        info: dict[str, Any] = {
            "kind": "openai",
            "base_url": self.base_url,
            "model": self.model,
            "revision": self.revision,
            "chat_template": self.chat_template,
        }
        if self._template is not None:
            info["chat_template_sha256"] = self._template.identity()
        if self.chat_template is None:
            info["loglikelihood"] = {"method": None, "reason": "no endpoint.chat_template"}
        else:
            info["loglikelihood"] = dict(self._loglik) if self._loglik is not None else {"probed": False}
        return info

    def _prompt_text(self, conversation: Conversation) -> str:
        from tunesafe.backends.chat_template import ChatTemplateError

        try:
            return self.template().render(self._with_system(conversation), add_generation_prompt=True)
        except ChatTemplateError as err:
            raise BackendError(f"{self.name}: {err}") from None

    def _score_body(self, method: str, text: str) -> dict[str, Any]:
        # max_tokens 1: llama-cpp-python reads 0 as "no limit"; the one generated token also serves the
        # alignment check. add_special_tokens false: vLLM would add a BOS token the template already wrote
        # (the HF backend tokenizes the rendered prompt the same way); servers that do not know it ignore it.
        body: dict[str, Any] = {
            **self.extra_body,
            "model": self.model,
            "prompt": text,
            "max_tokens": 1,
            **_NEUTRAL,
            "add_special_tokens": False,
            "stream": False,
        }
        if method == "echo":
            body.update(echo=True, logprobs=1)
        else:
            body.update(prompt_logprobs=1, return_token_ids=True)
        return body

    def _score(
        self, method: str, text: str, continuation: str, stop: threading.Event | None = None
    ) -> ContinuationScore:
        url = f"{self.base_url}/completions"
        try:
            scored = self._http.request(
                "/completions",
                self._score_body(method, text),
                lambda data: parse_scored_text(data, method, text),
                stop=stop,
            )
        except HTTPStatusError as err:
            raise BackendError(err.describe()) from None
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise BackendError(_unexpected(url, err)) from None
        try:
            return continuation_score(scored, continuation)
        except ValueError as err:
            raise BackendError(_unexpected(url, err)) from None

    def _probe_loglikelihood(self) -> dict[str, Any]:
        """Try each method on the probe text; the first that answers correctly wins."""
        text = self._prompt_text(PROBE_CONVERSATION) + PROBE_CONTINUATION
        failures: list[str] = []
        for method in LOGLIK_METHODS:
            try:
                data = self._http.request("/completions", self._score_body(method, text))
            except HTTPStatusError as err:
                failures.append(f"{method}: HTTP {err}")
                continue
            try:
                scored = parse_scored_text(data, method, text)
                alignment = check_alignment(scored) if method == "echo" else "by construction"
                probe = continuation_score(scored, PROBE_CONTINUATION)
            except (KeyError, IndexError, TypeError, ValueError) as err:
                failures.append(f"{method}: {redact(str(err))}")
                continue
            logger.info("%s scores text with %s (alignment %s)", self.base_url, method, alignment)
            return {
                "method": method,
                "alignment": alignment,
                "probe_tokens": probe.n_tokens,
                "probe_logprob": round(probe.logprob, 4),
            }
        reason = "; ".join(failures)
        logger.warning("%s cannot score text, log-likelihoods are unavailable (%s)", self.base_url, reason)
        return {"method": None, "reason": f"{self.base_url}/completions: {reason}"}


def _unexpected(url: str, err: Exception) -> str:
    """The one-line error for an answer that is whole JSON but not what was asked for."""
    return one_line(f"{url} answered an unexpected response ({type(err).__name__}: {err})")
