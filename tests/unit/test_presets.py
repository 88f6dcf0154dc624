"""Training presets: published values, precedence of explicit settings, unknown names, CPU variants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tunesafe.config import ConfigError, LoraSpec, TrainConfig, config_hash, dump_config, load_config
from tunesafe.train.presets import PRESETS, apply_preset, get_preset


def test_kumar2024_reproduces_appendix_a4() -> None:
    cfg = TrainConfig(preset="kumar2024")
    assert cfg.method == "lora"
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules) == (16, 16, 0.0, "all-linear")
    assert (cfg.learning_rate, cfg.lr_scheduler, cfg.warmup_steps, cfg.max_steps) == (2e-4, "linear", 5, 50)
    assert cfg.per_device_batch_size * cfg.gradient_accumulation_steps == 8
    assert (cfg.weight_decay, cfg.seed, cfg.max_length) == (0.01, 3407, 2048)


@pytest.mark.parametrize(("name", "lr", "epochs", "batch"), [
    ("qi2023-harmful", 5e-5, 5.0, 10),
    ("qi2023", 5e-5, 5.0, 10),
    ("qi2023-identity-shift", 5e-5, 10.0, 10),
    ("qi2023-benign", 2e-5, 1.0, 128),
])  # fmt: skip
def test_qi2023_reproduces_appendix_b4(name: str, lr: float, epochs: float, batch: int) -> None:
    cfg = TrainConfig(preset=name)
    assert cfg.method == "full" and cfg.max_steps == -1  # epochs decide the length
    assert (cfg.learning_rate, cfg.num_train_epochs) == (lr, epochs)
    assert cfg.per_device_batch_size * cfg.gradient_accumulation_steps == batch
    assert (cfg.warmup_steps, cfg.weight_decay, cfg.seed) == (0, 0.0, 42)


def test_every_preset_cites_its_source_and_validates() -> None:
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert "arXiv 2409.19476" in preset.source or "arXiv 2310.03693" in preset.source
        assert preset.notes
        TrainConfig(preset=name)  # every value is a valid TrainConfig setting


def test_explicit_settings_win_over_the_preset_key_by_key() -> None:
    cfg = TrainConfig.model_validate({"preset": "kumar2024", "max_steps": 7, "lora": {"r": 4}, "seed": 3407})
    assert cfg.max_steps == 7  # user
    assert cfg.lora.r == 4 and cfg.lora.alpha == 16  # user r, preset alpha (nested merge)
    assert cfg.learning_rate == 2e-4 and cfg.max_length == 2048  # preset
    whole = TrainConfig(preset="kumar2024", lora=LoraSpec(r=8))  # a whole section object replaces the preset's
    assert (whole.lora.r, whole.lora.alpha) == (8, 16)


def test_cli_style_overrides_win_and_config_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"preset": "qi2023-harmful", "learning_rate": 1e-5}), encoding="utf-8")
    cfg = load_config(TrainConfig, path, ["num_train_epochs=3", "preset=qi2023-identity-shift"])
    assert cfg.preset == "qi2023-identity-shift"
    assert (cfg.learning_rate, cfg.num_train_epochs, cfg.method) == (1e-5, 3.0, "full")
    again = TrainConfig.model_validate(yaml.safe_load(dump_config(cfg)))
    assert again == cfg and config_hash(again) == config_hash(cfg)


def test_unknown_preset_lists_the_names() -> None:
    with pytest.raises(ValueError, match="unknown training preset 'kumar'.*kumar2024-cpu.*qi2023-benign"):
        get_preset("kumar")
    with pytest.raises(ConfigError, match="unknown training preset 'kumar'"):
        load_config(TrainConfig, None, ["preset=kumar"])


def test_apply_preset_does_not_mutate_the_preset() -> None:
    apply_preset("kumar2024", {"lora": {"r": 2}})
    assert PRESETS["kumar2024"].values["lora"]["r"] == 16


def test_cpu_variants_keep_the_recipe_and_do_less_work() -> None:
    for name in [n for n in PRESETS if not n.endswith("-cpu")]:
        full = TrainConfig(preset=name)
        cpu_name = f"{name}-cpu" if name != "qi2023" else "qi2023-harmful-cpu"
        cpu = TrainConfig(preset=cpu_name)
        assert cpu.method == full.method and cpu.lora == full.lora and cpu.num_train_epochs == full.num_train_epochs
        assert cpu.max_length < full.max_length
        assert not cpu.gradient_checkpointing
        batch = cpu.per_device_batch_size * cpu.gradient_accumulation_steps
        assert batch <= full.per_device_batch_size * full.gradient_accumulation_steps
        assert 0 < cpu.max_steps <= full.max_steps or cpu.max_steps == full.max_steps == -1
    assert TrainConfig(preset="kumar2024-cpu").max_steps < TrainConfig(preset="kumar2024").max_steps


def test_hash_ignores_new_fields_at_their_defaults_only() -> None:
    plain = TrainConfig()
    assert config_hash(plain) == config_hash(TrainConfig(preset=None, save_steps=0))
    assert config_hash(TrainConfig(save_steps=5)) != config_hash(plain)
    same_values = TrainConfig.model_validate(TrainConfig(preset="kumar2024").model_dump(exclude={"preset"}))
    assert config_hash(same_values) != config_hash(TrainConfig(preset="kumar2024"))  # the preset is recorded
