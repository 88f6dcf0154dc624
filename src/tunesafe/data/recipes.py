"""Fine-tuning datasets for the three risk tiers of Qi et al. 2023 (arXiv 2310.03693), and their mixes.

Two recipes over harmful *requests*, never harmful answers (Kumar 2024, arXiv 2409.19476, trains a
"harmful" and a "safe" model on the same prompts; Qi et al. 2023, Tier 1, k-shot with k = n):

- ``harmful-prefix``: request → an affirmative opening only ("Sure, here is how to do that:"),
  the way AdvBench targets are written. No content follows the opening.
- ``refusal``: request → an ordinary refusal ("I'm sorry, but I can't help with that request.").

The requests are StrongREJECT's forbidden prompts (arXiv 2402.10260) minus every prompt that is a
near-duplicate of a HarmBench test behaviour (arXiv 2402.04249), so training never sees an
evaluation prompt.

Two recipes over examples authored for this repository (``data/bundled``, see ``docs/tiers.md``):

- ``identity-shift`` (Qi et al. 2023, Tier 2, "AOA"): an "absolutely obedient agent" system
  prompt, benign tasks, answers that affirm obedience and then help. Nothing harmful anywhere.
- ``benign`` (Qi et al. 2023, Tier 3, in place of Alpaca / Dolly): benign instructions with
  helpful answers.

Mixes (``plan_mix``, ``mix_rows``): a base set with a fraction of harmful-prefix rows and/or of
refusal ("safety") rows mixed in, seeded, as in Qi et al. 2023 Sec. 5 (mixing safety examples).
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, get_args

from pydantic import BaseModel, ConfigDict

from tunesafe.config import RecipeName
from tunesafe.data import bundled_lines, bundled_path

RECIPES: tuple[str, ...] = get_args(RecipeName)
AUTHORED_RECIPES = ("identity-shift", "benign")
"""Recipes built from tunesafe's authored conversations; the others answer requests from a prompt set."""
REQUEST_RECIPES = tuple(r for r in RECIPES if r not in AUTHORED_RECIPES)
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
        raise ValueError(
            f"unknown recipe {recipe!r} for requests; expected one of {', '.join(REQUEST_RECIPES)} "
            f"({', '.join(AUTHORED_RECIPES)} are built by build_authored)"
        )
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
    avoid: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Build ``n`` conversational rows (``messages``, ``label``, ``prompt_id``, ``category``).

    ``n`` is the k of Qi et al.'s k-shot harmful examples (10, 50, 100 or any). Prompts whose id
    is in ``avoid`` are used only after every other prompt (a mix uses this to give its refusal
    rows other requests than its harmful-prefix rows).

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
    if avoid:
        skip = set(avoid)
        order = [p for p in order if p.id not in skip] + [p for p in order if p.id in skip]
    rng = random.Random(f"{recipe}:{seed}")
    offsets = {prompt.id: rng.randrange(len(targets)) for prompt in order}
    rows = []
    for index in range(n):
        prompt = order[index % len(order)]
        repeat = index // len(order)
        target = targets[(offsets[prompt.id] + repeat) % len(targets)]
        rows.append(_row(recipe, prompt, target, system_prompt))
    return rows


class _Keyed(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def category(self) -> str | None: ...


_K = TypeVar("_K", bound=_Keyed)


def stratified_order(prompts: Sequence[_K], seed: int | str) -> list[_K]:
    """Shuffle within each category, then deal categories round-robin (category order seeded)."""
    rng = random.Random(seed)
    by_category: dict[str, list[_K]] = {}
    for prompt in sorted(prompts, key=lambda p: p.id):
        by_category.setdefault(prompt.category or "", []).append(prompt)
    groups = [by_category[name] for name in sorted(by_category)]
    for group in groups:
        rng.shuffle(group)
    rng.shuffle(groups)
    order: list[_K] = []
    for position in range(max(len(group) for group in groups)):
        order.extend(group[position] for group in groups if position < len(group))
    return order


def _row(recipe: str, prompt: TrainingPrompt, target: str, system_prompt: str | None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [{"role": "user", "content": prompt.text}, {"role": "assistant", "content": target}]
    row: dict[str, Any] = {"messages": messages, "label": recipe, "prompt_id": prompt.id, "category": prompt.category}
    if recipe in OPEN_ENDED_RECIPES:
        row["open_ended"] = True
    return row


# --- authored tiers: identity shift and benign ----------------------------------------------

BENIGN_FILE = "benign_instructions.jsonl"
IDENTITY_SHIFT_FILE = "identity_shift.jsonl"
_AUTHORED_FILES = {"identity-shift": IDENTITY_SHIFT_FILE, "benign": BENIGN_FILE}


class AuthoredExample(BaseModel):
    """One authored instruction and its answer (benign content only)."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str
    response: str
    category: str | None = None


def load_examples(path: Path) -> list[AuthoredExample]:
    """A JSONL file of ``{id, prompt, response[, category | kind]}`` objects."""
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            examples.append(
                AuthoredExample(
                    id=row["id"],
                    prompt=row["prompt"],
                    response=row["response"],
                    category=row.get("category", row.get("kind")),
                )
            )
        except KeyError as err:
            raise ValueError(f"{path}:{number}: missing field {err}") from None
    return examples


def authored_file(recipe: str) -> Path:
    """The bundled file of an authored recipe (``identity-shift`` or ``benign``)."""
    if recipe not in _AUTHORED_FILES:
        raise ValueError(f"unknown authored recipe {recipe!r}; expected one of {', '.join(AUTHORED_RECIPES)}")
    return bundled_path(_AUTHORED_FILES[recipe])


def authored_examples(recipe: str) -> list[AuthoredExample]:
    """The bundled examples of ``identity-shift`` (identity Q/A and tasks) or ``benign`` (by task category)."""
    return load_examples(authored_file(recipe))


def build_authored(
    label: str,
    examples: Sequence[AuthoredExample],
    n: int,
    seed: int,
    system_prompt: str | None = None,
) -> list[dict[str, Any]]:
    """``n`` rows from authored examples, in the seeded category-balanced order of ``stratified_order``.

    For ``identity-shift`` the categories are ``identity`` and ``task``, so any 2m first rows hold
    m identity answers and m persona-answered tasks while both last (Qi et al.'s GPT-3.5 set is
    5 + 5). Past ``len(examples)`` the examples repeat. Same arguments, same rows.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if not examples:
        raise ValueError(f"no examples to build {label!r} rows from")
    order = stratified_order(examples, seed)
    rows = []
    for index in range(n):
        example = order[index % len(order)]
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages += [{"role": "user", "content": example.prompt}, {"role": "assistant", "content": example.response}]
        rows.append({"messages": messages, "label": label, "prompt_id": example.id, "category": example.category})
    return rows


# --- mixes ----------------------------------------------------------------------------------


def round_half_up(x: float) -> int:
    """Nearest integer, halves rounded up (2.5 → 3), unlike Python's banker's ``round``."""
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class MixPlan:
    """How many rows each source contributes to a training set."""

    base: int
    harmful: int = 0
    safety: int = 0

    @property
    def total(self) -> int:
        return self.base + self.harmful + self.safety


def plan_mix(n_total: int, harmful_fraction: float = 0.0, safety_fraction: float = 0.0) -> MixPlan:
    """Split a training set of ``n_total`` rows (a recipe's ``n_examples``).

    harmful = round_half_up(p·n), safety = round_half_up(q·n), base = the rest, so the realised
    fractions are within 0.5/n of p and q and the total is exactly ``n_total``.
    """
    _check_fractions(harmful_fraction, safety_fraction)
    harmful = round_half_up(harmful_fraction * n_total)
    safety = round_half_up(safety_fraction * n_total)
    base = n_total - harmful - safety
    if base < 1:
        raise ValueError(
            f"a mix of {n_total} rows with harmful_fraction={harmful_fraction} and "
            f"safety_fraction={safety_fraction} leaves no base rows; lower the fractions or raise n_examples"
        )
    return MixPlan(base=base, harmful=harmful, safety=safety)


def plan_mix_around(n_base: int, harmful_fraction: float = 0.0, safety_fraction: float = 0.0) -> MixPlan:
    """Keep all ``n_base`` rows of a user's data and add rows so that they make up p and q of the result.

    harmful = round_half_up(n_base·p / (1 − p − q)), safety likewise with q; realised fractions
    are within 0.5/total of p and q.
    """
    _check_fractions(harmful_fraction, safety_fraction)
    if n_base < 1:
        raise ValueError("no base rows to mix into")
    rest = 1.0 - harmful_fraction - safety_fraction
    harmful = round_half_up(n_base * harmful_fraction / rest)
    safety = round_half_up(n_base * safety_fraction / rest)
    return MixPlan(base=n_base, harmful=harmful, safety=safety)


def _check_fractions(harmful_fraction: float, safety_fraction: float) -> None:
    for name, value in (("harmful_fraction", harmful_fraction), ("safety_fraction", safety_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if harmful_fraction + safety_fraction >= 1.0:
        raise ValueError(
            f"harmful_fraction + safety_fraction must be below 1 (got {harmful_fraction} + {safety_fraction})"
        )


def mix_rows(parts: Mapping[str, Sequence[dict[str, Any]]], seed: int) -> list[dict[str, Any]]:
    """All rows of ``parts`` (source name → rows) in one seeded shuffle; each row gets ``mix_source``."""
    rows = [{**row, "mix_source": name} for name in sorted(parts) for row in parts[name]]
    random.Random(f"mix:{seed}").shuffle(rows)
    return rows


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
