"""Token rows and batches shared by the local backends (HF, llama.cpp) and the training callback.

Pure list arithmetic: EOS cutting, padding, length-sorted batches, per-conversation sampling
seeds and the prompt/continuation token split of log-likelihood requests. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from tunesafe._util.hashing import sha256_obj
from tunesafe.types import Conversation


class Finished(NamedTuple):
    """One generated row cut at its first EOS."""

    text_ids: list[int]
    """Generated tokens before the EOS (what is decoded)."""
    n_tokens: int
    """Tokens generated, the EOS included."""
    finish_reason: str
    """"stop" when an EOS was produced, else "length"."""


def cut_at_eos(new_ids: Sequence[int], eos_ids: set[int]) -> Finished:
    """Cut generated ids at the first EOS; padding after it is dropped."""
    for position, token in enumerate(new_ids):
        if token in eos_ids:
            return Finished(list(new_ids[:position]), position + 1, "stop")
    return Finished(list(new_ids), len(new_ids), "length")


def conversation_seed(seed: int, conversation: Conversation) -> int:
    """A 60-bit sampling seed from ``seed`` and the conversation's content (not its batch position)."""
    return int(sha256_obj({"seed": seed, "messages": conversation})[:15], 16)


def eos_token_ids(generation_eos: int | list[int] | None, tokenizer_eos: int | None) -> set[int]:
    """All EOS ids: the generation config's (an int or a list) plus the tokenizer's."""
    ids: set[int] = set()
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos:
        ids.update(int(i) for i in generation_eos)
    if tokenizer_eos is not None:
        ids.add(int(tokenizer_eos))
    return ids


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (OOM shows up at once)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def right_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Right-pad token rows to one length: (input_ids, attention_mask). Scoring pads on the right, so
    every real token keeps its unpadded position and causal attention never sees the padding."""
    width = max(len(row) for row in rows)
    ids = [list(row) + [pad_id] * (width - len(row)) for row in rows]
    mask = [[1] * len(row) + [0] * (width - len(row)) for row in rows]
    return ids, mask


def split_continuation(prompt_ids: Sequence[int], full_ids: Sequence[int]) -> list[int] | None:
    """The continuation's tokens: ``full_ids`` minus the prompt's tokens, or None when the full text's
    tokenization does not start with the prompt's (a merge across the boundary)."""
    if len(full_ids) < len(prompt_ids) or list(full_ids[: len(prompt_ids)]) != list(prompt_ids):
        return None
    return list(full_ids[len(prompt_ids) :])


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Left-pad token rows to one length: (input_ids, attention_mask)."""
    width = max(len(row) for row in rows)
    ids = [[pad_id] * (width - len(row)) + list(row) for row in rows]
    mask = [[0] * (width - len(row)) + [1] * len(row) for row in rows]
    return ids, mask
