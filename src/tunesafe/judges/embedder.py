"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (Reimers & Gurevych 2019; Wang et al. 2020).

Plain ``transformers`` (no sentence-transformers): the token states of the last layer are
mean-pooled over the attention mask and L2-normalised, which is how the sentence-transformers
checkpoint was trained and evaluated. Texts are sorted by length into batches (less padding) and
the vectors come back in the caller's order.

The loaded tokenizer and model are shared process-wide, keyed by folder, so several judges (or
tests) using the same embedder load it once. torch and transformers are imported lazily.

Reimers N, Gurevych I (2019). Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks.
    EMNLP 2019. arXiv:1908.10084.
Wang W, Wei F, Dong L, Bao H, Yang N, Zhou M (2020). MiniLM: Deep Self-Attention Distillation for
    Task-Agnostic Compression of Pre-Trained Transformers. NeurIPS 2020. arXiv:2002.10957.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import sha256_obj

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EMBEDDER_ID", "EMBEDDING_DIM", "Embedder", "clear_model_cache"]

log = logging.getLogger(__name__)

EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
POOLING = "mean"
EMBEDDER_VERSION = 1
"""Bump when the embedding computation changes: it is part of the fingerprint."""

_MODELS: dict[str, tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def _load(folder: Path) -> tuple[Any, Any]:
    """(tokenizer, model) for ``folder``, loaded once per process (CPU, fp32, eval mode)."""
    key = str(Path(folder).resolve())
    with _LOCK:
        if key not in _MODELS:
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(key)
            model = AutoModel.from_pretrained(key)
            model.eval()
            _MODELS[key] = (tokenizer, model)
            log.debug("loaded embedder from %s", key)
        return _MODELS[key]


def clear_model_cache() -> None:
    """Forget every loaded embedder model (frees memory; the next ``embed`` reloads)."""
    with _LOCK:
        _MODELS.clear()


class Embedder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 sentence embeddings (384 floats per text).

    Args:
        folder: a transformers folder with the model; default the verified bundled one
            (``tunesafe.assets.embedder_dir()``), resolved on first use.
        batch_size: texts per forward pass.
        max_length: tokens kept per text (longer texts are truncated; the checkpoint was trained
            with 256 word pieces, Reimers & Gurevych 2019).
    """

    def __init__(self, folder: Path | None = None, batch_size: int = 32, max_length: int = 256) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {max_length}")
        self._folder = Path(folder) if folder is not None else None
        self._custom = folder is not None  # hashed by content; the bundled one by its pins, fetched or not
        self.batch_size = batch_size
        self.max_length = max_length

    @property
    def folder(self) -> Path:
        """The model folder (the bundled one is fetched and verified on first access)."""
        if self._folder is None:
            from tunesafe.assets import embedder_dir

            self._folder = embedder_dir()
        return self._folder

    def fingerprint(self) -> str:
        """Hash of the pinned model files (sha256s) and the pooling settings; never a path.

        A custom ``folder`` is hashed by content instead of the pins.
        """
        from tunesafe.assets import EMBEDDER_FILES

        files: Any = dict(EMBEDDER_FILES)
        if self._custom and self._folder is not None:
            from tunesafe._util.hashing import fingerprint_dir

            files = fingerprint_dir(self._folder)
        return sha256_obj(
            {
                "embedder": EMBEDDER_ID,
                "version": EMBEDDER_VERSION,
                "files": files,
                "pooling": POOLING,
                "normalize": True,
                "max_length": self.max_length,
            }
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` in order: a float32 array of shape (n, 384), rows of unit length."""
        import numpy as np

        texts = list(texts)
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        import torch

        tokenizer, model = _load(self.folder)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                states = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().numpy()
        return out

    def __repr__(self) -> str:
        return f"Embedder(folder={self._folder}, batch_size={self.batch_size}, max_length={self.max_length})"
