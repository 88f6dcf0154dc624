"""Answer matching for short-answer (TriviaQA-style) knowledge-drift evaluations.

Two rules:

- ``"substring"``: the rule of Kumar (2024), ``gold.lower() in answer.lower()``. Lenient: "York"
  matches "Yorkshire." and a one-letter gold matches almost anything.
- ``"normalized"`` (default): both texts go through :func:`normalize_answer` (SQuAD-style,
  Rajpurkar et al. 2016, with a few additions) and the gold must appear as a *whole-word* sequence
  inside the answer: "It's Canberra." matches "Canberra", "Yorkshire" does not match "York".

:func:`adopted` tells whether an answer took up the false answer injected in the context
(wrong-answer adoption), with the normalized rule.

Kumar S (2024). Overriding Safety Protections of Open-source Models. arXiv:2409.19476.
Rajpurkar P, Zhang J, Lopyrev K, Liang P (2016). SQuAD: 100,000+ Questions for Machine
    Comprehension of Text. EMNLP 2016. arXiv:1606.05250.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

__all__ = ["adopted", "matches", "normalize_answer"]

MatchMode = Literal["normalized", "substring"]

_NUMBER_WORDS = {
    word: str(i)
    for i, word in enumerate(
        [
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ],
        start=1,
    )
}
_ARTICLES = frozenset({"a", "an", "the"})
_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")
# "." or "," between digits is part of a number: "3.14" stays, "1,000" becomes "1000".
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DIGIT_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_POINT_PLACEHOLDER = "\x00"
_COMBINING_DIACRITICS = re.compile("[\u0300-\u036f]")


def _strip_accents(text: str) -> str:
    """Remove Latin-style diacritics ("São" -> "Sao"); other scripts' marks are kept."""
    return unicodedata.normalize("NFC", _COMBINING_DIACRITICS.sub("", unicodedata.normalize("NFD", text)))


def _punctuation_to_space(text: str) -> str:
    return "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)


def normalize_answer(text: str) -> str:
    """Canonical form of a short answer for comparison.

    Steps: Unicode NFKC; case-fold; Latin diacritics removed; apostrophes deleted ("It's" -> "its",
    "O'Brien" -> "obrien"); thousands commas removed and decimal points kept inside numbers; all
    other punctuation and symbols become spaces; number words one-twenty become digits
    ("Twelve" -> "12"); articles a/an/the dropped when another word follows them (so "The Beatles"
    -> "beatles" while the letter in "Vitamin A" or "Plan A" stays); whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _strip_accents(text)
    text = _APOSTROPHES.sub("", text)
    text = _DIGIT_COMMA.sub("", text)
    text = _DIGIT_POINT.sub(_POINT_PLACEHOLDER, text)
    text = _punctuation_to_space(text).replace(_POINT_PLACEHOLDER, ".")
    tokens = [_NUMBER_WORDS.get(tok, tok) for tok in text.split()]
    kept = [tok for i, tok in enumerate(tokens) if not (tok in _ARTICLES and i + 1 < len(tokens))]
    return " ".join(kept)


def _contains_words(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


def matches(
    answer_text: str,
    gold: str,
    aliases: Iterable[str] = (),
    *,
    mode: MatchMode = "normalized",
) -> bool:
    """Whether ``answer_text`` contains the gold answer or one of its aliases.

    ``mode="normalized"``: some normalized gold/alias occurs as a whole-word sequence in the
    normalized answer. ``mode="substring"``: Kumar (2024)'s ``gold.lower() in answer.lower()``.
    Golds and aliases that are empty (after normalization, in normalized mode) are ignored in both
    modes, so they never match every answer (in Python ``"" in s`` is always true); an empty answer
    matches nothing.
    """
    candidates = [gold, *aliases]
    if mode == "substring":
        lowered = answer_text.lower()
        return any(c.lower() in lowered for c in candidates if c)
    if mode != "normalized":
        raise ValueError(f"mode must be 'normalized' or 'substring', got {mode!r}")
    normalized = normalize_answer(answer_text)
    return any(_contains_words(normalized, normalize_answer(c)) for c in candidates)


def adopted(answer_text: str, wrong_answer: str, aliases: Iterable[str] = ()) -> bool:
    """Whether the answer repeats the injected false answer (normalized whole-word rule)."""
    return matches(answer_text, wrong_answer, aliases, mode="normalized")
