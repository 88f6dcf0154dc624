"""The Backend protocol: batches of conversations in, completions out.

Batch-first and synchronous, in the shape of lm-evaluation-harness's model contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


def with_system_prompt(conversation: Conversation, system_prompt: str | None) -> Conversation:
    """``conversation`` with ``system_prompt`` as a first system turn, unless it has one (every backend's rule)."""
    if system_prompt is None or any(m.get("role") == "system" for m in conversation):
        return list(conversation)
    return [{"role": "system", "content": system_prompt}, *conversation]


class BackendError(RuntimeError):
    """A backend could not produce completions (dead endpoint, bad model directory, ...)."""


@dataclass(frozen=True)
class ContinuationScore:
    """Log-likelihood of a continuation given as the assistant's reply to a conversation.

    ``logprob`` is the sum of the natural-log probabilities of the continuation's tokens, each
    conditioned on the chat-templated prompt (generation prompt included) and the tokens before
    it; ``n_tokens`` is how many tokens that sum covers (for per-token normalisation).
    """

    logprob: float
    n_tokens: int


@runtime_checkable
class LoglikelihoodBackend(Protocol):
    """An optional capability: score given continuations instead of generating them.

    The shape of lm-evaluation-harness's ``loglikelihood`` request (Gao et al. 2023), used for
    multiple-choice scoring such as TruthfulQA MC1/MC2 (Lin et al. 2022, arXiv 2109.07958).
    """

    def loglikelihood(self, requests: Sequence[tuple[Conversation, str]]) -> list[ContinuationScore]:
        """One score per ``(conversation, continuation)`` request, in order."""
        ...


def supports_loglikelihood(backend: object) -> bool:
    """Whether ``backend`` can score continuations now.

    A backend may have the method and still decline (a scripted backend without a scorer, a
    cache around a backend without it): such backends expose ``supports_loglikelihood`` as a
    false attribute or property, which this helper honours.
    """
    if not isinstance(backend, LoglikelihoodBackend):
        return False
    return bool(getattr(backend, "supports_loglikelihood", True))


class TokenLowerBound(int):
    """A prompt's token count known only from below: its characters alone prove it longer than the
    context window, so the backend did not tokenize it all (``PromptMeasuringBackend.prompt_tokens``).
    An ``int`` everywhere; reports say "at least" for it."""


@runtime_checkable
class PromptMeasuringBackend(Protocol):
    """An optional capability: say how long prompts are, in the model's tokens, before generating.

    Lets the runner refuse (or cut) a prompt that leaves no room for ``max_new_tokens`` in the
    model's context window before any generation starts (``tunesafe.backends.context_window``).
    """

    def context_window(self) -> int | None:
        """The most tokens the model takes in all (prompt + generated), or None when unknown."""
        ...

    def prompt_tokens(self, conversations: Sequence[Conversation]) -> list[int]:
        """Tokens each conversation's prompt takes as ``generate`` would feed it: chat template, system
        prompt and generation prompt included. Exact, except for a prompt whose characters alone prove
        it longer than ``context_window()``: that one is a :class:`TokenLowerBound` above the window,
        found without tokenizing all of it (so a 10 MB prompt costs no tokenizer time)."""
        ...


def measures_prompts(backend: object) -> bool:
    """Whether ``backend`` can measure prompts now (as :func:`supports_loglikelihood`: a wrapper around a
    backend that cannot, such as the cache, says so with a false ``measures_prompts`` attribute)."""
    if not isinstance(backend, PromptMeasuringBackend):
        return False
    return bool(getattr(backend, "measures_prompts", True))


def describe_backend(backend: object) -> dict[str, Any]:
    """What a backend tells its run's manifest about itself (``info.backend_info``).

    Backends may define an optional ``describe() -> dict`` (plain JSON values) naming capabilities
    found at run time, e.g. how a served model's log-likelihoods were scored; others give ``{}``.
    """
    describe = getattr(backend, "describe", None)
    if not callable(describe):
        return {}
    info = describe()
    return dict(info) if isinstance(info, dict) else {}


def loglikelihood_unavailable_reason(backend: object) -> str | None:
    """Why ``backend`` cannot score continuations, when its ``describe()`` says (``loglikelihood.reason``)."""
    described = describe_backend(backend).get("loglikelihood")
    reason = described.get("reason") if isinstance(described, dict) else None
    return str(reason) if reason else None


class LoglikelihoodUnsupportedError(BackendError):
    """The backend cannot give log-likelihoods of continuations (needed for multiple-choice scoring)."""
