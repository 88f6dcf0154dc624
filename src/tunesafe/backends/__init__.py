"""Backends: batches of conversations in, completions out (one file per backend).

Importing this package is light: torch and transformers load only when a model does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tunesafe.backends.base import Backend, BackendError

if TYPE_CHECKING:
    from tunesafe.config import ModelSpec

__all__ = ["Backend", "BackendError", "load_backend"]


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
