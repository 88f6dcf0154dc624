"""YAML in, pydantic out: files, ``--set a.b=value`` overrides, one-line errors, YAML out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tunesafe.config.base import ConfigError

_C = TypeVar("_C", bound=BaseModel)


class _Yaml12Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's booleans: only ``true``/``false`` are booleans, so ``off``, ``on``, ``yes``,
    ``no``, ``y`` and ``n`` stay the words a user typed (``cache.mode: off`` is the mode 'off'); a
    boolean setting still takes them, as pydantic reads those words as booleans."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(text: str) -> Any:
    """Parse YAML text the way configs and ``--set`` values are read (YAML 1.2 booleans).

    Raises:
        yaml.YAMLError: the text is not YAML, or an explicit tag cannot build its value (``!!int abc``).
    """
    try:
        return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, OverflowError) as err:
        raise yaml.YAMLError(f"a tagged value cannot be built ({type(err).__name__}: {err})") from err


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` → (["a", "b", "c"], value parsed as a YAML scalar)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like dotted.key=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = read_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({_yaml_problem(err)})") from err
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load_config(cls: type[_C], path: Path | None = None, overrides: Sequence[str] = ()) -> _C:
    """Read YAML (optional), apply overrides, validate. Errors name the offending key."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = read_yaml(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); save the config as UTF-8") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}{_yaml_where(err)}: not valid YAML ({_yaml_problem(err)})") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        data = loaded or {}
    data = apply_overrides(data, overrides)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, path)) from err


def _yaml_where(err: yaml.YAMLError) -> str:
    """``:line:column`` of a YAML error (1-based), or nothing when PyYAML gives no position."""
    mark = getattr(err, "problem_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: what it was parsing and what it met."""
    parts = [getattr(err, "context", None), getattr(err, "problem", None)]
    text = "; ".join(str(p) for p in parts if p) or str(err)
    return " ".join(text.split())


def _format_validation_error(err: ValidationError, path: Path | None) -> str:
    where = f"{path}: " if path else ""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key (not allowed)" if e["type"] == "extra_forbidden" else e["msg"]
        given = e.get("input")
        if e["type"] != "extra_forbidden" and isinstance(given, str | int | float | bool):
            msg += f" (got {given!r})"
        lines.append(f"{loc}: {msg}")
    return f"{where}invalid configuration: " + "; ".join(lines)


def dump_config(config: BaseModel) -> str:
    """The fully resolved config as YAML (written into every run directory). Text PyYAML's writer would
    not read back as written (a raw NEL or line separator in a string) is written escaped instead."""
    data = config.model_dump(mode="json")
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if yaml.safe_load(text) != data:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=False)
    return text
