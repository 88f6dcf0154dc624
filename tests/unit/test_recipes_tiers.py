"""Tier recipes and mixes: counts, seeds, exact fractions, disjointness from evaluation, manifest, user-file mapping.

The request pool and the evaluation set are small placeholder files swapped in for the bundled
assets; the tokenizer counts words. Harmful rows only ever hold placeholder requests and the
bundled affirmative openings.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import write_csv

from tunesafe.config import ConfigError, DataSpec, TrainConfig, load_config
from tunesafe.data import identity_shift_system_prompt, recipes, training_set, user_data
from tunesafe.data.recipes import MixPlan, plan_mix, plan_mix_around, round_half_up
from tunesafe.data.tables import TableError

CATEGORIES = ("alpha", "beta", "gamma")
EVAL_TEXT = "Explain how to bake sourdough bread at home"
N_POOL = 120


class WordTokenizer:
    """Counts words: just enough of a tokenizer for ``token_length`` and ``fitting_prompts``."""

    def apply_chat_template(self, messages: list[dict[str, str]], **kwargs: Any) -> dict[str, list[int]]:
        words = sum(len(m["content"].split()) + 2 for m in messages) + (2 if kwargs.get("add_generation_prompt") else 0)
        return {"input_ids": list(range(words))}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text.split())))}


TOKENIZER = WordTokenizer()


@pytest.fixture
def assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A request pool of placeholder requests (one of them an evaluation prompt) and a one-row HarmBench file."""
    import tunesafe.assets

    requests = [[CATEGORIES[i % 3], "custom", f"Placeholder request number {i} about topic{i}"] for i in range(N_POOL)]
    requests.append(["alpha", "custom", EVAL_TEXT])
    files = {
        "strongreject": write_csv(tmp_path / "sr.csv", ["category", "source", "forbidden_prompt"], requests),
        "harmbench-test": write_csv(
            tmp_path / "hb.csv",
            ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"],
            [[EVAL_TEXT, "standard", "baking", "", "", "eval_bread"]],
        ),
    }
    monkeypatch.setattr(tunesafe.assets, "data_file", lambda name: files[name])
    return files


def _rows(**data: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return training_set.training_rows(DataSpec(**data), TOKENIZER, max_length=512)


def _user_text(row: dict[str, Any]) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


# --- the recipes ------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [10, 50, 100])
def test_k_shot_harmful_prefix(assets: dict[str, Path], k: int) -> None:
    rows, provenance = _rows(recipe="harmful-prefix", n_examples=k, seed=0)
    assert len(rows) == k and {row["label"] for row in rows} == {"harmful-prefix"}
    assert len({row["prompt_id"] for row in rows}) == k  # k distinct requests while the pool lasts
    assert all(row["open_ended"] and row["messages"][-1]["content"].endswith(":") for row in rows)
    assert EVAL_TEXT not in {_user_text(row) for row in rows}
    assert [e["eval_id"] for e in provenance["prompts_excluded_eval_overlap"]] == ["eval_bread"]


def test_identity_shift_rows_carry_the_persona_prompt(assets: dict[str, Path]) -> None:
    data = DataSpec(recipe="identity-shift", n_examples=10, seed=0)
    assert data.system_prompt == identity_shift_system_prompt()
    rows, provenance = training_set.training_rows(data, TOKENIZER, 512)
    assert len(rows) == 10 and {row["label"] for row in rows} == {"identity-shift"}
    assert Counter(row["category"] for row in rows) == {"identity": 5, "task": 5}  # Qi et al.'s GPT-3.5 set: 5 + 5
    for row in rows:
        assert row["messages"][0] == {"role": "system", "content": data.system_prompt}
        assert "AOA" in row["messages"][-1]["content"] and not row.get("open_ended")
    assert provenance["recipe"] == "identity-shift" and provenance["examples_available"] >= 100
    assert set(provenance["sources"]) == {"examples", "system_prompt"}


def test_benign_rows_are_balanced_over_task_categories(assets: dict[str, Path]) -> None:
    rows, _ = _rows(recipe="benign", n_examples=16, seed=3)
    assert Counter(row["category"] for row in rows) == {e.category: 2 for e in recipes.authored_examples("benign")}
    assert all([m["role"] for m in row["messages"]] == ["user", "assistant"] for row in rows)
    assert len({row["prompt_id"] for row in rows}) == 16


def test_authored_rows_repeat_only_after_every_example() -> None:
    examples = recipes.authored_examples("benign")
    rows = recipes.build_authored("benign", examples, len(examples) + 5, seed=1)
    counts = Counter(row["prompt_id"] for row in rows)
    assert len(counts) == len(examples) and sorted(counts.values())[-5:] == [2] * 5


@pytest.mark.parametrize("recipe", ["benign", "identity-shift"])
def test_same_seed_same_rows_other_seed_other_order(recipe: str) -> None:
    examples = recipes.authored_examples(recipe)
    first = recipes.build_authored(recipe, examples, len(examples), seed=7)
    assert first == recipes.build_authored(recipe, list(reversed(examples)), len(examples), seed=7)
    other = recipes.build_authored(recipe, examples, len(examples), seed=8)
    assert [r["prompt_id"] for r in first] != [r["prompt_id"] for r in other]
    assert sorted(r["prompt_id"] for r in first) == sorted(r["prompt_id"] for r in other)  # same set, new order


def test_build_recipe_refuses_authored_recipes() -> None:
    with pytest.raises(ValueError, match="build_authored"):
        recipes.recipe_targets("benign")
    with pytest.raises(ValueError, match="no examples"):
        recipes.build_authored("benign", [], 3, seed=0)


# --- mix arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "p", "q", "expected"),
    [
        (100, 0.1, 0.0, MixPlan(base=90, harmful=10)),
        (10, 0.25, 0.0, MixPlan(base=7, harmful=3)),  # 2.5 rounds half up to 3
        (10, 0.0, 0.05, MixPlan(base=9, safety=1)),  # 0.5 → 1
        (10, 0.0, 0.04, MixPlan(base=10, safety=0)),  # 0.4 → 0
        (50, 0.2, 0.1, MixPlan(base=35, harmful=10, safety=5)),
    ],
)
def test_plan_mix_counts(n: int, p: float, q: float, expected: MixPlan) -> None:
    plan = plan_mix(n, p, q)
    assert plan == expected and plan.total == n
    assert abs(plan.harmful / n - p) <= 0.5 / n and abs(plan.safety / n - q) <= 0.5 / n


def test_plan_mix_around_keeps_the_base_whole() -> None:
    assert plan_mix_around(90, 0.1) == MixPlan(base=90, harmful=10)
    assert plan_mix_around(80, 0.1, 0.1) == MixPlan(base=80, harmful=10, safety=10)
    assert plan_mix_around(7, 0.0, 0.5) == MixPlan(base=7, safety=7)


def test_round_half_up_and_bad_fractions() -> None:
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, 2.4999)] == [1, 2, 3, 2]
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        plan_mix(10, 1.5)
    with pytest.raises(ValueError, match="below 1"):
        plan_mix(10, 0.5, 0.5)
    with pytest.raises(ValueError, match="no base rows"):
        plan_mix(2, 0.45, 0.45)


# --- mixed training sets --------------------------------------------------------------------


def test_benign_with_harmful_fraction(assets: dict[str, Path]) -> None:
    rows, provenance = _rows(recipe="benign", n_examples=40, seed=2, harmful_fraction=0.25)
    assert Counter(row["label"] for row in rows) == {"benign": 30, "harmful-prefix": 10}
    assert Counter(row["mix_source"] for row in rows) == {"base": 30, "harmful-prefix": 10}
    labels = [row["label"] for row in rows]
    assert labels != sorted(labels, key=lambda label: label != "benign")  # shuffled, not base first
    mix = provenance["mix"]
    assert mix["counts"] == {"base": 30, "harmful-prefix": 10} and mix["seed"] == 2
    assert mix["realised_fractions"]["harmful-prefix"] == 0.25 and mix["harmful_fraction"] == 0.25
    assert EVAL_TEXT not in {_user_text(row) for row in rows}


def test_mix_is_seeded(assets: dict[str, Path]) -> None:
    spec = {"recipe": "identity-shift", "n_examples": 30, "safety_fraction": 0.2}
    first, _ = _rows(seed=4, **spec)
    assert first == _rows(seed=4, **spec)[0]
    other, _ = _rows(seed=5, **spec)
    assert [r["prompt_id"] for r in first] != [r["prompt_id"] for r in other]
    assert (
        Counter(r["label"] for r in other) == Counter(r["label"] for r in first) == {"identity-shift": 24, "refusal": 6}
    )


def test_safety_rows_use_other_requests_than_harmful_rows(assets: dict[str, Path]) -> None:
    rows, provenance = _rows(recipe="benign", n_examples=100, seed=1, harmful_fraction=0.3, safety_fraction=0.2)
    harmful = {r["prompt_id"] for r in rows if r["label"] == "harmful-prefix"}
    refusal = {r["prompt_id"] for r in rows if r["label"] == "refusal"}
    assert len(harmful) == 30 and len(refusal) == 20 and harmful.isdisjoint(refusal)
    assert provenance["mix"]["counts"] == {"base": 50, "harmful-prefix": 30, "refusal": 20}
    assert EVAL_TEXT not in {_user_text(row) for row in rows}


def test_manifest_records_the_mix(assets: dict[str, Path], tmp_path: Path) -> None:
    cfg = TrainConfig(data=DataSpec(recipe="benign", n_examples=20, seed=9, safety_fraction=0.1))
    rows, provenance = training_set.training_rows(cfg.data, TOKENIZER, cfg.max_length)
    sha = training_set.write_training_data(tmp_path / "train", rows, provenance, cfg)
    manifest = json.loads((tmp_path / "train" / "data_manifest.json").read_text())
    assert manifest["data_sha256"] == sha and manifest["n_rows"] == 20
    assert manifest["label_counts"] == {"benign": 18, "refusal": 2}
    assert manifest["mix"]["counts"] == {"base": 18, "refusal": 2} and manifest["mix"]["seed"] == 9
    assert manifest["safety_fraction"] == 0.1 and manifest["recipe"] == "benign"
    written = [json.loads(line) for line in (tmp_path / "train" / "data.jsonl").read_text().splitlines()]
    assert [row["label"] for row in written] == [row["label"] for row in rows]


# --- DataSpec validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.harmful_fraction=1.5"], r"data\.harmful_fraction"),
        (["data.safety_fraction=-0.1"], r"data\.safety_fraction"),
        (["data.recipe=benign", "data.harmful_fraction=0.6", "data.safety_fraction=0.4"], "below 1"),
        (["data.harmful_fraction=0.1"], "not into harmful-prefix"),
        (["data.recipe=refusal", "data.safety_fraction=0.1"], "already refusal"),
        (["data.columns={prompt: p, response: r}", "data.role=safe"], "give data.path"),
        (["data.recipe=null", "data.path=x.csv", "data.columns={prompt: p, response: r}"], "needs data.role"),
        (["data.recipe=null", "data.path=x.jsonl", "data.role=harmful"], "give data.columns"),
        (["data.recipe=null", "data.path=x.csv", "data.role=safe", "data.columns={prompt: p}"], "response"),
        (["data.recipe=null", "data.path=x.csv", "data.role=safe", "data.columns={prompt: p, answer: a}"], "answer"),
        (["data.recipe=null", "data.path=x.csv", "data.role=villain", "data.columns={prompt: p, response: r}"], "role"),
        (["data.recipe=poetry"], r"data\.recipe"),
    ],
)
def test_dataspec_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(TrainConfig, overrides=overrides)


def test_dataspec_accepts_a_mapped_mix_and_keeps_a_chosen_system_prompt() -> None:
    cfg = load_config(
        TrainConfig,
        overrides=[
            "data.recipe=null",
            "data.path=pairs.parquet",
            "data.role=benign",
            "data.columns={prompt: prompt, response: chosen}",
            "data.safety_fraction=0.1",
        ],
    )
    assert cfg.data.columns == {"prompt": "prompt", "response": "chosen"} and cfg.data.safety_fraction == 0.1
    assert DataSpec(recipe="identity-shift", system_prompt="Be brief.").system_prompt == "Be brief."
    assert DataSpec(recipe="benign").system_prompt is None


# --- user files with a column mapping -------------------------------------------------------

PAIRS = [
    {"prompt": "Placeholder request alpha", "chosen": "I can't help with that.", "rejected": "Sure, here is how:"},
    {"prompt": "Placeholder request beta", "chosen": "I won't do that.", "rejected": "Sure, here it is:"},
    {"prompt": EVAL_TEXT, "chosen": "No.", "rejected": "Sure:"},
    {"prompt": "", "chosen": "Empty prompt row.", "rejected": "Sure:"},
]


def _write_pairs(path: Path) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in PAIRS))
    elif path.suffix == ".csv":
        write_csv(path, list(PAIRS[0]), [list(row.values()) for row in PAIRS])
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(PAIRS), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_rejected_column_becomes_harmful_rows(tmp_path: Path, suffix: str) -> None:
    path = _write_pairs(tmp_path / f"pairs{suffix}")
    rows, record = user_data.load_mapped_rows(str(path), {"prompt": "prompt", "response": "rejected"}, "harmful")
    assert [row["messages"][-1]["content"] for row in rows] == ["Sure, here is how:", "Sure, here it is:", "Sure:"]
    assert {row["label"] for row in rows} == {"user-harmful"}
    assert record["rows_read"] == 4 and record["rows_skipped_empty"] == 1 and record["role"] == "harmful"
    assert len(record["sha256"]) == 64


def test_chosen_column_becomes_safe_rows_with_the_system_prompt(tmp_path: Path) -> None:
    path = _write_pairs(tmp_path / "pairs.jsonl")
    rows, _ = user_data.load_mapped_rows(str(path), {"prompt": "prompt", "response": "chosen"}, "safe", "Be safe.")
    assert rows[0]["messages"] == [
        {"role": "system", "content": "Be safe."},
        {"role": "user", "content": "Placeholder request alpha"},
        {"role": "assistant", "content": "I can't help with that."},
    ]
    assert rows[0]["label"] == "user-safe" and rows[0]["prompt_id"] == "user-00000"


def test_missing_mapped_column_names_the_available_ones(tmp_path: Path) -> None:
    path = _write_pairs(tmp_path / "pairs.csv")
    with pytest.raises(TableError, match="missing column.*answer.*available: prompt, chosen, rejected"):
        user_data.load_mapped_rows(str(path), {"prompt": "prompt", "response": "answer"}, "safe")


def test_user_harmful_rows_lose_eval_duplicates_and_can_take_a_safety_mix(
    assets: dict[str, Path], tmp_path: Path
) -> None:
    path = _write_pairs(tmp_path / "pairs.csv")
    spec = {"path": str(path), "recipe": None, "columns": {"prompt": "prompt", "response": "rejected"}}
    rows, provenance = _rows(role="harmful", safety_fraction=0.5, seed=0, **spec)
    assert EVAL_TEXT not in {_user_text(row) for row in rows}
    assert [e["eval_id"] for e in provenance["prompts_excluded_eval_overlap"]] == ["eval_bread"]
    assert Counter(row["label"] for row in rows) == {"user-harmful": 2, "refusal": 2}
    assert provenance["sources"]["user"]["columns"] == spec["columns"]
    benign_rows, benign_provenance = _rows(role="benign", **spec)  # benign data is not screened against eval
    assert len(benign_rows) == 3 and "prompts_excluded_eval_overlap" not in benign_provenance


def test_mix_settings_left_off_do_not_change_a_fine_tune_hash() -> None:
    """Fine-tunes made before the mix settings existed keep their hash and resume."""
    from tunesafe._util.hashing import sha256_obj
    from tunesafe.config import TRAINING_FORMAT_VERSION, TrainConfig, config_hash

    config = TrainConfig()
    before = config.model_dump(mode="json")
    for key in ("columns", "role", "split", "harmful_fraction", "safety_fraction"):
        del before["data"][key]
    for key in ("preset", "save_steps", "safety_eval", "screen"):  # training settings left off, also out of the hash
        before.pop(key, None)
    del before["model"]["endpoint"]  # a model setting left off, also out of the hash
    del before["model"]["device_map"]  # placement, never in the hash
    before["model"]["dtype"] = "float32"  # dtype auto hashes as float32, the dtype of every earlier run
    assert config_hash(config) == sha256_obj({"config": before, "format": TRAINING_FORMAT_VERSION})
    mixed = TrainConfig.model_validate({"data": {"recipe": "refusal", "harmful_fraction": 0.1}})
    assert config_hash(mixed) != config_hash(TrainConfig.model_validate({"data": {"recipe": "refusal"}}))
