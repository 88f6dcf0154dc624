"""Reading an OpenAI-compatible server's JSON answers: chat completions and scored text.

What HTTP cannot give, and how it is filled in: token ids are unknown (``-1``) unless the server
spells tokens as ``token_id:<n>``; the entropy of the full next-token distribution is a lower
bound from the top-k log-probabilities; the log-likelihood of a continuation is read from the
per-token log-probabilities of ``prompt + continuation`` (``/completions`` with ``echo``, or
vLLM's ``prompt_logprobs``), counted back from the end of the scored text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from tunesafe.backends.base import ContinuationScore
from tunesafe.backends.http_client import MalformedResponseError
from tunesafe.types import Completion, TokenStep

MISSING_LOGPROB = -9999.0
"""Stands for a log-probability a server gives as null or non-finite (OpenAI's own floor value)."""
ALIGNMENT_TOLERANCE = 1e-3
"""Greedy token's log-probability vs the largest listed one (nats): equal when the server's log-probabilities
are aligned with their tokens."""
_FINISH = {"stop": "stop", "eos": "stop", "eos_token": "stop", "stop_sequence": "stop", "length": "length"}
_TOKEN_ID = re.compile(r"^token_id:(\d+)$")


def parse_completion(data: dict[str, Any], *, want_logprobs: bool) -> Completion:
    """A ``Completion`` from a Chat Completions response (first choice).

    ``finish_reason``: ``stop`` (also TGI's ``eos_token`` / ``stop_sequence``) or ``length``; other
    reasons pass through. ``n_tokens``: ``usage.completion_tokens``, else the number of steps.

    The text is ``message.content``; a ``null`` content gives ``message.refusal`` (OpenAI's structured
    refusals) or, without one, the empty text of a model that said nothing. A response without a first
    choice or its message is not a completion at all: it raises, and is never read as an empty one.

    Raises:
        MalformedResponseError: no choices, or a choice without a message (the client retries it).
        ValueError: logprobs were asked for and the response carries none.
    """
    choice = first_choice(data)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponseError("the first choice has no message")
    if "content" not in message and "refusal" not in message:
        raise MalformedResponseError("the first choice's message has no content")
    text = message.get("content")
    if text is None:
        text = message.get("refusal") or ""
    if not isinstance(text, str):
        raise MalformedResponseError(f"message.content is a {type(text).__name__}, not text")
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


def first_choice(data: Any) -> dict[str, Any]:
    """The first entry of a response's ``choices``.

    Raises:
        MalformedResponseError: the response is not an object, or has no (or an empty) ``choices`` list.
    """
    if not isinstance(data, dict):
        raise MalformedResponseError(f"a JSON {type(data).__name__}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponseError(f"no choices (choices: {_shown(choices)})")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedResponseError(f"the first choice is a {type(choice).__name__}, not an object")
    return choice


def _shown(value: Any, limit: int = 60) -> str:
    text = "missing" if value is None else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


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


class ScoredText(NamedTuple):
    """Per-token log-probabilities of a scored text, as one server reported them.

    ``offsets`` are the tokens' start positions in the server's own character coordinates (which may
    leave out special tokens' text, as llama-cpp-python's do), ``end`` the scored text's end in them;
    ``logprobs`` are None where the server gives none (the first token). ``generated`` holds the
    ``(logprob, top_logprobs)`` of tokens generated after the text (for :func:`check_alignment`).
    """

    offsets: list[int]
    logprobs: list[float | None]
    end: int
    generated: list[tuple[Any, Any]]


def parse_scored_text(data: dict[str, Any], method: str, text: str) -> ScoredText:
    """The per-token log-probabilities of ``text`` in a ``/completions`` response.

    ``echo``: OpenAI's legacy ``logprobs`` (``tokens``, ``text_offset``, ``token_logprobs``) over the
    echoed prompt and the generated tokens; the last ``usage.completion_tokens`` entries are the
    generated ones. ``prompt_logprobs``: vLLM's per-position ``{token id: {logprob, rank,
    decoded_token}}``; the prompt's own token is the one named by ``prompt_token_ids``, else the only
    entry, else the one of largest rank (the prompt token is listed beside the top one when it is not it).

    Raises:
        MalformedResponseError: the response has no choices (a ``ValueError`` too).
        ValueError: the response lacks what the method needs (the server does not support it).
    """
    choice = first_choice(data)
    if method == "echo":
        return _parse_echo(data, choice, text)
    if method == "prompt_logprobs":
        return _parse_prompt_logprobs(choice)
    raise ValueError(f"unknown log-likelihood method {method!r}")


def _parse_echo(data: dict[str, Any], choice: dict[str, Any], text: str) -> ScoredText:
    echoed = choice.get("text")
    if not isinstance(echoed, str) or not echoed.startswith(text):
        raise ValueError("the response does not echo the prompt (echo unsupported)")
    logprobs = choice.get("logprobs") or {}
    tokens, offsets, values = logprobs.get("tokens"), logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not tokens or offsets is None or values is None or not len(tokens) == len(offsets) == len(values):
        raise ValueError("no per-token logprobs of the prompt (tokens, text_offset, token_logprobs)")
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    n_generated = (data.get("usage") or {}).get("completion_tokens")
    if not isinstance(n_generated, int):
        n_generated = 1 if len(echoed) > len(text) else 0
    n = len(tokens) - n_generated
    if n < 2 or offsets[0] != 0:
        raise ValueError(f"{len(tokens)} logprob entries do not cover the prompt (echo unsupported)")
    end = int(offsets[n]) if n_generated else int(offsets[n - 1]) + len(tokens[n - 1])
    return ScoredText(
        offsets=[int(o) for o in offsets[:n]],
        logprobs=[None if v is None else _logprob(v) for v in values[:n]],
        end=end,
        generated=[(values[i], tops[i] if i < len(tops) else None) for i in range(n, len(tokens))],
    )


def _parse_prompt_logprobs(choice: dict[str, Any]) -> ScoredText:
    positions = choice.get("prompt_logprobs")
    if not isinstance(positions, list) or len(positions) < 2:
        raise ValueError("no prompt_logprobs in the response (prompt_logprobs unsupported)")
    ids = choice.get("prompt_token_ids")
    offsets: list[int] = []
    values: list[float | None] = []
    at = 0
    for index, position in enumerate(positions):
        offsets.append(at)
        if not position:
            values.append(None)  # the first token: nothing before it
            continue
        wanted = str(ids[index]) if isinstance(ids, list) and index < len(ids) else None
        if wanted is not None and wanted in position:
            entry = position[wanted]
        elif len(position) == 1:
            entry = next(iter(position.values()))
        else:
            entry = max(position.values(), key=lambda e: e.get("rank") or 0)
        values.append(_logprob(entry["logprob"]))
        at += len(entry.get("decoded_token") or "")
    return ScoredText(offsets=offsets, logprobs=values, end=at, generated=[])


def check_alignment(scored: ScoredText) -> str:
    """``"aligned"`` when the greedy generated token's log-probability is the largest listed at its
    position (log-probabilities belong to their tokens), ``"unverified"`` when no token was generated.

    Raises:
        ValueError: the server lists log-probabilities against the wrong tokens.
    """
    if not scored.generated:
        return "unverified"
    value, top = scored.generated[0]
    if value is None or not isinstance(top, dict) or not top:
        return "unverified"
    best = max(float(v) for v in top.values())
    if abs(float(value) - best) > ALIGNMENT_TOLERANCE:
        raise ValueError(
            f"the greedy token's log-probability {float(value):.4f} is not the largest listed ({best:.4f}): the "
            "server's echoed log-probabilities are shifted against their tokens (llama-cpp-python does this when "
            "the prompt does not start with the model's BOS token)"
        )
    return "aligned"


def continuation_score(scored: ScoredText, continuation: str) -> ContinuationScore:
    """The log-likelihood of the last ``len(continuation)`` characters of a scored text.

    Counted from the end, in the server's coordinates: the boundary is ``end - len(continuation)``,
    and a token belongs to the continuation when it ends after the boundary (it holds at least one of
    the continuation's characters). A token that straddles the boundary (it starts in the prompt and
    ends in the continuation) is counted with the continuation: its log-probability then covers a
    little prompt text too, where ``HFBackend`` tokenizes the continuation on its own instead.
    Chat templates end the prompt in a newline or a special token, which BPE tokenizers do not merge
    with the text after it, so this is rare. A zero-width token at the boundary (a special token
    ending the prompt) stays with the prompt.

    Raises:
        ValueError: the continuation has no tokens, or its first token has no log-probability.
    """
    boundary = scored.end - len(continuation)
    if boundary <= 0:
        raise ValueError(f"the scored text ({scored.end} characters) is not longer than the continuation")
    ends = [*scored.offsets[1:], scored.end]
    chosen = [i for i, end in enumerate(ends) if end > boundary]
    values = [scored.logprobs[i] for i in chosen]
    if not values or any(v is None for v in values):
        raise ValueError("the continuation's tokens have no log-probabilities in the response")
    return ContinuationScore(logprob=float(sum(v for v in values if v is not None)), n_tokens=len(chosen))


def _logprob(value: Any) -> float:
    if value is None:
        return MISSING_LOGPROB
    value = float(value)
    return value if math.isfinite(value) else MISSING_LOGPROB
