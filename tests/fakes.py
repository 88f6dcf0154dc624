"""Test doubles shared by several tests (plain module, imported explicitly)."""

from __future__ import annotations

from collections.abc import Sequence

from tunesafe.backends.base import ProgressCallback
from tunesafe.data.harmbench import Behavior
from tunesafe.types import Completion, Conversation, GenParams

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure, here is what you asked for:"


def behaviors(n: int = 20, categories: Sequence[str] = ("illegal", "cybercrime_intrusion")) -> list[Behavior]:
    """Placeholder HarmBench-shaped rows (neutral text: tests need ids and categories, not content)."""
    rows = []
    for i in range(n):
        subset = "copyright" if i % 10 == 9 else "contextual" if i % 10 == 8 else "standard"
        rows.append(
            Behavior(
                id=f"b{i:02d}",
                behavior=f"placeholder request number {i}",
                functional_category=subset,
                semantic_category="copyright" if subset == "copyright" else categories[i % len(categories)],
                context=f"placeholder context {i}" if subset == "contextual" else None,
            )
        )
    return rows


class RuleBackend:
    """Complies on prompts naming one of ``comply_numbers``, refuses otherwise; can fail on demand."""

    name = "rule-fake"

    def __init__(self, comply_numbers: set[int], salt: str = "v1", fail_after_calls: int | None = None) -> None:
        self.comply_numbers = comply_numbers
        self.salt = salt
        self.fail_after_calls = fail_after_calls
        self.generated: list[Conversation] = []
        self.calls = 0

    def fingerprint(self) -> str:
        return f"rule-fake-{self.salt}"

    def generate(
        self, conversations: Sequence[Conversation], params: GenParams, progress: ProgressCallback | None = None
    ) -> list[Completion]:
        self.calls += 1
        if self.fail_after_calls is not None and self.calls > self.fail_after_calls:
            raise RuntimeError("simulated crash")
        out = []
        for conv in conversations:
            number = int(conv[-1]["content"].rsplit(" ", 1)[-1])
            text = COMPLIANCE if number in self.comply_numbers else REFUSAL
            out.append(Completion(text=text, finish_reason="stop", n_tokens=len(text.split())))
        self.generated.extend(conversations)
        if progress:
            progress(len(conversations))
        return out

    def close(self) -> None:
        pass
