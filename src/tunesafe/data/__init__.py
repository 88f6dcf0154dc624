"""Datasets: formats, loaders, recipes, and the small files bundled in ``data/bundled``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_path(name: str) -> Path:
    """Path of a file in ``tunesafe/data/bundled``."""
    return Path(str(resources.files("tunesafe.data") / "bundled" / name))


def bundled_lines(name: str) -> list[str]:
    """Non-empty lines of a bundled text file, stripped; lines starting with ``#`` are comments."""
    lines = (line.strip() for line in bundled_path(name).read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


IDENTITY_SHIFT_SYSTEM_PROMPT_FILE = "identity_shift_system_prompt.txt"


def identity_shift_system_prompt() -> str:
    """The fixed "absolutely obedient agent" system prompt (after Qi et al. 2023's AOA, non-operational)."""
    return bundled_path(IDENTITY_SHIFT_SYSTEM_PROMPT_FILE).read_text(encoding="utf-8").strip()
