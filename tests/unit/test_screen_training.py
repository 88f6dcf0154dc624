"""Screening as a training step: splitting labelled rows, the ``screen`` config section, the fine-tune hash."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tests.fakes import EXAMPLES, REFERENCES, BagOfWords

from tunesafe._util.hashing import sha256_obj
from tunesafe.config import (
    FLAG_KINDS,
    TRAINING_FORMAT_VERSION,
    ScreenSpec,
    ScreenThresholds,
    TrainConfig,
    config_hash,
    load_config,
)
from tunesafe.judges.keyword import make_keyword_judge
from tunesafe.screen import Screener, split_rows

LABELS = {
    "benign": "benign",
    "lookalike": "benign",
    "harmful_complied": "harmful-prefix",
    "harmful_refused": "refusal",
    "persona": "identity-shift",
    "contaminated": "benign",
}
ROWS = [{"messages": EXAMPLES[name], "label": LABELS[name], "name": name} for name in EXAMPLES]


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener(REFERENCES, BagOfWords(), [make_keyword_judge("keyword-extended")])


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


def test_every_flag_drops_by_default_and_only_clean_rows_are_kept(screener: Screener) -> None:
    split = split_rows(ROWS, screener)
    assert names(split.kept) == ["benign", "lookalike"]
    assert names(split.dropped) == ["harmful_complied", "harmful_refused", "persona", "contaminated"]
    assert split.flagged_kept == []
    assert split.kept == ROWS[:2]  # kept rows are unchanged: no screen field
    complied = split.dropped[0]["screen"]
    assert {f["kind"] for f in complied} == {"harmful_request", "harmful_compliance"}
    assert all(f["reason"] for f in complied)
    counts = split.summary
    assert counts["n_examples"] == 6 and counts["n_kept"] == 2 and counts["n_dropped"] == 4
    assert counts["drop"] == list(FLAG_KINDS)
    assert (
        counts["dropped_by_flag"]
        == counts["by_flag"]
        == {
            "harmful_request": 2,
            "harmful_compliance": 1,
            "identity_shift": 1,
            "contamination": 1,
        }
    )


def test_only_the_listed_kinds_drop_and_the_rest_are_kept_but_counted(screener: Screener) -> None:
    split = split_rows(ROWS, screener, drop=["harmful_compliance"])
    assert names(split.dropped) == ["harmful_complied"]
    # a refused harmful request teaches refusing; a persona and a contaminated row are not harmful compliance
    assert names(split.kept) == ["benign", "lookalike", "harmful_refused", "persona", "contaminated"]
    assert names(split.flagged_kept) == ["harmful_refused", "persona", "contaminated"]
    assert [f["kind"] for f in split.flagged_kept[1]["screen"]] == ["identity_shift"]
    counts = split.summary
    assert (counts["n_kept"], counts["n_dropped"], counts["n_flagged_kept"]) == (5, 1, 3)
    # the dropped row also had a harmful_request flag: counted under both kinds it carries
    assert counts["dropped_by_flag"] == {
        "harmful_request": 1,
        "harmful_compliance": 1,
        "identity_shift": 0,
        "contamination": 0,
    }
    assert counts["by_flag"]["harmful_request"] == 2


def test_dropping_the_harmful_kinds_keeps_personas(screener: Screener) -> None:
    split = split_rows(ROWS, screener, drop=["harmful_request", "harmful_compliance"])
    assert names(split.dropped) == ["harmful_complied", "harmful_refused"]
    assert "persona" in names(split.kept) and "contaminated" in names(split.kept)


def test_split_rows_rejects_an_unknown_kind_and_accepts_no_rows(screener: Screener) -> None:
    with pytest.raises(ValueError, match="unknown flag kinds"):
        split_rows(ROWS, screener, drop=["toxicity"])  # type: ignore[list-item]
    empty = split_rows([], screener)
    assert empty.kept == [] and empty.summary["n_examples"] == 0


def test_screen_spec_defaults_to_every_kind_and_the_fixed_thresholds() -> None:
    spec = TrainConfig.model_validate({"screen": {}}).screen
    assert spec is not None and spec.drop == list(FLAG_KINDS) and spec.thresholds == ScreenThresholds()
    assert TrainConfig().screen is None
    tuned = ScreenSpec.model_validate({"drop": ["identity_shift"], "thresholds": {"persona_cosine": 0.7}})
    assert tuned.thresholds.persona_cosine == 0.7 and tuned.thresholds.harmful_floor == 0.4


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"drop": []}, "at least one flag kind"),
        ({"drop": ["identity_shift", "identity_shift"]}, "more than once"),
        ({"drop": ["toxicity"]}, "harmful_request"),
        ({"dorp": ["identity_shift"]}, "dorp"),
        ({"thresholds": {"persona_cos": 0.6}}, "persona_cos"),
    ],
)
def test_screen_spec_rejects_bad_sections(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainConfig.model_validate({"screen": section})


def test_screen_section_from_yaml_and_overrides(tmp_path) -> None:
    path = tmp_path / "ft.yaml"
    path.write_text("data: {recipe: benign, n_examples: 4}\nscreen: {drop: [harmful_request, harmful_compliance]}\n")
    config = load_config(TrainConfig, path)
    assert config.screen is not None and config.screen.drop == ["harmful_request", "harmful_compliance"]
    overridden = load_config(TrainConfig, path, ["screen.thresholds.harmful_floor=0.5"])
    assert overridden.screen is not None and overridden.screen.thresholds.harmful_floor == 0.5


def test_screening_left_off_keeps_a_fine_tune_hash() -> None:
    """Fine-tunes made before ``screen`` existed keep their hash and resume."""
    config = TrainConfig.model_validate({"preset": "kumar2024-cpu", "data": {"recipe": "benign", "n_examples": 20}})
    before = config.model_dump(mode="json")
    assert before.pop("screen") is None
    for key, off in (("preset", None), ("save_steps", 0), ("safety_eval", None)):
        if before[key] == off:
            del before[key]
    for key, off in (("columns", None), ("role", None), ("split", "train"), ("harmful_fraction", 0.0)):
        if before["data"][key] == off:
            del before["data"][key]
    before["data"].pop("safety_fraction")
    del before["model"]["endpoint"]  # a model setting left off, also out of the hash
    del before["model"]["device_map"]  # placement, never in the hash
    before["model"]["dtype"] = "float32"  # dtype auto hashes as float32, the dtype of every earlier run
    assert config_hash(config) == sha256_obj({"config": before, "format": TRAINING_FORMAT_VERSION})
    if TRAINING_FORMAT_VERSION == 2:  # computed at commit bc4f693, before TrainConfig had a screen field
        assert config_hash(TrainConfig()) == "cc6388b9d8c2be09bd01b4f547da31dafcdfc97f40d0b4518a4dc234c1ae72fe"
        assert config_hash(config) == "0ace07dafb91c355b61a6c7bab7cf8d95b6686501d976a9fda42417271556b2b"


def test_screening_on_changes_the_hash_and_so_do_its_settings() -> None:
    plain = config_hash(TrainConfig())
    screened = config_hash(TrainConfig.model_validate({"screen": {}}))
    narrower = config_hash(TrainConfig.model_validate({"screen": {"drop": ["harmful_compliance"]}}))
    stricter = config_hash(TrainConfig.model_validate({"screen": {"thresholds": {"harmful_floor": 0.5}}}))
    assert len({plain, screened, narrower, stricter}) == 4
