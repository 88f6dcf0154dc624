"""llama.cpp's C API for the in-process backend: model, LoRA, a multi-sequence context, tokens, batches.

``LlamaCppRuntime`` owns the C objects (freed by ``close`` or when it is collected) and decodes
``llama_batch`` entries with one sequence id per conversation, so every ``llama_decode`` call
advances several conversations with one pass over the weights. What to decode and what the
logits mean is the backend's business (:mod:`tunesafe.backends.llamacpp`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from tunesafe.backends.base import BackendError

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger("tunesafe.backends.llamacpp")  # the backend's logger, as before the split

PROMPT_CHUNK = 512
"""Tokens per ``llama_decode`` call while reading prompts (llama.cpp's default ``n_batch``)."""
CTX_STEP = 256
"""Per-sequence context sizes are rounded up to this many tokens (fewer context rebuilds)."""
MIN_SHARED_PREFIX = 4
"""A prefix all prompts of a batch share is read once when it is at least this many tokens."""

Logits: TypeAlias = tuple[int, int, "np.ndarray"]
"""``(sequence, position, logits)`` of one decoded entry whose logits were asked for."""


class LlamaCppRuntime:
    """A GGUF model (plus an optional GGUF LoRA) loaded by llama.cpp, and a context for ``batch_size``
    sequences. The model loads on first use; the context grows when a longer sequence needs it."""

    def __init__(
        self,
        gguf_path: Path,
        lora_path: Path | None,
        *,
        batch_size: int,
        threads: int | None,
        flash_attn: bool,
        name: str,
    ) -> None:
        self.gguf_path = gguf_path
        self.lora_path = lora_path
        self.batch_size = batch_size
        self.threads = threads
        self.flash_attn = flash_attn
        self.name = name
        self.n_vocab = 0
        self._model: Any = None
        self._vocab: Any = None
        self._ctx: Any = None
        self._ctx_per_seq = 0
        self._lora: Any = None
        self._vocab_model: Any = None  # a vocabulary-only load, for tokenizing before (or without) the weights

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded now."""
        return self._model is not None

    def load(self) -> None:
        """Load the model (and adapter) now; idempotent."""
        if self._model is not None:
            return
        llama_cpp = llama_cpp_api()
        params = llama_cpp.llama_model_default_params()
        if amx_kernels_built():
            # the AMX kernels compute only on weights in ggml's extra (repacked) buffers
            params.use_extra_bufts = False
        model = llama_cpp.llama_model_load_from_file(str(self.gguf_path).encode("utf-8"), params)
        if not model:
            raise BackendError(f"{self.gguf_path}: llama.cpp could not load the model")
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._free_vocab_model()
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        if self.lora_path is not None:
            lora = llama_cpp.llama_adapter_lora_init(model, str(self.lora_path).encode("utf-8"))
            if not lora:
                self.close()
                raise BackendError(f"{self.lora_path}: llama.cpp could not load this LoRA for {self.gguf_path.name}")
            self._lora = lora
        logger.debug("loaded %s (%d-token vocabulary)", self.name, self.n_vocab)

    def context(self, per_seq: int) -> Any:
        """A context for ``batch_size`` sequences of up to ``per_seq`` tokens each (rebuilt when too small)."""
        per_seq = max(CTX_STEP, math.ceil(per_seq / CTX_STEP) * CTX_STEP)
        if self._ctx is not None and per_seq <= self._ctx_per_seq:
            return self._ctx
        llama_cpp = llama_cpp_api()
        self.free_context()
        params = llama_cpp.llama_context_default_params()
        params.n_seq_max = self.batch_size
        params.n_ctx = per_seq * self.batch_size
        params.n_batch = PROMPT_CHUNK
        params.n_ubatch = PROMPT_CHUNK
        params.kv_unified = False  # one KV stream per sequence: 4-5x faster here than a shared one
        params.no_perf = True
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.flash_attn else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.n_threads = params.n_threads_batch = self.threads or available_cores()
        ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not ctx:
            raise BackendError(f"{self.name}: llama.cpp could not create a context of {params.n_ctx} tokens")
        self._ctx, self._ctx_per_seq = ctx, per_seq
        self.use_adapter(True)
        return ctx

    def fresh_context(self, per_seq: int) -> Any:
        """:meth:`context` with every sequence's memory cleared."""
        ctx = self.context(per_seq)
        llama_cpp = llama_cpp_api()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        return ctx

    def use_adapter(self, on: bool) -> None:
        """Switch the LoRA adapter on or off on the current context (the weights stay loaded)."""
        if self._lora is None or self._ctx is None:
            return
        llama_cpp = llama_cpp_api()
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._lora)
        scales = (ctypes.c_float * 1)(1.0)
        status = llama_cpp.llama_set_adapters_lora(self._ctx, adapters if on else None, 1 if on else 0, scales)
        if status != 0:
            raise BackendError(f"{self.name}: llama.cpp could not switch the adapter {self.lora_path}")

    # -- tokens -----------------------------------------------------------------------------

    def tokenizer_vocab(self) -> Any:
        """The vocabulary: the loaded model's, else one loaded alone (``vocab_only``: no weights read),
        so prompts can be measured on a run served from the cache without loading the model."""
        if self._vocab is not None:
            return self._vocab
        llama_cpp = llama_cpp_api()
        if self._vocab_model is None:
            params = llama_cpp.llama_model_default_params()
            params.vocab_only = True
            model = llama_cpp.llama_model_load_from_file(str(self.gguf_path).encode("utf-8"), params)
            if not model:
                raise BackendError(f"{self.gguf_path}: llama.cpp could not load the model's vocabulary")
            self._vocab_model = model
        return llama_cpp.llama_model_get_vocab(self._vocab_model)

    def strips_whitespace(self) -> bool:
        """Whether a special token of the vocabulary swallows the whitespace next to it (llama.cpp's
        LSTRIP/RSTRIP token attributes, e.g. Phi-3's): text then can vanish into one token."""
        llama_cpp = llama_cpp_api()
        vocab = self.tokenizer_vocab()
        mask = llama_cpp.LLAMA_TOKEN_ATTR_LSTRIP | llama_cpp.LLAMA_TOKEN_ATTR_RSTRIP
        n_tokens = int(llama_cpp.llama_vocab_n_tokens(vocab))
        return any(llama_cpp.llama_vocab_get_attr(vocab, token) & mask for token in range(n_tokens))

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, special tokens parsed, no BOS added (the template writes its own)."""
        llama_cpp = llama_cpp_api()
        vocab = self.tokenizer_vocab()
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), buffer, capacity, False, True)
        if n < 0:
            raise BackendError(f"{self.name}: tokenization needs {-n} tokens, more than {capacity}")
        return list(buffer[:n])

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` with control tokens left out (``skip_special_tokens``)."""
        llama_cpp = llama_cpp_api()
        pieces = bytearray()
        buffer = ctypes.create_string_buffer(256)
        for token in tokens:
            n = llama_cpp.llama_token_to_piece(self._vocab, int(token), buffer, 256, 0, False)
            if n > 0:
                pieces += buffer.raw[:n]
        return pieces.decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        """Whether ``token`` ends a turn (EOS, EOT, ...)."""
        return bool(llama_cpp_api().llama_vocab_is_eog(self._vocab, token))

    # -- decoding ---------------------------------------------------------------------------

    def prefill(self, ctx: Any, rows: list[list[int]], first: list[int]) -> list[Logits]:
        """Read each row into its own sequence (row ``i`` is sequence ``i``); logits at positions from ``first[i]`` on.

        The prefix every row shares (the chat template's system turn, typically) is decoded once and
        its KV stream copied to the other sequences. Then each row's rest is decoded alone: llama.cpp
        splits a batch that mixes KV streams into small pieces, which reads prompts several times slower.
        """
        llama_cpp = llama_cpp_api()
        shared = min(common_prefix(rows), min(first)) if len(rows) > 1 else 0
        out: list[Logits] = []
        if shared >= MIN_SHARED_PREFIX:
            self.decode_entries(ctx, [(0, pos, token, False) for pos, token in enumerate(rows[0][:shared])])
            memory = llama_cpp.llama_get_memory(ctx)
            for seq in range(1, len(rows)):
                llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        else:
            shared = 0
        for seq, row in enumerate(rows):
            entries = [(seq, pos, row[pos], pos >= first[seq]) for pos in range(shared, len(row))]
            out.extend(self.decode_entries(ctx, entries))
        return out

    def decode_entries(self, ctx: Any, entries: Sequence[tuple[int, int, int, bool]]) -> list[Logits]:
        """Decode ``(seq, position, token, want_logits)`` entries in chunks; ``(seq, position, logits)`` wanted."""
        import numpy as np

        llama_cpp = llama_cpp_api()
        out: list[Logits] = []
        batch = llama_cpp.llama_batch_init(PROMPT_CHUNK, 0, 1)
        try:
            for start in range(0, len(entries), PROMPT_CHUNK):
                chunk = entries[start : start + PROMPT_CHUNK]
                for i, (seq, pos, token, want) in enumerate(chunk):
                    batch.token[i] = token
                    batch.pos[i] = pos
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = seq
                    batch.logits[i] = want
                batch.n_tokens = len(chunk)
                status = llama_cpp.llama_decode(ctx, batch)
                if status != 0:
                    raise BackendError(f"{self.name}: llama_decode failed (status {status})")
                for i, (seq, pos, _token, want) in enumerate(chunk):
                    if want:
                        pointer = llama_cpp.llama_get_logits_ith(ctx, i)
                        out.append((seq, pos, np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()))
        finally:
            llama_cpp.llama_batch_free(batch)
        return out

    # -- cleanup ----------------------------------------------------------------------------

    def free_context(self) -> None:
        """Free the context (the model stays loaded)."""
        if self._ctx is not None:
            llama_cpp_api().llama_free(self._ctx)
            self._ctx, self._ctx_per_seq = None, 0

    def _free_vocab_model(self) -> None:
        if self._vocab_model is not None:
            llama_cpp_api().llama_model_free(self._vocab_model)
            self._vocab_model = None

    def close(self) -> None:
        """Free the context, the adapter and the model (a later call reloads)."""
        self._free_vocab_model()
        if self._model is None:
            return
        llama_cpp = llama_cpp_api()
        self.free_context()
        if self._lora is not None:
            llama_cpp.llama_adapter_lora_free(self._lora)
            self._lora = None
        llama_cpp.llama_model_free(self._model)
        self._model = self._vocab = None

    def __del__(self) -> None:  # the C objects are freed even when close() is forgotten
        with contextlib.suppress(Exception):  # at interpreter shutdown the library may be gone
            self.close()


_initialised = False


def llama_cpp_api() -> Any:
    """``llama_cpp.llama_cpp`` (the C API), with llama.cpp's own logging quiet; a clear error without it."""
    try:
        import llama_cpp
    except ImportError:
        raise BackendError(
            "backend llamacpp needs llama-cpp-python: pip install 'tunesafe[llamacpp]' (built from source, ~5 min)"
        ) from None
    global _initialised
    if not _initialised:
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        _initialised = True
    return llama_cpp.llama_cpp


_amx_checked: bool | None = None


def amx_kernels_built() -> bool:
    """Whether the installed llama.cpp has ggml's AMX kernels (a build from source with -march=native
    on a CPU with AMX), warning once when it does.

    GCC up to at least 12 miscompiles them (its ``_tile_loadconfig`` lets the stores of the tile
    configuration be dropped), so every prompt of more than a few tokens segfaults in
    ``llama_decode``. ``make install`` builds without them (cmake/llama-cpp-text-only.cmake); for
    any other build tunesafe keeps the weights out of ggml's extra buffer types, the only ones the
    AMX kernels run on (weight repacking goes with them: slower, never a crash).
    """
    global _amx_checked
    if _amx_checked is None:
        info = llama_cpp_api().llama_print_system_info() or b""
        _amx_checked = has_amx_kernels(info.decode("utf-8", errors="replace"))
        if _amx_checked:
            logger.warning(
                "this llama-cpp-python build has ggml's AMX kernels, which GCC miscompiles (a segfault in "
                "llama_decode): tunesafe leaves out llama.cpp's extra weight buffers (no repacking, slower). "
                "Rebuild it without them: make llama-wheel (see cmake/llama-cpp-text-only.cmake)"
            )
    return _amx_checked


def has_amx_kernels(system_info: str) -> bool:
    """Whether ``llama_print_system_info()`` text reports ggml's AMX-INT8 kernels compiled in."""
    return re.search(r"\bAMX_INT8\s*=\s*1\b", system_info) is not None


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every row shares."""
    shortest = min(len(row) for row in rows)
    for position in range(shortest):
        token = rows[0][position]
        if any(row[position] != token for row in rows):
            return position
    return shortest


def available_cores() -> int:
    """Cores this process may run on (llama.cpp's own default of 4 threads oversubscribes 2 cores)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
