"""Resuming an interrupted fine-tune from its last checkpoint; gradient checkpointing with LoRA; QLoRA's error path."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest
from tests.tiny_model import tiny_train_config

from tunesafe.config import TrainConfig
from tunesafe.data.formats import write_messages_jsonl
from tunesafe.results import RunDir
from tunesafe.train import sft
from tunesafe.train.run import finetune_run

pytest.importorskip("trl")


def _config(model_dir: Path, data: Path, **overrides: Any) -> TrainConfig:
    return tiny_train_config(model_dir, data, **{"learning_rate": 1e-2, **overrides})


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"Name a colour {i}"}, {"role": "assistant", "content": "Blue."}]}
        for i in range(8)
    ]
    write_messages_jsonl(path, rows)
    return path


def _with_extra_callback(monkeypatch: pytest.MonkeyPatch, callback: Any) -> None:
    original = sft._callbacks
    monkeypatch.setattr(sft, "_callbacks", lambda progress: [*original(progress), callback])


def test_interrupted_finetune_resumes_from_the_last_checkpoint(
    tiny_model_dir: Path, data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from transformers import TrainerCallback

    class KillAtStep3(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 2:
                raise KeyboardInterrupt

    class Steps(TrainerCallback):
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.seen.append(state.global_step)

    cfg = _config(tiny_model_dir, data_file, save_steps=2)
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _with_extra_callback(patch, KillAtStep3())
        with pytest.raises(KeyboardInterrupt):
            finetune_run(cfg, out)
    checkpoints = out / "train" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-2"]
    assert RunDir(out).manifest().status == "interrupted"
    assert not (out / "train" / "model").exists()

    steps = Steps()
    _with_extra_callback(monkeypatch, steps)
    with caplog.at_level(logging.INFO, logger="tunesafe.train.sft"):
        run = finetune_run(cfg, out)
    assert "resuming the fine-tune from" in caplog.text and "checkpoint-2" in caplog.text
    assert steps.seen == [3, 4]  # steps 1-2 were not trained again
    assert run.manifest().status == "success" and run.manifest().info["result"]["steps"] == 4
    state = json.loads((out / "train" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]  # history carried over
    assert (out / "train" / "model" / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-4"]  # only the latest is kept


def test_gradient_checkpointing_with_lora_trains_the_adapter(
    tiny_model_dir: Path, data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    trainers: list[Any] = []
    build = sft.build_trainer
    monkeypatch.setattr(sft, "build_trainer", lambda *a, **k: trainers.append(build(*a, **k)) or trainers[-1])
    cfg = _config(tiny_model_dir, data_file, max_steps=2, gradient_checkpointing=True)
    result = sft.finetune(cfg, tmp_path / "run")

    model = trainers[0].model
    assert any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())
    assert result.final_loss is not None and math.isfinite(result.final_loss)
    weights = load_file(str(tmp_path / "run" / "train" / "model" / "adapter_model.safetensors"))
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: gradients reached the adapter


def test_qlora_without_cuda_or_bitsandbytes_is_a_clear_error(
    tiny_model_dir: Path, data_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    import torch

    cfg = _config(tiny_model_dir, data_file, method="qlora")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="qlora .* needs a CUDA GPU"):
        sft.finetune(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before any work

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a)
    )
    with pytest.raises(ValueError, match="needs the bitsandbytes package") as err:
        sft.require_qlora_support()
    assert "a CUDA GPU" not in str(err.value)  # only what is missing is named
