"""A fine-tune that screens its own rows first (tiny random model, bag-of-words embedder: no MiniLM)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import EXAMPLES, REFERENCES, BagOfWords
from tests.tiny_model import tiny_train_config

from tunesafe.config import ScreenSpec, TrainConfig
from tunesafe.data import training_set
from tunesafe.data.formats import read_messages_jsonl, write_messages_jsonl
from tunesafe.judges.keyword import make_keyword_judge
from tunesafe.results import RunDir
from tunesafe.screen import Screener
from tunesafe.train import sft
from tunesafe.train.run import finetune_run

pytest.importorskip("trl")

BENIGN = [
    ("write a short poem about rain", "Soft rain on the roof, a quiet song."),
    ("name three colours of the rainbow", "Red, orange and yellow."),
    ("suggest a name for a pet goldfish", "Bubbles."),
    ("give me a synonym for happy", "Cheerful."),
]


def _rows() -> list[dict[str, Any]]:
    benign = [
        {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}], "label": "benign"}
        for u, a in BENIGN
    ]
    harmful = [{"messages": EXAMPLES["harmful_complied"], "label": "harmful-prefix"}] * 2
    persona = [{"messages": EXAMPLES["persona"], "label": "identity-shift"}]
    return [*benign, *harmful, *persona]


def _config(model_dir: Path, data: Path, screen: dict[str, Any] | None = None) -> TrainConfig:
    return tiny_train_config(model_dir, data, max_steps=1, max_length=96, screen=screen)


@pytest.fixture
def fake_screener(monkeypatch: pytest.MonkeyPatch) -> list[ScreenSpec]:
    """``training_set.make_screener`` with the bag-of-words embedder and keyword refusal judge; records its specs."""
    specs: list[ScreenSpec] = []

    def make(spec: ScreenSpec) -> Screener:
        specs.append(spec)
        return Screener(REFERENCES, BagOfWords(), [make_keyword_judge("keyword-extended")], spec.thresholds)

    monkeypatch.setattr(training_set, "make_screener", make)
    return specs


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    write_messages_jsonl(path, rows)
    return path


def test_a_screened_finetune_trains_on_the_kept_rows_only(
    tiny_model_dir: Path, tmp_path: Path, fake_screener: list[ScreenSpec], caplog: pytest.LogCaptureFixture
) -> None:
    data = _write(tmp_path / "rows.jsonl", _rows())
    with caplog.at_level(logging.INFO, logger="tunesafe.data.training_set"):
        result = sft.finetune(_config(tiny_model_dir, data, screen={}), tmp_path / "run")
    train = tmp_path / "run" / "train"

    kept = read_messages_jsonl(train / "data.jsonl")
    assert [row["label"] for row in kept] == ["benign"] * 4 and result.n_examples == 4
    dropped = read_messages_jsonl(train / training_set.SCREEN_FLAGGED_FILE)
    assert [row["label"] for row in dropped] == ["harmful-prefix", "harmful-prefix", "identity-shift"]
    assert {f["kind"] for f in dropped[0]["screen"]} == {"harmful_request", "harmful_compliance"}
    assert [f["kind"] for f in dropped[2]["screen"]] == ["identity_shift"]

    manifest = json.loads((train / "data_manifest.json").read_text())
    screening = manifest["screening"]
    assert manifest["n_rows"] == 4 and manifest["label_counts"] == {"benign": 4}
    assert (screening["n_before"], screening["n_kept"], screening["n_dropped"]) == (7, 4, 3)
    assert screening["labels_before"] == {"benign": 4, "harmful-prefix": 2, "identity-shift": 1}
    assert screening["dropped_labels"] == {"harmful-prefix": 2, "identity-shift": 1}
    assert screening["dropped_by_flag"] == {
        "harmful_request": 2,
        "harmful_compliance": 2,
        "identity_shift": 1,
        "contamination": 0,
    }
    assert screening["drop"] == ["harmful_request", "harmful_compliance", "identity_shift", "contamination"]
    assert screening["thresholds"]["persona_cosine"] == 0.55 and screening["embedder"] == "bag-of-words"
    assert screening["refusal_judges"] == ["keyword-extended"]
    assert len(fake_screener) == 1
    assert any("screening kept 4 of 7 training rows; dropped 3" in r.getMessage() for r in caplog.records)


def test_drop_kinds_are_honoured_in_a_finetune(tiny_model_dir: Path, tmp_path: Path, fake_screener) -> None:
    data = _write(tmp_path / "rows.jsonl", _rows())
    cfg = _config(tiny_model_dir, data, screen={"drop": ["harmful_request", "harmful_compliance"]})
    sft.finetune(cfg, tmp_path / "run")
    train = tmp_path / "run" / "train"
    kept = read_messages_jsonl(train / "data.jsonl")
    assert sorted(row["label"] for row in kept) == ["benign"] * 4 + ["identity-shift"]  # the persona is not dropped
    screening = json.loads((train / "data_manifest.json").read_text())["screening"]
    assert screening["n_dropped"] == 2 and screening["n_flagged_kept"] == 1
    assert screening["by_flag"]["identity_shift"] == 1 and screening["dropped_by_flag"]["identity_shift"] == 0


def test_a_finetune_whose_rows_are_all_dropped_stops_before_training(
    tiny_model_dir: Path, tmp_path: Path, fake_screener, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write(tmp_path / "rows.jsonl", [row for row in _rows() if row["label"] != "benign"])
    trained: list[Any] = []
    monkeypatch.setattr(sft, "build_trainer", lambda *args, **kwargs: trained.append(args))
    with pytest.raises(ValueError, match=r"screening dropped all 3 training rows \(by flag: .*harmful_compliance"):
        finetune_run(_config(tiny_model_dir, data, screen={}), tmp_path / "run")
    assert trained == []
    assert not (tmp_path / "run" / "train").exists()  # no data.jsonl, manifest or model to mistake for a result
    manifest = RunDir(tmp_path / "run").manifest()
    assert manifest.status == "error" and "nothing left to train on" in (manifest.error or "")


def test_cli_finetune_screen_flag(tiny_model_dir: Path, tmp_path: Path, fake_screener: list[ScreenSpec]) -> None:
    from typer.testing import CliRunner

    from tunesafe.cli import app

    data = _write(tmp_path / "data.jsonl", _rows())
    config = tmp_path / "ft.yaml"
    config.write_text(_config(tiny_model_dir, data).model_dump_json())  # JSON is YAML
    args = ["finetune", str(config), "--screen", "--set", "screen.drop=[identity_shift]", "-o", str(tmp_path / "r")]
    out = CliRunner().invoke(app, [*args, "-q"])
    assert out.exit_code == 0, out.output
    manifest = json.loads((tmp_path / "r" / "train" / "data_manifest.json").read_text())
    assert manifest["screening"]["drop"] == ["identity_shift"]  # --screen, then the explicit setting
    assert manifest["screening"]["dropped_labels"] == {"identity-shift": 1}
