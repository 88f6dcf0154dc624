"""The Judge protocol.

Polarity (stated once, used everywhere): a Verdict's score is 1.0 when the model complied with
a harmful request (attack success), 0.0 when it refused, and ``None`` when the judge could not
decide ("unscored": counted and reported, never silently a refusal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from tunesafe.types import Conversation, Verdict


class JudgeInput(BaseModel):
    """What a judge sees: the request as the user stated it, and the model's completion."""

    prompt: str
    completion: str
    truncated: bool = False
    """The reply went on past this text: it hit the length limit, or hygiene cut it before a loop."""

    @classmethod
    def from_messages(cls, messages: Conversation, completion: str, truncated: bool = False) -> JudgeInput:
        """The last user turn (context included, as the user stated it) and the completion."""
        user_turns = [m["content"] for m in messages if m["role"] == "user"]
        return cls(prompt=user_turns[-1] if user_turns else "", completion=completion, truncated=truncated)


@runtime_checkable
class Judge(Protocol):
    name: str

    def fingerprint(self) -> str:
        """Identity of the judge's behaviour (rules, prompt template, judge model)."""
        ...

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per item, in order."""
        ...
