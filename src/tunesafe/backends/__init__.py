"""Backends: batches of conversations in, completions out (one file per backend).

Importing this package is light: torch and transformers load only when a model does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tunesafe.backends.base import Backend, BackendError
from tunesafe.errors import InputError

if TYPE_CHECKING:
    from tunesafe.config import ModelSpec

__all__ = ["Backend", "BackendError", "check_model_spec", "load_backend"]


def check_model_spec(spec: ModelSpec) -> None:
    """What can be checked of a model without loading it, before a run directory is made: a local
    model folder or GGUF file exists, an adapter folder exists (``backend: hf``).

    Raises:
        InputError: the message names the path and what it should be.
    """
    if spec.backend != "hf":
        return
    from tunesafe.models import check_model_source

    check_model_source(spec.source)
    if spec.adapter and not Path(spec.adapter).expanduser().is_dir():
        raise InputError(f"adapter {spec.adapter} is not a folder; give a PEFT adapter folder (adapter_config.json)")


def load_backend(spec: ModelSpec) -> Backend:
    """Build the backend a ``ModelSpec`` describes (the model itself loads on first use; a served
    model, ``backend: openai``, is first contacted when its fingerprint is asked for).

    Raises:
        ValueError: for ``backend: scripted``, which is built in code (tests, docs), not from config.
    """
    if spec.backend == "hf":
        from tunesafe.backends.hf import HFBackend
        from tunesafe.models import resolve_model_source

        adapter = Path(spec.adapter).expanduser() if spec.adapter else None
        return HFBackend(
            resolve_model_source(spec.source),
            adapter_dir=adapter,
            batch_size=spec.batch_size,
            dtype=spec.dtype,
            device=spec.device,
            threads=spec.threads,
            system_prompt=spec.system_prompt,
            device_map=spec.device_map,
        )
    if spec.backend == "openai":
        from tunesafe.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend.from_spec(spec)
    if spec.backend == "llamacpp":
        from tunesafe.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend.from_spec(spec)
    if spec.backend == "scripted":
        raise ValueError(
            "scripted backends are built in code (tunesafe.backends.scripted.ScriptedBackend, "
            "for tests and docs) and passed to the library directly; they cannot be loaded from a config"
        )
    raise ValueError(f"unknown backend {spec.backend!r}")
