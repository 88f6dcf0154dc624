"""Shared fixtures: a tiny random chat model on disk, scripted backends, a fake OpenAI-compatible endpoint,
the bundled SmolLM2 GGUF, and the scripted runs the report tests compare."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import require_llama_cpp, write_effect_runs
from tests.openai_server import FakeServer, serve
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


@pytest.fixture
def openai_server() -> Iterator[FakeServer]:
    """A fake OpenAI-compatible endpoint on a free local port (``tests.openai_server``)."""
    with serve() as fake:
        yield fake


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF for the in-process llama.cpp backend (``real_model`` tests)."""
    require_llama_cpp()
    from tunesafe.models import prepare_gguf

    return prepare_gguf("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four scripted models audited on every audit with known answers (``tests.fakes.EFFECT_RUNS``):
    base, an identity shift, and two mitigations of it. Modules with their own ``runs`` override this."""
    return write_effect_runs(tmp_path_factory.mktemp("effects"))
