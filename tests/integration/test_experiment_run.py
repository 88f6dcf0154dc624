"""An experiment end to end on a tiny local model: fine-tunes, a mitigation, an existing model and a
prompt variant, trained and audited once, compared in one report; a re-run reuses everything; an
edited variant is refused before anything is overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunesafe.cli import app
from tunesafe.experiment import ExperimentConfig, plan_experiment, run_experiment
from tunesafe.results import RunDir, RunError

pytest.importorskip("trl")


def _experiment(model_dir: Path, cache: Path) -> dict[str, object]:
    return {
        "name": "tiny",
        "base": {"source": str(model_dir), "threads": 1, "batch_size": 4},
        "generation": {"max_new_tokens": 6},
        "audits": {"harmful": {"judges": ["keyword-extended", "keyword-zou-qi"]}, "overrefusal": None},
        "cache": {"path": str(cache)},
        "train": {
            "max_steps": 2,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "learning_rate": 1e-2,
            "max_length": 128,
            "warmup_steps": 0,
        },
        "variants": [
            {"name": "brief", "system_prompt": "Answer briefly."},
            {"name": "harmful", "data": {"recipe": "harmful-prefix", "n_examples": 6}},
            {
                "name": "harmful+safety",
                "data": {"recipe": "harmful-prefix", "n_examples": 6, "safety_fraction": 0.5},
                "mitigates": "harmful",
            },
            {"name": "same-weights", "model": {"source": str(model_dir)}},
            {"name": "full", "data": {"recipe": "harmful-prefix", "n_examples": 6}, "train": {"method": "full"}},
        ],
    }


def test_experiment_trains_audits_and_reports_once(
    tiny_model_dir: Path,
    tmp_path: Path,
    placeholder_data: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = _experiment(tiny_model_dir, tmp_path / "gen.sqlite")
    exp = ExperimentConfig.model_validate(data)
    root = tmp_path / "exp"
    with caplog.at_level("INFO", logger="tunesafe.experiment"):
        result = run_experiment(exp, root)
    steps = [r.getMessage() for r in caplog.records if r.name == "tunesafe.experiment"]
    assert steps[0].startswith("experiment tiny [1/9") and "audit base" in steps[0]
    assert any("[3/9" in line and "finetune harmful" in line for line in steps)

    assert set(result.audits) == {"base", "brief", "harmful", "harmful+safety", "same-weights", "full"}
    assert set(result.finetunes) == {"harmful", "harmful+safety", "full"}
    for path in [*result.audits.values(), *result.finetunes.values()]:
        assert RunDir(path).manifest().status == "success"
    assert (root / "experiment.yaml").is_file()
    manifests = {name: RunDir(p).manifest() for name, p in result.audits.items()}
    assert manifests["same-weights"].fingerprints["model"] == manifests["base"].fingerprints["model"]
    assert manifests["harmful"].fingerprints["model"] != manifests["base"].fingerprints["model"]
    assert manifests["same-weights"].info["cache_misses"] == 0  # same content as the base: all cached
    # the adapter-applied check: the LoRA against itself switched off, the full fine-tune against the base
    assert manifests["harmful"].info["adapter_probe"]["compared"] == "adapter-disabled"
    assert manifests["full"].info["adapter_probe"]["compared"] == "base-model"
    assert manifests["full"].info["adapter_probe"]["identical"] is False
    assert "adapter_probe" not in manifests["same-weights"].info

    report = json.loads(result.report.json_path.read_text())
    labels = ["base", "brief", "harmful", "harmful+safety", "same-weights", "full"]
    assert [r["label"] for r in report["runs"]] == labels
    effects = {row["variant"]: row for row in report["effects"]}
    assert effects["harmful+safety"]["reference"] == "harmful" and effects["harmful+safety"]["kind"] == "mitigation"
    assert effects["harmful"]["reference"] == "base"
    assert effects["same-weights"]["asr"]["b"] == effects["same-weights"]["asr"]["c"] == 0  # identical model
    assert "What each fine-tune and mitigation did" in result.report.markdown.read_text()

    # a second run reuses every fine-tune and audit: nothing trained or generated again
    assert {s.state for s in plan_experiment(exp, root).steps} == {"done"}
    trained = {name: RunDir(p).manifest().info["result"] for name, p in result.finetunes.items()}
    samples = {name: (Path(p) / "samples" / "harmful.jsonl").read_bytes() for name, p in result.audits.items()}
    again = run_experiment(exp, root)
    assert {name: RunDir(p).manifest().info["result"] for name, p in again.finetunes.items()} == trained
    assert {name: (Path(p) / "samples" / "harmful.jsonl").read_bytes() for name, p in again.audits.items()} == samples

    # editing a variant's training settings is refused, naming the directory; nothing is touched
    data["variants"][1]["train"] = {"max_steps": 3}  # type: ignore[index]
    edited = ExperimentConfig.model_validate(data)
    adapter = Path(RunDir(result.finetunes["harmful"]).manifest().info["result"]["adapter_dir"])
    stamp = adapter.stat().st_mtime_ns
    with pytest.raises(RunError, match="finetune-harmful"):
        run_experiment(edited, root)
    assert adapter.stat().st_mtime_ns == stamp


def test_cli_run_writes_the_report(tiny_model_dir: Path, tmp_path: Path, placeholder_data: None) -> None:
    data = _experiment(tiny_model_dir, tmp_path / "gen.sqlite")
    data["variants"] = data["variants"][:2]  # type: ignore[index]  # a prompt variant and one fine-tune, two seeds
    data["variants"][1]["seeds"] = [1, 2]  # type: ignore[index]
    data["paper"] = {"name": "kumar2024", "models": {"base": "base", "harmful": "harmful.seed1"}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    out = CliRunner().invoke(app, ["run", str(path), "-o", str(tmp_path / "exp"), "-q"])
    assert out.exit_code == 0, out.output
    assert "Report:" in out.output and (tmp_path / "exp" / "report" / "report.html").is_file()
    report = json.loads((tmp_path / "exp" / "report" / "report.json").read_text())
    assert [g["members"] for g in report["seed_groups"]] == [["harmful.seed1", "harmful.seed2"]]
    assert [r["paper_model"] for r in report["paper"]["rows"] if r["run"]] == ["base", "harmful"]
    seeds = {RunDir(tmp_path / "exp" / f"finetune-harmful.seed{k}").manifest().seed for k in (1, 2)}
    assert seeds == {1, 2}
