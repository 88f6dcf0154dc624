"""Fixtures for integration tests: a real llama-cpp-python server on the bundled SmolLM2 GGUF, and
placeholder files in place of the bundled HarmBench and StrongREJECT data.

Without llama-cpp-python's server (``llama-cpp-python[server]``) the fixtures skip locally, with the
reason, and fail under ``CI=true``, where CI installs it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.fakes import write_csv
from tests.llamacpp_server import LlamaServer

from tunesafe.data.formats import write_messages_jsonl

SERVER_MODEL = "smollm2-135m-instruct"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_llamacpp_server() -> None:
    """Fail under CI, skip elsewhere, when llama-cpp-python's server cannot be imported."""
    try:
        import llama_cpp.server.app  # noqa: F401 (needs the [server] extra: fastapi, uvicorn, ...)
    except ImportError as err:
        message = (
            f"llama-cpp-python's server is not importable ({err}); "
            "pip install 'tunesafe[llamacpp]' (llama-cpp-python[server]; make install does)"
        )
        if _on_ci():
            pytest.fail(f"CI installs llama-cpp-python[server], yet: {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def llamacpp_gguf() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF (Q4_1), once llama-cpp-python's server is known to import."""
    require_llamacpp_server()
    from tunesafe.models import prepare_gguf

    return prepare_gguf(SERVER_MODEL)


def _start(server: LlamaServer) -> LlamaServer:
    try:
        return server.start()
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def llamacpp_server(llamacpp_gguf: Path) -> Iterator[LlamaServer]:
    """One llama-cpp-python server for the session (base URL: ``.url``, served model: ``.served_name``)."""
    server = _start(LlamaServer(llamacpp_gguf))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_llamacpp_server(llamacpp_gguf: Path) -> Iterator[Callable[..., LlamaServer]]:
    """Factory for servers a test may stop and restart: ``start(port=None)``; all stopped at teardown."""
    started: list[LlamaServer] = []

    def start(port: int | None = None) -> LlamaServer:
        server = _start(LlamaServer(llamacpp_gguf, port=port))
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def placeholder_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neutral stand-ins for the bundled HarmBench and StrongREJECT files."""
    import tunesafe.assets

    behaviours = []
    for i in range(10):
        subset = "contextual" if i == 8 else "copyright" if i == 9 else "standard"
        context = "a short placeholder context" if subset == "contextual" else ""
        behaviours.append([f"placeholder evaluation request {i}", subset, f"cat{i % 2}", "", context, f"e{i}"])
    header = ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"]
    harmbench = write_csv(tmp_path / "harmbench.csv", header, behaviours)
    requests = [[f"cat{i % 2}", "test", f"tulip planting question {i} for spring gardens"] for i in range(8)]
    strongreject = write_csv(tmp_path / "strongreject.csv", ["category", "source", "forbidden_prompt"], requests)
    files = {"harmbench-test": harmbench, "strongreject": strongreject}
    monkeypatch.setattr(tunesafe.assets, "data_file", lambda name: files[name])


N_SAFETY_PROMPTS = 3


@pytest.fixture
def safety_files(tmp_path: Path) -> dict[str, Path]:
    """Benign training rows and a small placeholder "harmful" prompt file (no download needed)."""
    data = tmp_path / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Tell me about the weather on day {i}."},
                {"role": "assistant", "content": "Sure, here is a short summary of the weather."},
            ]
        }
        for i in range(8)
    ]
    write_messages_jsonl(data, rows)
    prompts = tmp_path / "prompts.csv"
    with prompts.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt"])
        writer.writerows([f"Placeholder forbidden request number {i}"] for i in range(N_SAFETY_PROMPTS))
    return {"data": data, "prompts": prompts}
