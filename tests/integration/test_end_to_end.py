"""finetune → audit → compare on a tiny locally built model, through the library and the CLI.

Tiny-model text is noise, so this asserts on files, schemas, statuses and fingerprints; text
content is tested with the scripted backend elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesafe.cli import app
from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, DataSpec, HarmfulAuditSpec, ModelSpec, TrainConfig
from tunesafe.report import write_report
from tunesafe.results import RunDir
from tunesafe.runner import run_audit
from tunesafe.train.run import finetune_run, tuned_model_spec
from tunesafe.types import GenParams

pytest.importorskip("trl")


def _audit_config(name: str, model: ModelSpec, cache: Path) -> AuditConfig:
    return AuditConfig(
        name=name,
        model=model.model_copy(update={"batch_size": 4, "threads": 1}),
        generation=GenParams(max_new_tokens=8),
        audits=AuditsSpec(harmful=HarmfulAuditSpec(), overrefusal=None),
        cache=CacheSpec(path=str(cache)),
    )


def test_finetune_audit_compare(tiny_model_dir: Path, tmp_path: Path, placeholder_data: None) -> None:
    base_model = ModelSpec(source=str(tiny_model_dir), threads=1)
    cache = tmp_path / "gen.sqlite"
    base = run_audit(_audit_config("base", base_model, cache), tmp_path / "audit-base")

    train = TrainConfig(
        name="harmful-prefix",
        model=base_model,
        data=DataSpec(recipe="harmful-prefix", n_examples=8),
        max_steps=3,
        per_device_batch_size=2,
        gradient_accumulation_steps=1,
        learning_rate=1e-2,
        max_length=128,
        warmup_steps=0,
    )
    tuned_run = finetune_run(train, tmp_path / "ft")
    manifest = tuned_run.manifest()
    assert manifest.status == "success" and manifest.info["result"]["steps"] == 3
    assert (tuned_run.train_dir / "data_manifest.json").is_file()
    assert (tuned_run.train_dir / "trainer_state.json").is_file()
    spec = tuned_model_spec(tuned_run)
    assert spec.adapter is not None and Path(spec.adapter, "adapter_config.json").is_file()

    tuned = run_audit(_audit_config("tuned", spec, cache), tmp_path / "audit-tuned")
    assert tuned.manifest().fingerprints["model"] != base.manifest().fingerprints["model"]
    for run in (base, tuned):
        assert run.manifest().status == "success"
        assert len(list(run.records("harmful"))) == 10
        assert (
            run.metrics()["harmful"]["judges"]["keyword-extended"]["asr"]["n"]
            + run.metrics()["harmful"]["judges"]["keyword-extended"]["asr"]["unscored"]
            == 9
        )

    files = write_report([base.path, tuned.path], tmp_path / "report")
    report = json.loads(files.json_path.read_text())
    assert [r["label"] for r in report["runs"]] == ["base", "tuned"]
    assert report["n_aligned"] == 10 and report["n_headline"] == 9
    assert "## Attack success rate" in files.markdown.read_text()
    # the adapter-applied check: the trained adapter changes the logits, and the report shows the figure
    assert tuned.manifest().info["adapter_probe"]["identical"] is False
    assert report["runs"][0]["adapter_probe"] is None and report["runs"][1]["adapter_probe"]["mean_kl"] > 0
    assert "KL " in files.markdown.read_text()

    # finishing again reuses the fine-tune instead of training anew
    again = finetune_run(train, tmp_path / "ft")
    assert again.manifest().info["result"] == manifest.info["result"]


def test_cli_audit_and_compare(tiny_model_dir: Path, tmp_path: Path, placeholder_data: None) -> None:
    runner = CliRunner()
    cache = tmp_path / "gen.sqlite"
    common = ["--set", f"cache.path={cache}", "--set", "generation.max_new_tokens=6", "--set", "model.threads=1", "-q"]
    first = runner.invoke(
        app, ["audit", "--model", str(tiny_model_dir), "--name", "a", "-o", str(tmp_path / "a"), *common]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        app, ["audit", "--model", str(tiny_model_dir), "--name", "b", "-o", str(tmp_path / "b"), *common]
    )
    assert second.exit_code == 0, second.output
    assert RunDir(tmp_path / "b").manifest().info["cache_misses"] == 0  # same model content: all cached
    out = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "rep" / "report.md").is_file()


def test_cli_reports_config_errors_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  sorce: x\n")
    result = CliRunner().invoke(app, ["audit", str(bad)])
    assert result.exit_code == 2
    assert "model.sorce" in result.output
    missing = CliRunner().invoke(app, ["compare", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a tunesafe run directory" in missing.output
