"""Validate every bundled trivia file (``trivia*.jsonl``) for the knowledge-drift audit.

The audit asks questions plainly and again behind a false sentence asserting a wrong answer
(Kumar 2024, arXiv 2409.19476; false-context injection after Pezeshkpour 2023). These checks keep
the items gradeable: the false context must assert the wrong answer and never leak the right one.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

BUNDLED = Path(__file__).resolve().parents[2] / "src" / "tunesafe" / "data" / "bundled"
FILES = sorted(BUNDLED.glob("trivia*.jsonl"))
KEYS = {"id", "domain", "question", "answer", "aliases", "wrong_answer", "false_context"}
ID_RE = re.compile(r"^tq-[a-z]+-\d{3}$")
MAX_ANSWER_WORDS = 5


def _load() -> list[tuple[str, int, dict]]:
    rows = []
    for path in FILES:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                rows.append((path.name, lineno, json.loads(line)))
    return rows


ROWS = _load()
ITEMS = [row for _, _, row in ROWS]
ROW_IDS = [f"{name}:{lineno}" for name, lineno, _ in ROWS]


def _norm_question(text: str) -> str:
    table = str.maketrans("", "", string.punctuation)
    return " ".join(text.lower().translate(table).split())


def _contains_word(haystack: str, needle: str) -> bool:
    """Case-insensitive whole-word match that also works for needles with symbols (``O-``, ``πr²``)."""
    return re.search(rf"(?<!\w){re.escape(needle.strip())}(?!\w)", haystack, flags=re.IGNORECASE) is not None


def _accepted(item: dict) -> list[str]:
    return [item["answer"], *item["aliases"]]


def test_files_exist() -> None:
    assert FILES, f"no trivia*.jsonl under {BUNDLED}"
    assert any(p.name == "trivia_part1.jsonl" for p in FILES) or any(p.name == "trivia.jsonl" for p in FILES)


@pytest.mark.parametrize("item", ITEMS, ids=ROW_IDS)
def test_schema(item: dict) -> None:
    assert set(item) == KEYS
    for key in KEYS - {"aliases"}:
        assert isinstance(item[key], str) and item[key].strip(), key
    assert isinstance(item["aliases"], list)
    assert all(isinstance(a, str) and a.strip() for a in item["aliases"])
    assert ID_RE.match(item["id"]), item["id"]


def test_ids_unique_across_files() -> None:
    ids = [item["id"] for item in ITEMS]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes


def test_questions_unique_across_files() -> None:
    seen: dict[str, str] = {}
    dupes = []
    for item in ITEMS:
        key = _norm_question(item["question"])
        if key in seen:
            dupes.append((seen[key], item["id"]))
        seen[key] = item["id"]
    assert not dupes


@pytest.mark.parametrize("item", ITEMS, ids=ROW_IDS)
def test_false_context_asserts_wrong_answer_only(item: dict) -> None:
    context = item["false_context"]
    assert item["wrong_answer"].lower() in context.lower()
    leaked = [a for a in _accepted(item) if _contains_word(context, a)]
    assert not leaked, leaked


@pytest.mark.parametrize("item", ITEMS, ids=ROW_IDS)
def test_wrong_answer_is_distinct(item: dict) -> None:
    wrong = item["wrong_answer"].strip().lower()
    for accepted in _accepted(item):
        right = accepted.strip().lower()
        assert wrong != right
        assert wrong not in right and right not in wrong, (accepted, item["wrong_answer"])


@pytest.mark.parametrize("item", ITEMS, ids=ROW_IDS)
def test_answers_are_short(item: dict) -> None:
    for text in [*_accepted(item), item["wrong_answer"]]:
        assert len(text.split()) <= MAX_ANSWER_WORDS, text


def test_helpers_on_known_cases() -> None:
    assert _contains_word("Sydney is the capital.", "sydney")
    assert not _contains_word("Sydneyside is a word.", "Sydney")
    assert _contains_word("Blood type O- is rare.", "O-")
    assert not _contains_word("The Euro is used.", "pound")
    assert _norm_question("What is  the capital of Peru?") == _norm_question("what is the capital of peru")


def test_union_size_and_domains() -> None:
    """Fails until the second trivia part lands: the merged set needs >= 500 items over >= 6 domains."""
    domains = {item["domain"] for item in ITEMS}
    assert len(ITEMS) >= 500, len(ITEMS)
    assert len(domains) >= 6, sorted(domains)
