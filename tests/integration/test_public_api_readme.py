"""The README's Python API example, run as written on the tiny local model (fine-tune included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fakes import readme_example


@pytest.mark.slow
def test_the_readme_example_runs(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNESAFE_CACHE_DIR", str(tmp_path / "cache"))
    code = readme_example().replace("smollm2-135m-instruct", str(tiny_model_dir))
    # the tiny model's context window is 512 tokens, shorter than HarmBench's contextual behaviours
    extra = '"generation.max_new_tokens=8", "long_prompts=truncate_left"'
    code = code.replace('"audits.overrefusal.limit=20"', f'"audits.overrefusal.limit=20", {extra}')
    exec(compile(code, "README.md", "exec"), {})
    report = json.loads((tmp_path / "runs/api/report/report.json").read_text(encoding="utf-8"))
    assert [run["label"] for run in report["runs"]] == ["base", "harmful-prefix"]
    assert report["runs"][1]["adapter_probe"] is not None  # the adapter was applied and checked
    manifest = json.loads((tmp_path / "runs/api/harmful-prefix/manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "success"
    assert (tmp_path / "runs/api/finetune/train").is_dir()
