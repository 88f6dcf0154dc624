"""Models and adapters for llama.cpp: GGUF files resolved, PEFT LoRA adapters and transformers
checkpoints converted to GGUF once and cached by content.

The converters are llama.cpp's own (``convert_lora_to_gguf.py``, ``convert_hf_to_gguf.py`` and their
``gguf-py``), taken from the llama-cpp-python source distribution of the installed version (from a
wheelhouse, else downloaded with pip and checked against a pinned sha256), extracted once into the
cache and run with this interpreter (they need torch and transformers, the ``hf`` extra).
Converted files are keyed by the content fingerprint of what they came from, so a re-trained
adapter at the same path is converted again and an unchanged one never is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from tunesafe._util.hashing import fingerprint_dir, sha256_obj
from tunesafe._util.wheels import AssetError, file_lock, matching_sdists, pip_download
from tunesafe.backends.base import BackendError

log = logging.getLogger(__name__)

PACKAGE = "llama-cpp-python"
SDIST_SHA256 = {"0.3.36": "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"}
"""Pinned sha256 of the llama-cpp-python source distributions whose converters tunesafe has run."""
CONVERTER_FILES = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/")
EXPORT_VERSION = 1
"""Bump when the conversion settings change: it is part of every converted file's key."""
_STDERR_TAIL = 2000


def resolve_gguf_model(source: str) -> Path:
    """A GGUF for a model source: a ``.gguf`` file as is, a bundled model's verified GGUF, or a
    transformers folder (or ``hf:org/name``) exported to GGUF once."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    from tunesafe.assets import BUNDLED_MODELS
    from tunesafe.models import prepare_gguf, resolve_model_source

    if source in BUNDLED_MODELS:
        return prepare_gguf(source)
    return hf_to_gguf(resolve_model_source(source))


def resolve_gguf_adapter(adapter: str, base_source: str) -> tuple[Path, str | None]:
    """The GGUF LoRA for ``adapter`` and the identity of what it came from.

    A ``.gguf`` file is used as is (identity: its own hash, taken by the backend); a PEFT adapter
    folder is converted once against the base model's config (``base_source`` resolved to a
    transformers folder) and identified by the folder's content fingerprint.
    """
    path = Path(adapter).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path, None
    if not (path / "adapter_config.json").is_file():
        raise BackendError(f"{path} is neither a GGUF LoRA file nor a PEFT adapter folder (no adapter_config.json)")
    from tunesafe.models import resolve_model_source

    return lora_to_gguf(path, resolve_model_source(base_source)), fingerprint_dir(path)


def lora_to_gguf(adapter_dir: Path, base_dir: Path) -> Path:
    """``adapter_dir`` (PEFT LoRA) as a GGUF LoRA in the cache, converted on first use."""
    key = sha256_obj({"adapter": fingerprint_dir(adapter_dir), "version": EXPORT_VERSION, "outtype": "f32"})[:24]
    target = _export_dir() / "lora" / f"{key}.gguf"

    def command(out: Path) -> list[str]:
        return [
            "convert_lora_to_gguf.py",
            "--base",
            str(base_dir),
            "--outtype",
            "f32",
            "--outfile",
            str(out),
            str(adapter_dir),
        ]

    return _convert(target, command, f"LoRA adapter {adapter_dir}")


def hf_to_gguf(model_dir: Path, outtype: str = "f16") -> Path:
    """A transformers checkpoint (e.g. a full fine-tune) as a GGUF in the cache, converted on first use."""
    key = sha256_obj({"model": fingerprint_dir(model_dir), "version": EXPORT_VERSION, "outtype": outtype})[:24]
    target = _export_dir() / "models" / f"{key}-{outtype}.gguf"

    def command(out: Path) -> list[str]:
        return ["convert_hf_to_gguf.py", "--outtype", outtype, "--outfile", str(out), str(model_dir)]

    return _convert(target, command, f"model {model_dir}")


def _export_dir() -> Path:
    from tunesafe.assets import cache_dir

    return cache_dir() / "gguf-export"


def _convert(target: Path, command: Callable[[Path], list[str]], what: str) -> Path:
    """Run a converter into a temp file next to ``target`` and rename it into place (under a lock)."""
    if target.is_file():
        return target
    with file_lock(target.with_suffix(".lock")):
        if target.is_file():
            return target
        converters = converter_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        args = command(tmp)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(converters / "gguf-py"), str(converters)])}
        log.info("converting %s to GGUF with llama.cpp's %s", what, args[0])
        try:
            proc = subprocess.run(
                [sys.executable, str(converters / args[0]), *args[1:]],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if proc.returncode != 0 or not tmp.is_file():
                detail = (proc.stderr or proc.stdout or "").strip()[-_STDERR_TAIL:]
                raise BackendError(f"converting {what} to GGUF failed (exit {proc.returncode}):\n{detail}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def converter_dir() -> Path:
    """llama.cpp's converters (and their ``gguf-py``) of the installed llama-cpp-python, extracted once."""
    version = _installed_version()
    from tunesafe.assets import cache_dir

    final = cache_dir() / "llama.cpp-converters" / version
    if (final / "convert_lora_to_gguf.py").is_file():
        return final
    with file_lock(final.with_name(f"{version}.lock")):
        if (final / "convert_lora_to_gguf.py").is_file():
            return final
        sdist = _sdist(version)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
        try:
            _extract_converters(sdist, staging)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        raise BackendError("GGUF conversion needs llama-cpp-python: pip install 'tunesafe[llamacpp]'") from None


def _sdist(version: str) -> Path:
    """The source distribution of ``version``: from a wheelhouse, else downloaded and checked."""
    from tunesafe.assets import cache_dir, wheelhouses

    for directory, _owned in wheelhouses():
        found = matching_sdists(directory, PACKAGE, version)
        if found:
            return found[0]
    pinned = SDIST_SHA256.get(version)
    if pinned is None:
        raise BackendError(
            f"tunesafe has no pinned sha256 for the {PACKAGE} {version} source distribution; put "
            f"llama_cpp_python-{version}.tar.gz in a folder named by TUNESAFE_WHEELHOUSE"
        )
    try:
        return pip_download(PACKAGE, version, cache_dir() / "wheels", pinned, sdist=True)
    except AssetError as err:
        raise BackendError(str(err)) from None


def _extract_converters(sdist: Path, out: Path) -> None:
    """Extract ``vendor/llama.cpp/<CONVERTER_FILES>`` of the sdist into ``out`` (no other member)."""
    with tarfile.open(sdist, "r:gz") as archive:
        members = []
        for member in archive.getmembers():
            parts = member.name.split("/", 3)
            if len(parts) < 4 or parts[1:3] != ["vendor", "llama.cpp"] or not member.isfile():
                continue
            inner = parts[3]
            if any(inner == f or (f.endswith("/") and inner.startswith(f)) for f in CONVERTER_FILES):
                member.name = inner
                members.append(member)
        if not any(m.name == "convert_lora_to_gguf.py" for m in members):
            raise BackendError(f"{sdist} holds no vendor/llama.cpp/convert_lora_to_gguf.py")
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: refuse links and absolute paths
            archive.extractall(out, members=members, filter="data")
        else:  # pragma: no cover - the member names were checked above
            archive.extractall(out, members=members)
