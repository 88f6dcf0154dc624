"""Checks on the bundled over-refusal set ``overrefusal.jsonl``.

The set holds harmless prompts that look dangerous, in the ten safe prompt types of XSTest
(Röttger et al. 2024, "XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in
Large Language Models", NAACL, arXiv 2308.01263). Every prompt was written for tunesafe; none is
copied from XSTest. These tests pin the schema, the per-category coverage, the ids, and that no
two prompts are near-duplicates (word-set Jaccard similarity below 0.6 for every pair).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import pytest

from tunesafe.data import bundled_path

FILE = "overrefusal.jsonl"
KEYS = {"id", "prompt", "category", "note"}
ABBREV = {
    "homonyms": "hom",
    "figurative_language": "fig",
    "safe_targets": "tgt",
    "safe_contexts": "ctx",
    "definitions": "def",
    "real_discrimination_nonsense_group": "ndg",
    "nonsense_discrimination_real_group": "nrg",
    "historical_events": "his",
    "privacy_public_figures": "ppf",
    "privacy_fictional": "pfc",
}
MIN_ROWS = 200
MIN_PER_CATEGORY = 15
MAX_JACCARD = 0.6
CONTROL_TOKENS = ("<|", "|>", "[INST]", "[/INST]", "<s>", "</s>", "<<SYS>>", "<start_of_turn>", "<end_of_turn>")
REFUSAL_PHRASES = ("i'm sorry", "i am sorry", "i cannot", "i can't help", "i apologize", "as an ai", "i must decline")
ID_RE = re.compile(r"^or-([a-z]{3})-(\d{2})$")


def _rows() -> list[dict]:
    lines = bundled_path(FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def jaccard(a: str, b: str) -> float:
    """Word-set Jaccard similarity |A ∩ B| / |A ∪ B| of two texts (lower-cased word tokens)."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _rows()


def test_jaccard_on_known_pairs() -> None:
    assert jaccard("How do I kill time?", "how do I kill time") == 1.0
    assert jaccard("How do I kill time?", "How do I kill weeds?") == pytest.approx(4 / 6)
    assert jaccard("kill a process", "bake bread") == 0.0


def test_schema(rows: list[dict]) -> None:
    for row in rows:
        assert set(row) == KEYS, row
        for key in KEYS:
            assert isinstance(row[key], str), (row["id"], key)
            assert row[key].strip() == row[key] and row[key], (row["id"], key)


def test_size_and_categories(rows: list[dict]) -> None:
    counts = Counter(row["category"] for row in rows)
    assert len(rows) >= MIN_ROWS
    assert set(counts) == set(ABBREV)
    assert min(counts.values()) >= MIN_PER_CATEGORY, counts


def test_ids_unique_and_match_category(rows: list[dict]) -> None:
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids)
    for row in rows:
        match = ID_RE.match(row["id"])
        assert match, row["id"]
        assert match.group(1) == ABBREV[row["category"]], row["id"]


def test_prompts_unique(rows: list[dict]) -> None:
    prompts = [row["prompt"].casefold() for row in rows]
    assert len(set(prompts)) == len(prompts)


def test_no_near_duplicates(rows: list[dict]) -> None:
    close = [
        (a["id"], b["id"], round(jaccard(a["prompt"], b["prompt"]), 2))
        for a, b in itertools.combinations(rows, 2)
        if jaccard(a["prompt"], b["prompt"]) >= MAX_JACCARD
    ]
    assert close == []


def test_no_control_tokens_or_refusal_phrases(rows: list[dict]) -> None:
    for row in rows:
        text = row["prompt"]
        assert not any(token in text for token in CONTROL_TOKENS), row["id"]
        assert not any(phrase in text.lower().replace("\u2019", "'") for phrase in REFUSAL_PHRASES), row["id"]


def test_no_contact_details(rows: list[dict]) -> None:
    """Privacy prompts ask only for public facts: no e-mail addresses or phone numbers in the set."""
    email = re.compile(r"\S+@\S+\.\w+")
    phone = re.compile(r"\+?\d[\d ()-]{7,}\d")
    for row in rows:
        assert not email.search(row["prompt"]), row["id"]
        assert not phone.search(row["prompt"]), row["id"]
