"""Content fingerprints: canonical JSON and file hashes (never paths)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal objects hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_obj(obj: Any) -> str:
    return sha256_text(canonical_json(obj))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# Files whose content defines what a model directory computes. Weights are hashed in full.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".gguf", ".json", ".jinja", ".model", ".txt")
_IGNORED_NAMES = {
    "trainer_state.json",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "README.md",
    "data_manifest.json",
    "tunesafe_model.json",
}


def fingerprint_dir(directory: Path, extra: Iterable[str] = (), *, sort_module_sets: bool = True) -> str:
    """Hash the content of every model-defining file in ``directory`` (not its path).

    Two directories with the same files give the same fingerprint; re-training at the same
    path changes the weights and so the fingerprint. ``sort_module_sets=False`` gives the fingerprint
    earlier versions gave an adapter (see :func:`_adapter_config_hash`).
    """
    directory = Path(directory)
    parts: list[str] = list(extra)
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix in MODEL_FILE_SUFFIXES and p.name not in _IGNORED_NAMES
    )
    for path in files:
        digest = (
            _adapter_config_hash(path, sort_module_sets)
            if path.name == "adapter_config.json"
            else cached_file_hash(path)
        )
        parts.append(f"{path.name}:{digest}")
    return sha256_text("\n".join(parts))


# PEFT records where the base model was on disk; that is a path, not content.
_ADAPTER_PATH_KEYS = ("base_model_name_or_path",)


# PEFT keeps these as sets and writes them in an order that changes with PYTHONHASHSEED: the same
# adapter trained twice would otherwise get two fingerprints (and miss the generation cache).
_ADAPTER_SET_KEYS = ("target_modules", "modules_to_save")


def _adapter_config_hash(path: Path, sort_module_sets: bool = True) -> str:
    """The adapter config without paths; ``sort_module_sets=False`` keeps PEFT's written order, as
    tunesafe before 2026-12 hashed it (so runs recorded then can still be recognised)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in _ADAPTER_PATH_KEYS:
        config.pop(key, None)
    for key in _ADAPTER_SET_KEYS if sort_module_sets else ():
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key])
    return sha256_obj(config)


_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def _memo_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def cached_file_hash(path: Path) -> str:
    """sha256 of a file, read once per process and memoised on (path, size, mtime_ns) to avoid
    re-reading GBs. Nothing is trusted across processes: a byte changed with its mtime kept is seen
    by the next process's first read."""
    key = _memo_key(path)
    if key not in _HASH_MEMO:
        _HASH_MEMO[key] = sha256_file(path)
    return _HASH_MEMO[key]


def remember_file_hash(path: Path, sha256: str) -> None:
    """Record the sha256 of a file this process just wrote and checked, so it is not read again."""
    _HASH_MEMO[_memo_key(path)] = sha256
