"""Shared fixtures: a tiny random chat model on disk and scripted backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_model import build_tiny_model
from tunesafe.backends.scripted import ScriptedBackend


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama chat model (ChatML template, ~24k parameters) saved once per session.

    Treat it as read-only; build variants with ``tests.tiny_model.build_tiny_model``.
    """
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model")


@pytest.fixture
def scripted_backend() -> Callable[..., ScriptedBackend]:
    """Factory: ``scripted_backend([(regex, response), ...], default="...", **kwargs)``."""

    def make(rules: Sequence[tuple[str, str]] = (), default: str = "", **kwargs: Any) -> ScriptedBackend:
        return ScriptedBackend(rules, default, **kwargs)

    return make
