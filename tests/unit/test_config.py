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


def test_dtype_defaults_to_auto_and_device_map_to_none() -> None:
    from tunesafe.config import ModelSpec

    spec = ModelSpec()
    assert (spec.dtype, spec.device, spec.device_map) == ("auto", "auto", None)
    assert load_config(AuditConfig, overrides=["model.device_map=auto"]).model.device_map == "auto"
    with pytest.raises(ConfigError, match=r"model\.dtype"):
        load_config(AuditConfig, overrides=["model.dtype=int8"])
    with pytest.raises(ConfigError, match="leave device at auto"):
        load_config(AuditConfig, overrides=["model.device_map=auto", "model.device=cuda:1"])
    endpoint = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    with pytest.raises(ValueError, match="backend hf only"):
        ModelSpec.model_validate({"backend": "openai", "endpoint": endpoint, "device_map": "auto"})


def test_a_float32_run_directory_keeps_resuming_under_dtype_auto(tmp_path: Path) -> None:
    """Runs written before ``dtype: auto`` existed said ``dtype: float32`` (and had no device_map):
    on CPU auto is float32, so their hash is the new default's and they resume."""
    import yaml

    from tunesafe.config import config_hash

    for cls in (AuditConfig, TrainConfig):
        old = cls().model_dump(mode="json")
        old["model"]["dtype"] = "float32"
        del old["model"]["device_map"]
        path = tmp_path / f"{cls.__name__}.yaml"
        path.write_text(yaml.safe_dump(old))
        written_before = load_config(cls, path)
        assert written_before.model.dtype == "float32"
        assert config_hash(written_before) == config_hash(cls())
        sharded = load_config(cls, overrides=["model.device_map=auto"])
        assert config_hash(sharded) == config_hash(cls())  # placement is not a result
        half = load_config(cls, overrides=["model.dtype=bfloat16"])
        assert config_hash(half) != config_hash(cls())
    # the pinned default (tests/unit/test_backend_openai.py) is the float32 default of before, with the
    # judge panel that was the default then
    old_panel = {
        "harmful": {"judges": ["keyword-extended", "keyword-zou-qi", "refusal-classifier"]},
        "overrefusal": {"judges": ["keyword-extended", "refusal-classifier"]},
    }
    old_default = AuditConfig.model_validate({"audits": old_panel})
    assert config_hash(old_default) == "dc98382091dd2aeb11415181509ab8455c17647dc8c86389df2d94f00557ec77"
    judged = ["keyword-extended", "qi-rubric@qwen2.5-coder-0.5b-instruct"]
    as_float32 = AuditConfig.model_validate(
        {"audits": {"harmful": {"judges": [judged[0], {"kind": "qi-rubric", "model": {"dtype": "float32"}}]}}}
    )
    assert config_hash(as_float32) == config_hash(
        AuditConfig.model_validate({"audits": {"harmful": {"judges": judged}}})
    )
