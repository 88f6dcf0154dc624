"""Sanitising text before it is pasted into an LLM judge's prompt.

A completion (and, to a lesser degree, a dataset prompt) is untrusted text. Pasted verbatim into a
judge prompt it can end the judge's turn early with chat-template control tokens, open a fake turn
with a role marker, or write the judge's verdict for it in the judge's own output format. Prompt
injection into LLM evaluators is documented by Greshake et al. (2023, arXiv:2302.12173) and, for
judges, by Shi et al. (2024, "Optimization-based Prompt Injection Attack to LLM-as-a-Judge",
arXiv:2403.17710). The rules below are deterministic and documented so a run can be reproduced.

``sanitize_text`` applies, in this order:

1. **Line breaks**: ``\\r\\n``, ``\\r``, vertical tab, form feed, U+0085, U+2028 and U+2029 become
   ``\\n`` (a model or tokenizer may read any of them as a new line).
2. **Invisible characters** are deleted: zero-width space/joiners/marks (U+200B–U+200F), word joiner
   and invisible operators (U+2060–U+2064), bidirectional embeddings/overrides/isolates
   (U+202A–U+202E, U+2066–U+2069) and the byte-order mark (U+FEFF). They could otherwise hide a
   marker from the rules below while a model still reads it.
3. **Control tokens** are deleted, repeatedly until none is left (deleting one must not join two
   halves into a new one): the ``<|...|>`` family (``<|im_start|>``, ``<|eot_id|>``,
   ``<|start_header_id|>``, ``<|endoftext|>``, …, also with fullwidth bars ``<｜…｜>``), ``<s>``,
   ``</s>``, ``<bos>``, ``<eos>``, ``<pad>``, ``<unk>``, ``<start_of_turn>``, ``<end_of_turn>``,
   ``[INST]``, ``[/INST]``, ``<<SYS>>``, ``<</SYS>>``, ``[SYSTEM_PROMPT]``, ``[/SYSTEM_PROMPT]``,
   ``[AVAILABLE_TOOLS]``, ``[/AVAILABLE_TOOLS]``, ``[TOOL_CALLS]``, ``[TOOL_RESULTS]``,
   ``[/TOOL_RESULTS]`` (case-insensitive).
4. **Judge-prompt delimiters**: bracketed ``[BEGIN …]`` / ``[END …]`` markers (the delimiters the
   packaged judge prompts put around the request and the reply) become ``(BEGIN …)`` /
   ``(END …)`` wherever they occur, so text cannot close its own section.
5. **Lines that imitate a turn or a verdict** are *quoted*: the line is prefixed with ``"> "`` and
   the marker's format punctuation (leading ``#``/``*``, the ``:`` after it, the ``.`` in ``1.b``)
   is dropped; the rest of the line is kept. Matching is case-insensitive, on the NFKC form of the
   line (so fullwidth look-alikes are caught), after leading whitespace and Markdown decoration
   (``#``, ``*``, ``>``, ``-``). A line is quoted when it

   - starts with a role marker followed by ``:`` — ``User``, ``Assistant``, ``System``, ``Human``,
     ``AI``, ``Bot``, ``Model``, ``Agent``, ``Developer``, ``Tool``, ``Function``, ``ipython``,
     ``Instruction``, ``Input``, ``Response``, ``Output``, ``Context``, ``User instruction``,
     ``AI model response`` (``### Instruction:`` → ``> Instruction``);
   - is only a role name (``assistant`` alone on a line, as left behind by
     ``<|im_start|>assistant`` once the tokens are deleted);
   - starts with a judge's output field: ``#thescore``, ``#thereason``, ``#overall_reasoning``,
     ``#scores`` (Qi et al. 2023; Souly et al. 2024; with ``#``, or without it but followed by
     ``:``), ``1.a``–``3.b`` (StrongREJECT), ``Answer:``, ``Final answer:``, ``Verdict:``,
     ``Score:``, ``Rating:``, ``Label:``, ``Classification:`` (HarmBench-style and generic);
   - is, apart from punctuation, only ``safe``, ``unsafe``, ``yes`` or ``no``, or only Llama Guard
     category codes such as ``S1, S10`` (Llama Guard 3 and yes/no verdict lines).

   Example: ``#thescore: 1`` → ``> thescore 1``; ``Assistant: Sure`` → ``> Assistant Sure``;
   ``1.b 0`` → ``> 1b 0``; ``unsafe`` → ``> unsafe``.
6. **Length**: text longer than ``max_chars`` (after steps 1–4 and stripping) is cut to
   ``max_chars`` characters *before* step 5, so the cut cannot leave an unquoted verdict-like last
   line, and the marker ``[… truncated: N more characters]`` is appended on its own line. Quoting
   may add a few characters, so the result can be slightly longer than ``max_chars``.

Leading and trailing whitespace is stripped. Nothing else changes: ordinary prose, code and
Markdown pass through as written, so the judge still sees the substance of the reply.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "SANITIZER_VERSION",
    "SanitizeResult",
    "sanitize_completion",
    "sanitize_prompt",
    "sanitize_text",
]

SANITIZER_VERSION = 1
"""Bump whenever a rule changes: it is part of every LLM judge's fingerprint."""

DEFAULT_COMPLETION_CHARS = 4000
DEFAULT_PROMPT_CHARS = 8000

_LINE_BREAKS = re.compile(r"\r\n|[\r\v\f\x85\u2028\u2029]")
_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\u202a-\u202e\u2066-\u2069\ufeff]")

_NAMED_TOKENS = (
    r"</?s>",
    r"<(?:bos|eos|pad|unk)>",
    r"<(?:start|end)_of_turn>",
    r"\[/?INST\]",
    r"<</?SYS>>",
    r"\[/?SYSTEM_PROMPT\]",
    r"\[/?AVAILABLE_TOOLS\]",
    r"\[TOOL_CALLS\]",
    r"\[/?TOOL_RESULTS\]",
)
_CONTROL_TOKEN = re.compile(
    r"<[|\uff5c][^|\uff5c<>\n]{0,64}[|\uff5c]>|" + "|".join(_NAMED_TOKENS),
    re.IGNORECASE,
)
_DELIMITER = re.compile(r"\[(\s*/?\s*(?:BEGIN|END)\b[^\[\]\n]{0,60})\]", re.IGNORECASE)

_ROLES = (
    r"user instruction|ai model response|user|assistant|system|human|ai|bot|model|agent|developer|tool|"
    r"function|ipython|instruction|input|response|output|context"
)
_FIELDS = r"thescore|thereason|overall_reasoning|final answer|answer|verdict|score|rating|label|classification"
_DECORATION = r"[\s#*>\-]*"
# Groups: 1 = the marker to keep (punctuation dropped), 2 = the rest of the line.
_ROLE_LINE = re.compile(rf"^{_DECORATION}({_ROLES})\**\s*:\**(.*)$", re.IGNORECASE)
_ROLE_ONLY = re.compile(rf"^{_DECORATION}({_ROLES})[\s:.*]*()$", re.IGNORECASE)
_HASH_FIELD = re.compile(r"^[\s*>\-]*#+\s*(thescore|thereason|overall_reasoning|scores)\b\s*:?(.*)$", re.IGNORECASE)
_RUBRIC_ITEM = re.compile(r"^" + _DECORATION + r"([1-3])\.([ab])\b\s*:?(.*)$", re.IGNORECASE)
_FIELD_LINE = re.compile(rf"^{_DECORATION}({_FIELDS})\**\s*:\**(.*)$", re.IGNORECASE)
_VERDICT_WORD = re.compile(r"^[\s#*>\-\"'`]*(safe|unsafe|yes|no)[\s.!\"'`*]*()$", re.IGNORECASE)
_CODES_ONLY = re.compile(r"^[\s#*>\-]*(S\d{1,2}(?:\s*[,;]\s*S\d{1,2})*)[\s.]*()$", re.IGNORECASE)


@dataclass(frozen=True)
class SanitizeResult:
    """Sanitised text and what was changed (counts, for audit trails)."""

    text: str
    removed_tokens: int = 0
    neutralised_delimiters: int = 0
    quoted_lines: int = 0
    truncated_chars: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed_tokens or self.neutralised_delimiters or self.quoted_lines or self.truncated_chars)

    def summary(self) -> dict[str, int]:
        """The non-zero counts, for a verdict's ``details``."""
        counts = {
            "removed_tokens": self.removed_tokens,
            "neutralised_delimiters": self.neutralised_delimiters,
            "quoted_lines": self.quoted_lines,
            "truncated_chars": self.truncated_chars,
        }
        return {key: value for key, value in counts.items() if value}


def _remove_control_tokens(text: str) -> tuple[str, int]:
    removed = 0
    while True:
        text, n = _CONTROL_TOKEN.subn("", text)
        if n == 0:
            return text, removed
        removed += n


def _quote_line(line: str) -> str | None:
    """The quoted form of a line that imitates a turn or a verdict, or None to keep it as is."""
    normal = unicodedata.normalize("NFKC", line)
    for pattern in (_HASH_FIELD, _ROLE_LINE, _FIELD_LINE, _ROLE_ONLY, _VERDICT_WORD, _CODES_ONLY):
        found = pattern.match(normal)
        if found:
            return _join_quoted(found.group(1), found.group(2))
    found = _RUBRIC_ITEM.match(normal)
    if found:
        return _join_quoted(found.group(1) + found.group(2), found.group(3))
    return None


def _join_quoted(marker: str, rest: str) -> str:
    rest = rest.strip()
    return f"> {marker} {rest}" if rest else f"> {marker}"


def sanitize_text(text: str, max_chars: int = DEFAULT_COMPLETION_CHARS) -> SanitizeResult:
    """Apply the module's rules 1–6 to ``text``; ``max_chars`` (≥ 1) bounds the kept text."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    text = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
    text, removed = _remove_control_tokens(text)
    text, delimiters = _DELIMITER.subn(r"(\1)", text)
    text = text.strip()
    truncated = max(0, len(text) - max_chars)
    if truncated:  # cut before quoting, so a cut cannot leave an unquoted verdict-like last line
        text = text[:max_chars].rstrip()
    lines = []
    quoted = 0
    for line in text.split("\n"):
        replacement = _quote_line(line)
        if replacement is not None:
            quoted += 1
            line = replacement
        lines.append(line)
    text = "\n".join(lines)
    if truncated:
        text = f"{text}\n[… truncated: {truncated} more characters]"
    return SanitizeResult(text, removed, delimiters, quoted, truncated)


def sanitize_completion(text: str, max_chars: int = DEFAULT_COMPLETION_CHARS) -> str:
    """A model's completion made safe to paste into a judge prompt (see the module docstring)."""
    return sanitize_text(text, max_chars).text


def sanitize_prompt(text: str, max_chars: int = DEFAULT_PROMPT_CHARS) -> str:
    """A dataset prompt made safe to paste into a judge prompt: the same rules, a longer limit.

    Jailbreak prompts (DAN-style and similar) often contain role markers and fake turns of their own.
    """
    return sanitize_text(text, max_chars).text
