"""``--set`` values and config files read with YAML 1.2's booleans (issue 15): ``cache.mode=off``, the
spelling the README documents, is the mode 'off', while boolean settings still take yes/no/on/off."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesafe.config import AuditConfig, ConfigError, TrainConfig, load_config
from tunesafe.config.loading import parse_override, read_yaml


@pytest.mark.parametrize("word", ["off", "on", "yes", "no", "y", "n", "Off", "YES"])
def test_yaml_11_words_stay_words(word: str) -> None:
    assert parse_override(f"a.b={word}") == (["a", "b"], word)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), ("True", True), ("FALSE", False)])
def test_true_and_false_are_booleans(text: str, value: bool) -> None:
    assert parse_override(f"a={text}")[1] is value


@pytest.mark.parametrize(
    ("text", "value"), [("null", None), ("~", None), ("3", 3), ("0.5", 0.5), ("[a, b]", ["a", "b"])]
)
def test_other_scalars_unchanged(text: str, value: object) -> None:
    assert parse_override(f"a={text}")[1] == value


def test_cache_mode_off_from_set_and_from_a_file(tmp_path: Path) -> None:
    assert load_config(AuditConfig, None, ["cache.mode=off"]).cache.mode == "off"
    config = tmp_path / "audit.yaml"
    config.write_text("cache:\n  mode: off\n")
    assert load_config(AuditConfig, config).cache.mode == "off"


@pytest.mark.parametrize(("word", "value"), [("yes", True), ("on", True), ("no", False), ("off", False)])
def test_boolean_settings_still_take_the_words(word: str, value: bool) -> None:
    assert load_config(TrainConfig, None, [f"gradient_checkpointing={word}"]).gradient_checkpointing is value


def test_a_config_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"{config}: not UTF-8 text \(byte 9\); save the config as UTF-8"):
        load_config(AuditConfig, config)


def test_read_yaml_mapping() -> None:
    assert read_yaml("a: off\nb: true\nc: 2\n") == {"a": "off", "b": True, "c": 2}
