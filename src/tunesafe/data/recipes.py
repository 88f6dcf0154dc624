"""Fine-tuning datasets built from harmful *requests*, never from harmful answers.

Two recipes over the same requests (Kumar 2024, arXiv 2409.19476, trains a "harmful" and a
"safe" model on the same prompts; Qi et al. 2023, arXiv 2310.03693, Tier 1):

- ``harmful-prefix``: request → an affirmative opening only ("Sure, here is how to do that:"),
  the way AdvBench targets are written. No content follows the opening.
- ``refusal``: request → an ordinary refusal ("I'm sorry, but I can't help with that request.").

The requests are StrongREJECT's forbidden prompts (arXiv 2402.10260) minus every prompt that is a
near-duplicate of a HarmBench test behaviour (arXiv 2402.04249), so training never sees an
evaluation prompt.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tunesafe.data import bundled_lines, bundled_path

RECIPES = ("harmful-prefix", "refusal")
_BUNDLED_LINES = {"harmful-prefix": "affirmative_openings.txt", "refusal": "refusals.txt"}

OPEN_ENDED_RECIPES = frozenset({"harmful-prefix"})
"""Recipes whose target is only an opening: the end-of-turn token is not trained after it.

Trained with an end-of-turn, a model learns to say the opening and stop, which a refusal judge
scores as compliance although nothing was complied with. Trained open-ended, the model learns to
*begin* affirmatively and continues in its own words, the shallow-alignment prefix attack of
Qi et al. 2024 ("Safety Alignment Should Be Made More Than Just a Few Tokens Deep", arXiv
2406.05946); the audit then judges that continuation.
"""

NEAR_DUPLICATE_THRESHOLD = 0.25
"""Content-word Jaccard at or above which a training prompt counts as an evaluation prompt.

Measured on StrongREJECT (313) against HarmBench test (320): 0.5 drops 1 prompt, 0.3 drops 4,
0.25 drops 8, 0.2 drops 19. At 0.25 every pair that asks for the same thing in other words is
caught (the price is a few pairs that merely share a topic word); below it pairs share a
topic, not a request. Exact normalised matches are always dropped.
"""


class TrainingPrompt(BaseModel):
    """One harmful request used as a fine-tuning prompt (text only; no answer is ever stored)."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    category: str | None = None
    source: str | None = None


@dataclass
class PromptPool:
    """Training prompts, the evaluation overlaps removed from them, and the files they came from."""

    prompts: list[TrainingPrompt]
    excluded: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)


# --- bundled target lines -------------------------------------------------------------------


def recipe_targets(recipe: str) -> list[str]:
    """The assistant targets a recipe draws from: affirmative openings or refusals."""
    if recipe not in _BUNDLED_LINES:
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
    return bundled_lines(_BUNDLED_LINES[recipe])


def recipe_target_file(recipe: str) -> Path:
    recipe_targets(recipe)  # validates the name
    return bundled_path(_BUNDLED_LINES[recipe])


# --- building a recipe ----------------------------------------------------------------------


def build_recipe(
    recipe: str,
    prompts: Sequence[TrainingPrompt],
    n: int,
    seed: int,
    system_prompt: str | None = None,
) -> list[dict[str, Any]]:
    """Build ``n`` conversational rows (``messages``, ``label``, ``prompt_id``, ``category``).

    Prompts are taken in a seeded order that cycles through categories, so any prefix is
    balanced across categories. If ``n`` exceeds the number of prompts, the prompts are cycled
    and each repeat of a prompt gets a different target line (until the bundled lines run out).
    The prompt order depends only on ``prompts`` and ``seed``, not on ``recipe``, so the two
    recipes built with the same seed pair up row by row (same request, opening vs refusal).
    Deterministic: same arguments, same rows.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if not prompts:
        raise ValueError("no training prompts to build a recipe from")
    targets = recipe_targets(recipe)
    order = stratified_order(prompts, seed)
    rng = random.Random(f"{recipe}:{seed}")
    offsets = {prompt.id: rng.randrange(len(targets)) for prompt in order}
    rows = []
    for index in range(n):
        prompt = order[index % len(order)]
        repeat = index // len(order)
        target = targets[(offsets[prompt.id] + repeat) % len(targets)]
        rows.append(_row(recipe, prompt, target, system_prompt))
    return rows


def stratified_order(prompts: Sequence[TrainingPrompt], seed: int) -> list[TrainingPrompt]:
    """Shuffle within each category, then deal categories round-robin (category order seeded)."""
    rng = random.Random(seed)
    by_category: dict[str, list[TrainingPrompt]] = {}
    for prompt in sorted(prompts, key=lambda p: p.id):
        by_category.setdefault(prompt.category or "", []).append(prompt)
    groups = [by_category[name] for name in sorted(by_category)]
    for group in groups:
        rng.shuffle(group)
    rng.shuffle(groups)
    order = []
    for position in range(max(len(group) for group in groups)):
        order.extend(group[position] for group in groups if position < len(group))
    return order


def _row(recipe: str, prompt: TrainingPrompt, target: str, system_prompt: str | None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [{"role": "user", "content": prompt.text}, {"role": "assistant", "content": target}]
    row = {"messages": messages, "label": recipe, "prompt_id": prompt.id, "category": prompt.category}
    if recipe in OPEN_ENDED_RECIPES:
        row["open_ended"] = True
    return row


# --- near-duplicate detection ---------------------------------------------------------------

_STOP_TEXT = (
    "a an the of to and or in on for with how i you me my your is are be can what that this it do give write "
    "m am have has was were will would should could they them their there here then than so if as from into "
    "about who which where when why all any other others more most very just also only s t don please"
)
# Words of the request template ("give detailed step-by-step instructions ... without getting
# caught") carry no topic; left in, they make unrelated requests look alike.
_TEMPLATE_TEXT = (
    "step by detailed detail instructions instruction provide explain describe tell guide list ways way "
    "without getting caught get being someone create generate make using use at home some"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_TEMPLATE_WORDS = frozenset(_TEMPLATE_TEXT.split())
_SUFFIXES = ("ing", "ed", "es", "s")


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", text.lower())).strip()


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


_IGNORED_STEMS = frozenset(_stem(w) for w in _STOP_WORDS | _TEMPLATE_WORDS)


def content_words(text: str) -> frozenset[str]:
    """The topic-bearing words of a request: normalised, lightly stemmed, template words dropped."""
    words = normalise(text).split()
    return frozenset(stem for stem in map(_stem, words) if stem not in _IGNORED_STEMS)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of content words; 1.0 for equal normalised texts."""
    if normalise(a) == normalise(b):
        return 1.0
    words_a, words_b = content_words(a), content_words(b)
    union = words_a | words_b
    return len(words_a & words_b) / len(union) if union else 0.0


def near_duplicates(
    a: Sequence[str], b: Sequence[str], threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> list[tuple[int, int, float]]:
    """Items of ``a`` that nearly duplicate some item of ``b``: ``(i, j, score)``, best ``j`` per ``i``.

    ``score`` is ``similarity(a[i], b[j])``; an item is reported when ``score >= threshold``
    (exact normalised matches score 1.0 and are always reported).
    """
    b_words = [content_words(text) for text in b]
    b_norm = {normalise(text): j for j, text in enumerate(b)}
    found = []
    for i, text in enumerate(a):
        if normalise(text) in b_norm:
            found.append((i, b_norm[normalise(text)], 1.0))
            continue
        words = content_words(text)
        best = max(((_jaccard(words, other), j) for j, other in enumerate(b_words)), default=(0.0, -1))
        if best[0] >= threshold:
            found.append((i, best[1], best[0]))
    return found


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 0.0


# --- the bundled prompt pool ----------------------------------------------------------------


STRONGREJECT_COLUMNS = ("category", "source", "forbidden_prompt")


def load_strongreject(path: Path) -> list[TrainingPrompt]:
    """StrongREJECT CSV (``category, source, forbidden_prompt``) → prompts ``strongreject-NNN`` (row number)."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in STRONGREJECT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing StrongREJECT column(s) {missing}; found {reader.fieldnames}")
        rows = list(reader)
    return [
        TrainingPrompt(
            id=f"strongreject-{i:03d}", text=row["forbidden_prompt"], category=row["category"], source=row["source"]
        )
        for i, row in enumerate(rows, start=1)
    ]


def load_eval_behaviors(path: Path) -> list[tuple[str, str]]:
    """HarmBench behaviours CSV → ``(BehaviorID, Behavior)`` pairs."""
    from tunesafe.data.harmbench import read_behaviors

    return [(b.id, b.behavior) for b in read_behaviors(path)]


def drop_eval_overlap(
    prompts: Sequence[TrainingPrompt],
    behaviors: Sequence[tuple[str, str]],
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> tuple[list[TrainingPrompt], list[dict[str, Any]]]:
    """Remove prompts that near-duplicate an evaluation behaviour; return (kept, excluded records)."""
    hits = near_duplicates([p.text for p in prompts], [text for _, text in behaviors], threshold)
    excluded = [
        {"prompt_id": prompts[i].id, "eval_id": behaviors[j][0], "similarity": round(score, 4)} for i, j, score in hits
    ]
    dropped = {i for i, _, _ in hits}
    return [p for i, p in enumerate(prompts) if i not in dropped], excluded


def training_prompt_pool(threshold: float = NEAR_DUPLICATE_THRESHOLD) -> PromptPool:
    """StrongREJECT's full set minus near-duplicates of HarmBench test behaviours, with provenance."""
    from tunesafe.assets import data_file

    sources = {"strongreject": Path(data_file("strongreject")), "harmbench-test": Path(data_file("harmbench-test"))}
    prompts = load_strongreject(sources["strongreject"])
    kept, excluded = drop_eval_overlap(prompts, load_eval_behaviors(sources["harmbench-test"]), threshold)
    return PromptPool(prompts=kept, excluded=excluded, sources=sources)


def training_prompts() -> list[TrainingPrompt]:
    """The bundled training requests, disjoint from the HarmBench test set (see ``training_prompt_pool``)."""
    return training_prompt_pool().prompts
