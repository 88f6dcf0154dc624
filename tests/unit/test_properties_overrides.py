"""Property-based tests (hypothesis) of ``--set dotted.key=value`` overrides and YAML config files (issue 15).

``tunesafe.config.loading``: ``parse_override`` reads the value as one YAML scalar with YAML 1.2's
booleans (only ``true`` / ``false`` in three spellings are booleans; ``off``, ``on``, ``yes``, ``no``,
``y``, ``n`` stay the words typed; ``null`` and ``~`` are None), ``apply_overrides`` sets the dotted key,
``load_config`` validates. Properties: any scalar written as YAML comes back unchanged; any text is
parsed or refused with a ``ConfigError`` naming the override (or the file), never another exception.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tunesafe.config import AuditConfig, ConfigError, TrainConfig, load_config
from tunesafe.config.loading import apply_overrides, dump_config, parse_override, read_yaml

SETTINGS = settings(max_examples=100, deadline=None, database=None)

KEY_PART = st.text(st.characters(codec="utf-8", exclude_characters=".="), min_size=1, max_size=8).filter(
    lambda part: part.strip() == part and part
)
KEYS = st.lists(KEY_PART, min_size=1, max_size=4)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["off", "on", "yes", "no", "y", "n", "Off", "ON", "Yes", "NO", "Y", "N", "null", "~", "0o17"]),
    st.sampled_from(["1_000", "0x1F", "1e3", ".inf", "-.Inf", ".nan", "2024-01-01", "12:30:00", "=", "a=b"]),
)
YAML_WORDS = ["off", "on", "yes", "no", "y", "n", "true", "false", "null", "~"]


def as_yaml(value: Any) -> str:
    """The value as one YAML document on as few lines as PyYAML writes it (quoted where YAML 1.1 needs it)."""
    # allow_unicode=False: PyYAML's emitter writes a raw NEL (U+0085) into a quoted scalar that its own reader
    # folds to a space (see test_dump_config_round_trips); escaped, every character reads back
    return yaml.safe_dump(value, default_flow_style=True, width=float("inf"))


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (isinstance(a, float) and a != a and b != b))


@SETTINGS
@given(parts=KEYS, value=SCALARS)
@example(parts=["cache", "mode"], value="off")
@example(parts=["a"], value="")
@example(parts=["a"], value=" padded ")
@example(parts=["a"], value="line\nbreak")
def test_any_scalar_written_as_yaml_round_trips(parts: list[str], value: Any) -> None:
    assert_round_trip(parts, value, as_yaml(value))


def assert_round_trip(parts: list[str], value: Any, raw: str) -> None:
    key, parsed = parse_override(f"{'.'.join(parts)}={raw}")
    assert key == parts
    assert same(parsed, value), (raw, parsed, value)


@SETTINGS
@given(parts=KEYS, value=st.integers() | st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_typed_plainly_are_numbers(parts: list[str], value: float) -> None:
    assert_round_trip(parts, value, repr(value) if isinstance(value, int) else as_yaml(value).split("\n")[0])


@SETTINGS
@given(
    word=st.sampled_from(YAML_WORDS),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    pad=st.text(" ", max_size=2),
)
def test_yaml_words_follow_yaml_12(word: str, case: Any, pad: str) -> None:
    """``true`` / ``false`` (lower, Title, UPPER) are booleans, ``null`` / ``~`` None, every other word a string."""
    typed = case(word)
    _, value = parse_override(f"a.b={pad}{typed}{pad}")
    if word in ("true", "false"):
        assert value is (word == "true")
    elif word in ("null", "~"):
        assert value is None
    else:
        assert value == typed


@SETTINGS
@given(word=st.sampled_from(["off", "on", "yes", "no", "y", "n", "Off", "OFF", "Yes"]))
def test_a_string_setting_keeps_the_word(word: str) -> None:
    """Issue 15: ``--set cache.mode=off`` is the mode 'off' (a string setting), not False."""
    try:
        config = load_config(AuditConfig, None, [f"cache.mode={word}", f"name={word}"])
    except ConfigError as err:
        assert word != "off" and "cache.mode" in str(err) and repr(word) in str(err)
        return
    assert config.cache.mode == word == "off" and config.name == "off"


@SETTINGS
@given(
    word=st.sampled_from(["yes", "on", "true", "y", "no", "off", "false", "n"]),
    case=st.sampled_from([str.lower, str.title]),
)
def test_a_boolean_setting_still_takes_the_words(word: str, case: Any) -> None:
    config = load_config(TrainConfig, None, [f"gradient_checkpointing={case(word)}"])
    assert config.gradient_checkpointing is (word in ("yes", "on", "true", "y"))


# any text an override may be: YAML's punctuation made likely, the explicit tags left to the test below
OVERRIDE_TEXT = st.text(
    st.one_of(st.characters(codec="utf-8", exclude_characters="!"), st.sampled_from("=.:-[]{}#&*|>'\"%@`,? \n\t")),
    max_size=30,
)


@SETTINGS
@given(item=OVERRIDE_TEXT)
@example(item="a=[1, {")
@example(item="a=*x")
@example(item="=1")
@example(item="a.b")
def test_any_override_text_parses_or_is_a_config_error(item: str) -> None:
    try:
        parts, _ = parse_override(item)
    except ConfigError as err:
        assert str(err).startswith(f"override {item!r}")
        return
    assert parts and all(parts) and "=" in item


TAGS = st.sampled_from(["!!int", "!!float", "!!bool", "!!timestamp", "!!str", "!!null", "!!binary", "!!set", "!!map"])


@SETTINGS
@given(tag=TAGS, value=st.text(st.characters(codec="utf-8"), max_size=10))
@example(tag="!!int", value="abc")
@example(tag="!!timestamp", value="x")
@example(tag="!!bool", value="maybe")
def test_an_explicitly_tagged_value_parses_or_is_a_config_error(tag: str, value: str) -> None:
    item = f"a={tag} {value}"
    try:
        parse_override(item)
    except ConfigError as err:
        assert str(err).startswith(f"override {item!r}")


@SETTINGS
@given(overrides=st.lists(st.tuples(KEYS, SCALARS), max_size=5))
def test_apply_overrides_sets_the_last_value_of_each_key_or_refuses(overrides: list[tuple[list[str], Any]]) -> None:
    items = [f"{'.'.join(parts)}={as_yaml(value)}" for parts, value in overrides]
    try:
        data = apply_overrides({}, items)
    except ConfigError as err:
        assert "is not a section" in str(err)
        return
    for index, (parts, value) in enumerate(overrides):
        later = [p for p, _ in overrides[index + 1 :]]
        if any(p[: len(parts)] == parts or parts[: len(p)] == p for p in later):
            continue  # overwritten (or made a section) by a later override
        node: Any = data
        for part in parts:
            node = node[part]
        assert same(node, value)


@SETTINGS
@given(content=st.binary(max_size=120).filter(lambda b: b"!" not in b) | OVERRIDE_TEXT.map(str.encode))
@example(content=b"cache:\n  mode: off\n")
@example(content=b"- a\n- b\n")
@example(content=b"name: caf\xe9\n")
def test_any_config_file_loads_or_names_the_file(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.yaml"
        path.write_bytes(content)
        try:
            config = load_config(AuditConfig, path)
        except ConfigError as err:
            assert str(err).startswith(str(path))
            return
    assert isinstance(config, AuditConfig)


@SETTINGS
@given(mapping=st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=6), SCALARS, max_size=4))
def test_read_yaml_reads_back_what_safe_dump_writes(mapping: dict[str, Any]) -> None:
    back = read_yaml(yaml.safe_dump(mapping))
    assert back.keys() == mapping.keys() if mapping else back in ({}, None)
    assert all(same(back[k], v) for k, v in mapping.items())


@SETTINGS
@given(
    name=st.text(st.characters(codec="utf-8"), max_size=20), mode=st.sampled_from(["read_write", "read_only", "off"])
)
@example(name="run\x85", mode="off")
def test_dump_config_round_trips(name: str, mode: str) -> None:
    """The config.yaml written into every run reads back as the same config."""
    config = load_config(AuditConfig, None, [f"name={as_yaml(name)}", f"cache.mode={mode}"])
    assert config.name == name and config.cache.mode == mode
    assert AuditConfig.model_validate(read_yaml(dump_config(config))) == config
