"""What an attestation binds of a model, one content fingerprint per part: the weights, the adapter, the
tokenizer and the chat template, plus the backend's own fingerprint (all of them with the precision and
system prompt that ran). Separate parts give a verifier a reason, not only "different": swapped weights,
a changed adapter and an edited chat template each fail by name.

Local models only (``backend: hf`` folders and ``backend: llamacpp`` GGUF files): a served model's
weights cannot be read, so nothing binds them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesafe._util.hashing import cached_file_hash, fingerprint_dir, sha256_obj, sha256_text
from tunesafe.errors import InputError

__all__ = ["PARTS", "AttestError", "ModelFingerprints", "model_fingerprints"]

PARTS = ("weights", "adapter", "tokenizer", "chat_template")
"""The content parts compared one by one, in the order a verifier reports them."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_WEIGHT_CONFIGS = ("config.json", "generation_config.json")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)
_NOT_WEIGHTS = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"}
_GGUF_TEMPLATE = "tokenizer.chat_template"
_GGUF_TOKENIZER_PREFIX = "tokenizer.ggml."


class AttestError(InputError):
    """An attestation cannot be made or read: a served model, a run that is not finished, a malformed file."""


@dataclass(frozen=True)
class ModelFingerprints:
    """sha256 content fingerprints (never paths) of one audited model."""

    model: str  # the backend's own fingerprint: what the run manifest and the generation cache key on
    weights: str
    adapter: str | None
    tokenizer: str | None
    chat_template: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def model_fingerprints(backend: Any) -> ModelFingerprints:
    """The parts of the model ``backend`` runs (an ``HFBackend`` or a ``LlamaCppBackend``), read from files only.

    Raises:
        AttestError: for any other backend (a served or scripted model has no files to bind).
    """
    if hasattr(backend, "model_dir"):
        return _hf_fingerprints(backend)
    if hasattr(backend, "gguf_path"):
        return _gguf_fingerprints(backend)
    raise AttestError(
        f"{getattr(backend, 'name', type(backend).__name__)}: only local models (backend hf or llamacpp) can be "
        "attested; a served model's weights cannot be read to bind them"
    )


def _hf_fingerprints(backend: Any) -> ModelFingerprints:
    model_dir = Path(backend.model_dir)
    files = sorted(p for p in model_dir.iterdir() if p.is_file())
    weights = [p for p in files if _is_weight_file(p)]
    if not weights:
        raise AttestError(f"{model_dir}: no weight files (*.safetensors, *.bin) to fingerprint")
    tokenizer = [p for p in files if p.name in _TOKENIZER_FILES]
    adapter_dir = getattr(backend, "adapter_dir", None)
    return ModelFingerprints(
        model=backend.fingerprint(),
        weights=_files_digest(weights),
        adapter=fingerprint_dir(Path(adapter_dir)) if adapter_dir is not None else None,
        tokenizer=_files_digest(tokenizer) if tokenizer else None,
        chat_template=_hf_chat_template(model_dir),
    )


def _is_weight_file(path: Path) -> bool:
    return (path.suffix in _WEIGHT_SUFFIXES and path.name not in _NOT_WEIGHTS) or path.name in _WEIGHT_CONFIGS


def _files_digest(paths: list[Path]) -> str:
    """One digest of named files; ``tokenizer_config.json`` without its chat template (a part of its own)."""
    parts = []
    for path in paths:
        if path.name == "tokenizer_config.json":
            config = json.loads(path.read_text(encoding="utf-8"))
            config.pop("chat_template", None)
            digest = sha256_obj(config)
        else:
            digest = cached_file_hash(path)
        parts.append(f"{path.name}:{digest}")
    return sha256_text("\n".join(parts))


def _hf_chat_template(model_dir: Path) -> str | None:
    """The template transformers applies: ``chat_template.jinja``, ``chat_template.json`` or the tokenizer config's."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return sha256_text(jinja.read_text(encoding="utf-8"))
    for name in ("chat_template.json", "tokenizer_config.json"):
        path = model_dir / name
        if path.is_file():
            template = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
            if template:
                return sha256_obj(template)
    return None


def _gguf_fingerprints(backend: Any) -> ModelFingerprints:
    """A GGUF carries its tokenizer and chat template in its metadata: each gets its own digest too."""
    from gguf import GGUFReader

    path = Path(backend.gguf_path)
    reader = GGUFReader(path)
    tokenizer: list[str] = []
    template: str | None = None
    for name, field in sorted(reader.fields.items()):
        if name == _GGUF_TEMPLATE:
            template = sha256_text(str(field.contents()))
        elif name.startswith(_GGUF_TOKENIZER_PREFIX):
            raw = b"".join(bytes(part) for part in field.parts)
            tokenizer.append(f"{name}:{hashlib.sha256(raw).hexdigest()}")
    lora = getattr(backend, "lora_path", None)
    adapter = None
    if lora is not None:
        adapter = getattr(backend, "adapter_identity", None) or cached_file_hash(Path(lora))
    return ModelFingerprints(
        model=backend.fingerprint(),
        weights=cached_file_hash(path),
        adapter=adapter,
        tokenizer=sha256_text("\n".join(tokenizer)) if tokenizer else None,
        chat_template=template,
    )
