"""Experiment files: validation (without touching a model), training-setting merges, effects and the plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesafe.cli import app
from tunesafe.config import ConfigError, load_config
from tunesafe.data import identity_shift_system_prompt
from tunesafe.experiment import (
    ExperimentConfig,
    effects,
    load_experiment,
    plan_experiment,
    recipe_prompt,
    train_config,
)
from tunesafe.results import RunDir

EXAMPLE = Path(__file__).parents[2] / "examples" / "experiments" / "tiers-cpu.yaml"


def _experiment(**extra: object) -> ExperimentConfig:
    data = {
        "name": "exp",
        "base": {"source": "smollm2-135m-instruct"},
        "train": {"learning_rate": 1e-3, "max_steps": 4, "lora": {"r": 8, "alpha": 16}},
        "variants": [
            {"name": "persona", "system_prompt": "recipe:identity-shift"},
            {"name": "aoa", "data": {"recipe": "identity-shift", "n_examples": 20}, "compare_to": "persona"},
            {
                "name": "aoa+safety",
                "data": {"recipe": "identity-shift", "n_examples": 20, "safety_fraction": 0.25},
                "train": {"max_steps": 6, "lora": {"r": 4}},
                "mitigates": "aoa",
            },
            {"name": "benign", "data": {"recipe": "benign", "n_examples": 20}},
            {"name": "ckpt", "model": {"adapter": "/somewhere/adapter"}},
        ],
        **extra,
    }
    return ExperimentConfig.model_validate(data)


def test_train_settings_merge_experiment_then_variant_nested_key_by_key() -> None:
    exp = _experiment()
    aoa, mitigated = exp.variants[1], exp.variants[2]
    first = train_config(exp, aoa)
    assert (first.name, first.learning_rate, first.max_steps, first.lora.r, first.lora.alpha) == (
        "aoa",
        1e-3,
        4,
        8,
        16,
    )
    assert first.model.source == "smollm2-135m-instruct"
    second = train_config(exp, mitigated)
    assert (second.max_steps, second.lora.r, second.lora.alpha) == (6, 4, 16)  # variant wins, alpha inherited
    assert second.data.safety_fraction == 0.25
    assert second.data.system_prompt == identity_shift_system_prompt()


def test_screen_true_becomes_a_default_screen_spec() -> None:
    exp = ExperimentConfig.model_validate(
        {"variants": [{"name": "s", "data": {"recipe": "benign", "harmful_fraction": 0.2}, "screen": True}]}
    )
    cfg = train_config(exp, exp.variants[0])
    assert cfg.screen is not None and set(cfg.screen.drop) == {
        "harmful_request",
        "harmful_compliance",
        "identity_shift",
        "contamination",
    }


def test_effects_pair_each_variant_with_its_reference() -> None:
    rows = {e["variant"]: e for e in effects(_experiment())}
    assert rows["aoa"]["reference"] == "persona" and rows["aoa"]["kind"] == "fine-tune"
    assert rows["aoa+safety"] == {
        "variant": "aoa+safety",
        "reference": "aoa",
        "kind": "mitigation",
        "note": "safety mix 25%",
    }
    assert rows["benign"]["reference"] == "base" and rows["ckpt"]["reference"] == "base"
    assert rows["persona"]["reference"] == "base" and rows["persona"]["kind"] == "prompt"


def test_plan_lists_every_step_and_its_state(tmp_path: Path) -> None:
    plan = plan_experiment(_experiment(), tmp_path)
    kinds = [(s.kind, s.variant) for s in plan.steps]
    assert kinds == [
        ("audit", "base"),
        ("audit", "persona"),
        ("finetune", "aoa"),
        ("audit", "aoa"),
        ("finetune", "aoa+safety"),
        ("audit", "aoa+safety"),
        ("finetune", "benign"),
        ("audit", "benign"),
        ("audit", "ckpt"),
    ]
    assert {s.state for s in plan.steps} == {"new"}
    assert plan.steps[4].path == tmp_path / "finetune-aoa+safety"
    assert "safety 25%" in plan.steps[4].detail and "LoRA r4" in plan.steps[4].detail
    assert "adapter /somewhere/adapter" in plan.steps[-1].detail
    text = "\n".join(plan.lines())
    assert "aoa+safety" in text and "vs aoa (safety mix 25%)" in text


def test_plan_marks_a_finetune_made_with_other_settings_as_a_conflict(tmp_path: Path) -> None:
    from tunesafe.config import config_hash, dump_config

    exp = _experiment()
    other = train_config(exp, exp.variants[3]).model_copy(update={"max_steps": 99})
    RunDir.create_or_resume(
        tmp_path / "finetune-benign",
        kind="finetune",
        name="benign",
        config_yaml=dump_config(other),
        config_hash=config_hash(other),
        seed=0,
    )
    states = {(s.kind, s.variant): s.state for s in plan_experiment(exp, tmp_path).steps}
    assert states[("finetune", "benign")] == "conflict"
    assert states[("finetune", "aoa")] == "new"


@pytest.mark.parametrize(
    ("variants", "train", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], {}, "variant names repeat: a"),
        ([{"name": "base"}], {}, "'base' is the experiment's base model"),
        ([{"name": "a b"}], {}, "use letters, digits"),
        ([{"name": "a", "mitigates": "nope"}], {}, "mitigates 'nope' is not a variant"),
        ([{"name": "a", "compare_to": "a"}], {}, "compare_to names itself"),
        ([{"name": "a", "data": {"recipe": "benign"}, "model": {"adapter": "x"}}], {}, "not both"),
        ([{"name": "a", "screen": True}], {}, "train, screen and seeds apply to fine-tunes"),
        ([{"name": "a", "data": {"recipe": "benign"}, "train": {"lerning_rate": 1}}], {}, "variant 'a': invalid"),
        ([{"name": "a", "data": {"recipe": "benign"}}], {"data": {}}, "train.data is set per variant"),
        ([{"name": "a", "system_prompt": "recipe:benign"}], {}, "only recipe:identity-shift"),
    ],
)
def test_invalid_experiments_are_refused_with_the_reason(
    variants: list[dict[str, object]], train: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.model_validate({"variants": variants, "train": train})


def test_recipe_prompt() -> None:
    assert recipe_prompt("recipe:identity-shift") == identity_shift_system_prompt()


def test_bundled_example_validates_and_plans_without_a_model(tmp_path: Path) -> None:
    exp = load_experiment(EXAMPLE)
    names = [v.name for v in exp.variants]
    assert {"identity-shift", "benign", "benign+harmful20-screened", "identity-shift+safety30"} <= set(names)
    kinds = {e["variant"]: e["kind"] for e in effects(exp)}
    assert kinds["benign+harmful20-screened"] == "mitigation" and kinds["identity-shift+safety30"] == "mitigation"
    assert len(plan_experiment(exp, tmp_path).steps) == 1 + len(names) + sum(v.data is not None for v in exp.variants)


def test_cli_validate_and_dry_run(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(EXAMPLE), "-o", str(tmp_path / "x")])
    assert ok.exit_code == 0, ok.output
    assert "valid (7 models)" in ok.output and "finetune identity-shift" in ok.output
    dry = runner.invoke(app, ["run", str(EXAMPLE), "--dry-run", "-o", str(tmp_path / "x")])
    assert dry.exit_code == 0 and "audit    base" in dry.output
    assert not (tmp_path / "x").exists()  # nothing written by a dry run
    bad = tmp_path / "bad.yaml"
    bad.write_text("variants:\n  - {name: a, mitigates: b}\n")
    out = runner.invoke(app, ["validate", str(bad)])
    assert out.exit_code == 2 and "mitigates 'b' is not a variant" in out.output
    override = runner.invoke(app, ["validate", str(EXAMPLE), "--set", "train.learning_rate=0"])
    assert override.exit_code == 2 and "learning_rate" in override.output


def test_load_config_names_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("variants:\n  - {name: a, dta: {recipe: benign}}\n")
    with pytest.raises(ConfigError, match=r"variants\.0\.dta: unknown key"):
        load_config(ExperimentConfig, path)


def _seeded(**reference: object) -> dict[str, object]:
    return {
        "variants": [
            {"name": "h", "data": {"recipe": "harmful-prefix"}, "seeds": [1, 2], **reference},
            {"name": "h+safety", "data": {"recipe": "harmful-prefix", "safety_fraction": 0.5}, "seeds": [1, 2]},
        ]
    }


def test_seeds_expand_into_replicates_paired_seed_by_seed() -> None:
    data = _seeded()
    data["variants"][1]["mitigates"] = "h"  # type: ignore[index]
    exp = ExperimentConfig.model_validate(data)
    assert [r.label for r in exp.models()] == ["h.seed1", "h.seed2", "h+safety.seed1", "h+safety.seed2"]
    assert exp.groups() == {"h": ["h.seed1", "h.seed2"], "h+safety": ["h+safety.seed1", "h+safety.seed2"]}
    cfg = train_config(exp, exp.variants[0], 2)
    assert (cfg.name, cfg.seed) == ("h.seed2", 2)
    pairs = {(e["variant"], e["reference"]) for e in effects(exp)}
    assert pairs == {
        ("h.seed1", "base"),
        ("h.seed2", "base"),
        ("h+safety.seed1", "h.seed1"),
        ("h+safety.seed2", "h.seed2"),
    }
    steps = [(s.kind, s.path.name) for s in plan_experiment(exp, Path("x")).steps]
    assert ("finetune", "finetune-h.seed1") in steps and ("audit", "audit-h+safety.seed2") in steps


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"variants": [{"name": "p", "seeds": [1]}]}, "seeds apply to fine-tunes"),
        ({"variants": [{"name": "h", "data": {"recipe": "benign"}, "seeds": [1, 1]}]}, "seeds must be distinct"),
        (
            {
                "variants": [
                    {"name": "h", "data": {"recipe": "benign"}, "seeds": [1, 2]},
                    {"name": "m", "data": {"recipe": "benign", "safety_fraction": 0.1}, "mitigates": "h"},
                ]
            },
            "give it the same seeds",
        ),
        (
            {
                "variants": [
                    {"name": "h", "data": {"recipe": "benign"}, "seeds": [1]},
                    {"name": "h.seed1", "data": {"recipe": "benign"}},
                ]
            },
            "clash once seeds are expanded: h.seed1",
        ),
    ],
)
def test_seed_settings_are_checked(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.model_validate(data)


def test_paper_view_maps_the_papers_models_to_this_experiments() -> None:
    exp = _experiment(paper={"name": "kumar2024", "models": {"base": "base", "harmful": "aoa"}})
    assert exp.paper is not None and exp.paper.models["harmful"] == "aoa"
    with pytest.raises(ValueError, match="paper.models names nope"):
        _experiment(paper={"name": "kumar2024", "models": {"harmful": "nope"}})
    with pytest.raises(ValueError, match="kumar2024 has no model 'tier9'"):
        _experiment(paper={"name": "kumar2024", "models": {"tier9": "aoa"}})
