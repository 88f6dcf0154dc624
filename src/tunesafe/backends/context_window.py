"""Prompts that do not fit the model's context window: refuse them, or cut them from the left.

A prompt needs its own tokens plus ``max_new_tokens`` in the window. Without a check, a prompt a
little too long runs for minutes (transformers only warns) and a huge one asks for tens of GB and
dies. :func:`fit_prompts` measures every sample up front, before any generation, on a backend that
can (:class:`~tunesafe.backends.base.PromptMeasuringBackend`), and applies ``long_prompts``:

- ``refuse``: an :class:`~tunesafe.errors.InputError` naming the first sample too long, its numbers
  and the fix, and how many others are too long;
- ``truncate_left``: the start of the last user message is cut (its end, where the question usually
  is, stays) until the prompt fits, and the sample records ``metadata["prompt_truncated"]``.

Samples that fit come back as the very same objects, so such runs are byte-identical to before.

Counting a huge prompt cheaply, and soundly
-------------------------------------------
A prompt is decided "too long" without tokenizing it when its characters alone prove it:
``TokenReach.min_tokens(text) > window``. "A token is at least one character" is false both ways: a
byte-fallback token is a fraction of a character (harmless: more tokens), and one vocabulary entry
can be a run of 80-128 spaces or dashes (SmolLM2: 81, Qwen2.5: 128 bytes), so a rule such as
``chars > 8 x window`` would misjudge a prompt of dashes. The sound bound divides by the tokenizer's
longest entry (added and special tokens included), counted in the unit the tokenizer consumes (bytes
for byte-level BPE, where a character is at least one byte), and holds only while every input
character must come out as part of some token:

- characters that can vanish are not counted: byte-level vocabularies often lack a few byte symbols
  (SmolLM2 lacks 6 ASCII control bytes and the lead bytes 0xF1, 0xF2 of planes 4-11), and such a
  byte is dropped, not made an unknown token, so every character holding one may vanish; bytes UTF-8
  never uses (0xC0, 0xC1, 0xF5-0xFF) do not matter, and a missing continuation byte leaves non-ASCII
  text without a bound;
- Unicode NFC/NFKC normalisers (Qwen2.5's) shrink text at most 4-fold (no canonical decomposition is
  longer than 4 code points), and ASCII text is the same in every normal form, so the factor applies
  to non-ASCII text only; a ``Replace`` of a string by a shorter one counts by its ratio;
- there is no bound at all (the prompt is tokenized in full: slow for a huge one, never wrong) for a
  tokenizer that can swallow text: an unknown-token model (WordPiece, BPE/Unigram neither byte-level
  nor byte-fallback, where ``fuse_unk`` turns any run of unknown characters into one token), a
  pre-tokenizer or normaliser that drops characters (BERT whitespace splitting, strip, regex
  replacements), an added token that eats neighbouring whitespace (``lstrip``/``rstrip``, as
  Phi-3's; llama.cpp's LSTRIP/RSTRIP attributes), or llama.cpp's WPM/UGM vocabularies.

The bound is taken on the chat-templated text, after the template has had its say (a template may
``trim`` content). Prompts under it are tokenized exactly, so a count at or under the window is exact.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from tunesafe.backends.base import PromptMeasuringBackend, TokenLowerBound, measures_prompts
from tunesafe.errors import InputError
from tunesafe.types import Conversation, GenParams, Sample

LongPrompts = Literal["refuse", "truncate_left"]
FIX = "shorten or drop it, lower generation.max_new_tokens, or set long_prompts: truncate_left"
COMPOSITION_SHRINK = 4
"""NFC/NFKC output is at least a quarter as long as its input: the longest canonical decomposition
of any code point is 4 (e.g. U+1F82), and composition is undone by decomposition."""
WHERE_KEYS = ("source", "file", "row", "line")
"""Sample metadata that says where a sample came from, shown in the refusal."""


# -- fitting ------------------------------------------------------------------------------


def fit_prompts(
    samples: Sequence[Sample], backend: object, params: GenParams, policy: LongPrompts, audit: str
) -> list[Sample]:
    """``samples`` with every prompt fitting the backend's context window next to ``params.max_new_tokens``.

    A backend that cannot measure prompts (or does not know its window) gets ``samples`` unchanged.
    Samples that fit are returned as the same objects; with ``policy`` "truncate_left" the others are
    copies with the last user message cut from the left and ``metadata["prompt_truncated"]``.

    Raises:
        InputError: with "refuse", when any prompt is too long (one line: audit, sample, numbers, fix);
            with "truncate_left", when a prompt does not fit even with its last user message emptied.
    """
    out = list(samples)
    if not out or not isinstance(backend, PromptMeasuringBackend) or not measures_prompts(backend):
        return out
    window = backend.context_window()
    if window is None:
        return out
    counts = backend.prompt_tokens([s.messages for s in out])
    budget = window - params.max_new_tokens
    over = [i for i, n in enumerate(counts) if n > budget]
    if not over:
        return out
    if policy == "refuse":
        raise InputError(_refusal(audit, [out[i] for i in over], counts[over[0]], params, window))
    for i in over:
        out[i] = _truncate_left(out[i], counts[i], backend, params, window, audit)
    return out


def _truncate_left(
    sample: Sample, tokens: int, backend: PromptMeasuringBackend, params: GenParams, window: int, audit: str
) -> Sample:
    """A copy of ``sample`` whose last user message keeps as much of its end as fits (binary search on
    characters kept: measuring a probe far over the window costs no tokenizing)."""
    budget = window - params.max_new_tokens
    index = next((i for i in reversed(range(len(sample.messages))) if sample.messages[i].get("role") == "user"), None)
    if index is None:
        raise InputError(
            f"audit {audit}: sample {sample.id!r}{_where(sample)} takes {_count(tokens)} prompt tokens + "
            f"{params.max_new_tokens} new > the context window of {window}, and has no user message to "
            "truncate; shorten or drop it, or lower generation.max_new_tokens"
        )
    content = sample.messages[index].get("content", "")

    def measure(keep: int) -> int:
        return backend.prompt_tokens([_kept(sample.messages, index, content, keep)])[0]

    lo, hi, kept = 0, len(content), measure(0)
    if kept > budget:
        raise InputError(
            f"audit {audit}: sample {sample.id!r}{_where(sample)} takes {_count(kept)} prompt tokens even with its "
            f"last user message emptied (system prompt and earlier turns), + {params.max_new_tokens} new > the "
            f"context window of {window}; shorten the system prompt or earlier turns, or lower "
            "generation.max_new_tokens"
        )
    while hi - lo > 1:  # measure(lo) fits, measure(hi) does not
        mid = (lo + hi) // 2
        n = measure(mid)
        if n <= budget:
            lo, kept = mid, n
        else:
            hi = mid
    record: dict[str, Any] = {"prompt_tokens": int(tokens), "kept_tokens": int(kept), "context_window": window}
    if isinstance(tokens, TokenLowerBound):
        record["prompt_tokens_at_least"] = True
    return sample.model_copy(
        update={
            "messages": _kept(sample.messages, index, content, lo),
            "metadata": {**sample.metadata, "prompt_truncated": record},
        }
    )


def _kept(messages: Conversation, index: int, content: str, keep: int) -> Conversation:
    """``messages`` with message ``index``'s content cut to its last ``keep`` characters."""
    out = [dict(m) for m in messages]
    out[index]["content"] = content[len(content) - keep :]
    return out


def _refusal(audit: str, too_long: list[Sample], tokens: int, params: GenParams, window: int) -> str:
    first, others = too_long[0], too_long[1:]
    also = ""
    if others:
        named = ", ".join(repr(s.id) for s in others[:3]) + (", ..." if len(others) > 3 else "")
        also = f" ({len(others)} other sample(s) are too long as well: {named})"
    return (
        f"audit {audit}: sample {first.id!r}{_where(first)} takes {_count(tokens)} prompt tokens + "
        f"{params.max_new_tokens} new (generation.max_new_tokens) > the model's context window of {window} "
        f"tokens{also}; {FIX}"
    )


def _count(tokens: int) -> str:
    return f"at least {tokens}" if isinstance(tokens, TokenLowerBound) else str(tokens)


def _where(sample: Sample) -> str:
    """`` (source data.jsonl, row 12)`` from the sample's metadata, when it says."""
    parts = []
    for key in WHERE_KEYS:
        value = sample.metadata.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = " ".join(str(value).split())
            parts.append(f"{key} {text[:120]}")
    return f" ({', '.join(parts)})" if parts else ""


# -- counting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenReach:
    """How far one token of a tokenizer can reach into rendered prompt text (module docstring).

    A text of ``n`` characters, ``d`` of them ``droppable``, takes at least
    ``ceil((n - f * d) / (longest * f))`` tokens, where ``f`` is ``shrink`` (times ``non_ascii_shrink``
    for non-ASCII text): a normaliser leaves at least ``n / f`` characters, at most ``d`` of them can
    vanish, and each token consumes at most ``longest`` of the rest.
    """

    longest: int
    """The longest vocabulary entry, in the units the tokenizer consumes (bytes for byte-level BPE)."""
    shrink: int = 1
    """How many times shorter the normaliser can make any text."""
    non_ascii_shrink: int | None = 1
    """A further factor for non-ASCII text (Unicode composition); None: no bound for such text."""
    droppable: tuple[tuple[int, int], ...] = ()
    """Code point ranges whose characters may (partly) come out as no token: byte-level BPE drops a
    byte whose symbol its vocabulary lacks."""

    def min_tokens(self, text: str) -> int:
        """The fewest tokens ``text`` can take (``str.isascii`` is constant-time; droppable ones: one regex scan)."""
        extra = 1 if text.isascii() else self.non_ascii_shrink
        if extra is None:
            return 0
        factor = self.shrink * extra
        dropped = len(_class_pattern(self.droppable).findall(text)) if self.droppable else 0
        left = len(text) - factor * dropped
        return math.ceil(left / (self.longest * factor)) if left > 0 else 0


def count_tokens(
    texts: Sequence[str],
    count: Callable[[list[str]], list[int]],
    reach: TokenReach | None,
    window: int | None,
) -> list[int]:
    """Token counts of rendered prompts: ``count`` (the exact tokenizer) for all but those whose length
    alone proves them over ``window``, which get a :class:`TokenLowerBound` and are never tokenized."""
    out: list[int] = [0] * len(texts)
    exact: list[int] = []
    for i, text in enumerate(texts):
        floor = reach.min_tokens(text) if reach is not None and window is not None else 0
        if window is not None and floor > window:
            out[i] = TokenLowerBound(floor)
        else:
            exact.append(i)
    if exact:
        for i, n in zip(exact, count([texts[i] for i in exact]), strict=True):
            out[i] = n
    return out


def byte_level_symbols() -> dict[int, str]:
    """The character byte-level BPE (GPT-2's ``bytes_to_unicode``) writes for each of the 256 bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = iter(range(256, 512))
    return {b: chr(b) if b in printable else chr(next(shifted)) for b in range(256)}


def byte_fallback_symbols() -> set[str]:
    """SentencePiece's byte-fallback tokens ``<0x00>`` ... ``<0xFF>``."""
    return {f"<0x{b:02X}>" for b in range(256)}


NOT_IN_UTF8 = frozenset({0xC0, 0xC1, *range(0xF5, 0x100)})
"""Bytes that never occur in UTF-8 text: vocabularies often leave their symbols out, harmlessly."""


def byte_level_reach(pieces: set[str], longest: int, shrink: int = 1, non_ascii_shrink: int = 1) -> TokenReach:
    """The reach of a byte-level BPE vocabulary. A byte whose symbol is missing is dropped from the
    text (no unknown token), so every character holding it counts as droppable: an ASCII byte is one
    character, a lead byte the range of characters it starts; a missing continuation byte (in any
    multi-byte character) leaves non-ASCII text without a bound."""
    missing = {b for b, symbol in byte_level_symbols().items() if symbol not in pieces} - NOT_IN_UTF8
    ranges = sorted(_lead_range(b) for b in missing if not 0x80 <= b < 0xC0)
    unbounded = any(0x80 <= b < 0xC0 for b in missing)
    return TokenReach(
        longest=max(1, longest),
        shrink=shrink,
        non_ascii_shrink=None if unbounded else non_ascii_shrink,
        droppable=tuple(ranges),
    )


def _lead_range(byte: int) -> tuple[int, int]:
    """The code points whose UTF-8 encoding starts with ``byte`` (ASCII or a lead byte)."""
    if byte < 0x80:
        return byte, byte
    bits, width = (0x1F, 6) if byte < 0xE0 else (0x0F, 12) if byte < 0xF0 else (0x07, 18)
    low = (byte & bits) << width
    return low, low + (1 << width) - 1


@lru_cache(maxsize=16)
def _class_pattern(ranges: tuple[tuple[int, int], ...]) -> re.Pattern[str]:
    return re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges) + "]")


def hf_token_reach(tokenizer: Any) -> TokenReach | None:
    """The reach of a transformers fast tokenizer's longest token, or None when no sound bound exists
    (module docstring: a tokenizer that can swallow or drop characters)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow (Python) tokenizer: nothing to inspect
        return None
    spec: dict[str, Any] = json.loads(backend.to_str())
    added = spec.get("added_tokens") or []
    if any(token.get("lstrip") or token.get("rstrip") for token in added):
        return None
    shrink = _normalizer_shrink(spec.get("normalizer"))
    model = spec.get("model") or {}
    if shrink is None or not _keeps_every_char(spec.get("pre_tokenizer")):
        return None
    vocab = model.get("vocab")
    if model.get("type") == "BPE" and isinstance(vocab, dict):
        pieces = set(vocab)
    elif model.get("type") == "Unigram" and isinstance(vocab, list):
        pieces = {str(entry[0]) for entry in vocab}
    else:  # WordPiece, WordLevel: unknown words become one token
        return None
    longest = max(len(piece) for piece in pieces | {str(t.get("content", "")) for t in added})
    all_text, non_ascii = shrink
    if model.get("byte_fallback"):
        if not byte_fallback_symbols() <= pieces:
            return None
        return TokenReach(longest=max(1, longest), shrink=all_text, non_ascii_shrink=non_ascii)
    if model.get("type") != "BPE" or not _has_byte_level(spec.get("pre_tokenizer")):
        return None  # unknown characters become one (fused) unknown token, or vanish
    reach = byte_level_reach(pieces, longest, all_text, non_ascii)
    if reach.droppable and all_text != 1:
        return None  # a replacement could write droppable characters
    return reach


def gguf_token_reach(header: dict[str, Any]) -> TokenReach | None:
    """The reach of a GGUF vocabulary's longest token (llama.cpp's BPE and SentencePiece vocabularies,
    which neither normalise nor drop text beyond missing byte symbols), or None for any other."""
    pieces = {str(t) for t in header.get("tokenizer.ggml.tokens") or []}
    if not pieces:
        return None
    longest = max(len(piece) for piece in pieces)
    kind = header.get("tokenizer.ggml.model")
    if kind == "gpt2":
        return byte_level_reach(pieces, longest)
    if kind == "llama" and byte_fallback_symbols() <= pieces:
        return TokenReach(longest=max(1, longest))
    return None  # bert (WPM), t5 (UGM), rwkv, ...: unknown text, or normalisation that shrinks


def _normalizer_shrink(spec: dict[str, Any] | None) -> tuple[int, int] | None:
    """How many times shorter a normaliser can make (any, further non-ASCII) text, or None when unbounded."""
    if spec is None:
        return 1, 1
    if spec.get("type") in ("NFC", "NFKC"):  # ASCII text is the same in every normal form
        return 1, COMPOSITION_SHRINK
    factor = _shrink(spec)
    return None if factor is None else (factor, 1)


def _shrink(spec: dict[str, Any]) -> int | None:
    kind = spec.get("type")
    if kind in ("NFD", "NFKD", "Lowercase", "Prepend"):  # never shorter
        return 1
    if kind in ("NFC", "NFKC"):
        return COMPOSITION_SHRINK
    if kind == "Replace":
        pattern, content = spec.get("pattern") or {}, spec.get("content")
        old = pattern.get("String") if isinstance(pattern, dict) else None
        if not isinstance(old, str) or not isinstance(content, str) or not content:
            return None  # a regex, or a deletion: unbounded
        return max(1, math.ceil(len(old) / len(content)))
    if kind == "Sequence":
        factor = 1
        for step in spec.get("normalizers") or []:
            part = _shrink(step)
            if part is None:
                return None
            factor *= part
        return factor
    return None  # Strip, StripAccents, BertNormalizer, Precompiled, ...: may drop characters


def _keeps_every_char(spec: dict[str, Any] | None) -> bool:
    """Whether a pre-tokenizer passes every character on (splits without removing)."""
    if spec is None:
        return True
    kind = spec.get("type")
    if kind == "Sequence":
        return all(_keeps_every_char(step) for step in spec.get("pretokenizers") or [])
    if kind in ("Split", "Punctuation"):
        return spec.get("behavior") != "Removed"
    return kind in ("ByteLevel", "Metaspace", "Digits", "UnicodeScripts")


def _has_byte_level(spec: dict[str, Any] | None) -> bool:
    if spec is None:
        return False
    if spec.get("type") == "Sequence":
        return any(_has_byte_level(step) for step in spec.get("pretokenizers") or [])
    return spec.get("type") == "ByteLevel"
