"""The audit / finetune / rejudge flags as library functions (tunesafe.config.options)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesafe.config import ConfigError
from tunesafe.config.options import audit_config, calibration_choice, judge_spec, judge_specs, train_config


def test_judge_specs_need_one_and_name_the_bad_one() -> None:
    assert [s.display_name for s in judge_specs(["keyword-extended", "qi-rubric@m"])] == [
        "keyword-extended",
        "qi-rubric@m",
    ]
    with pytest.raises(ConfigError, match=r"^give at least one --judge$"):
        judge_specs([])
    with pytest.raises(ConfigError, match=r"^--judge nonsense: "):
        judge_spec("nonsense")


def test_a_file_of_ones_own_wins_over_the_bundled_labelled_set(tmp_path: Path) -> None:
    assert calibration_choice(False, None) is None
    assert calibration_choice(True, None).bundled  # type: ignore[union-attr]
    own = calibration_choice(True, tmp_path / "labels.csv")
    assert own is not None and own.path == str(tmp_path / "labels.csv") and not own.bundled


def test_audit_flags_become_the_config() -> None:
    config = audit_config(
        None,
        ["generation.max_new_tokens=8"],
        model="smollm2-135m-instruct",
        limit=12,
        judges=["keyword-zou-qi"],
        overrefusal=False,
        calibrate=True,
        name="mine",
        cache=False,
        switch_on=["drift"],
    )
    assert config.model.source == "smollm2-135m-instruct" and config.name == "mine"
    assert config.generation.max_new_tokens == 8 and config.cache.mode == "off"
    harmful = config.audits.harmful
    assert harmful is not None and harmful.limit == 12 and [j.kind for j in harmful.judges] == ["keyword-zou-qi"]
    assert harmful.calibration is not None and harmful.calibration.bundled
    assert config.audits.overrefusal is None and config.audits.drift is not None and config.audits.truthfulness is None


def test_switching_on_keeps_an_audit_the_config_already_sets() -> None:
    config = audit_config(None, ["audits.drift={limit: 7}"], switch_on=["drift", "truthfulness"])
    assert config.audits.drift is not None and config.audits.drift.limit == 7
    assert config.audits.truthfulness is not None


def test_finetune_flags_screen_first_so_explicit_screen_settings_apply() -> None:
    config = train_config(None, ["screen.drop=[harmful_compliance]"], recipe="refusal", screen=True)
    assert config.data.recipe == "refusal"
    assert config.screen is not None and config.screen.drop == ["harmful_compliance"]
    user = train_config(None, data="rows.jsonl", model="m")
    assert user.data.path == "rows.jsonl" and user.data.recipe is None and user.model.source == "m"
