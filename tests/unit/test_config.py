from pathlib import Path

import pytest

from tunesafe.config import AuditConfig, ConfigError, TrainConfig, apply_overrides, dump_config, load_config


def test_defaults_validate_and_round_trip(tmp_path: Path) -> None:
    cfg = load_config(AuditConfig)
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(AuditConfig, path) == cfg


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  sorce: smollm2-135m-instruct\n")
    with pytest.raises(ConfigError, match=r"model\.sorce: unknown key"):
        load_config(AuditConfig, path)


def test_wrong_type_and_range_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"generation\.max_new_tokens"):
        load_config(AuditConfig, overrides=["generation.max_new_tokens=0"])
    with pytest.raises(ConfigError, match=r"model\.batch_size"):
        load_config(AuditConfig, overrides=["model.batch_size=many"])
    with pytest.raises(ConfigError, match=r"audits\.harmful\.judges"):
        load_config(AuditConfig, overrides=["audits.harmful.judges=[keyword-extended, poems]"])
    with pytest.raises(ConfigError, match=r"runs on a model"):
        load_config(AuditConfig, overrides=["audits.harmful.judges=[qi-rubric]"])


def test_overrides_are_typed_yaml_scalars() -> None:
    cfg = load_config(AuditConfig, overrides=["model.batch_size=4", "generation.temperature=0.5", "name=x y"])
    assert cfg.model.batch_size == 4 and cfg.generation.temperature == 0.5 and cfg.name == "x y"
    assert apply_overrides({}, ["a.b.c=[1, 2]"]) == {"a": {"b": {"c": [1, 2]}}}


def test_bad_override_syntax_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(AuditConfig, overrides=["model.batch_size"])
    with pytest.raises(ConfigError, match="not a section"):
        load_config(AuditConfig, overrides=["name=a", "name.x=1"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(AuditConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(AuditConfig, bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(AuditConfig, listy)


def test_train_data_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one of data.recipe or data.path"):
        load_config(TrainConfig, overrides=["data.path=x.jsonl"])
    cfg = load_config(TrainConfig, overrides=["data.path=x.jsonl", "data.recipe=null"])
    assert cfg.data.recipe is None and cfg.data.path == "x.jsonl"
    with pytest.raises(ConfigError, match="data.recipe"):
        load_config(TrainConfig, overrides=["data.recipe=poetry"])
