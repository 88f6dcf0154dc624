"""llama.cpp in-process backend: a GGUF model, several sequences decoded in one batch.

llama-cpp-python's high-level ``Llama`` decodes one prompt at a time; on a CPU most of its time
then goes to reading the weights once per token. This backend uses llama.cpp's batch API
(``llama_batch`` with one sequence id per conversation, ``llama_decode``) so that every step
advances up to ``batch_size`` conversations with one pass over the weights, the way llama.cpp's
own ``batched`` example and server slots do.

- The chat template is the GGUF's own (``tokenizer.chat_template``), rendered like transformers'
  ``apply_chat_template``; the text is tokenized without an added BOS, as the HF backend does.
- Decoding follows :class:`~tunesafe.types.GenParams` alone: greedy is the argmax of the raw
  logits; sampling is Gumbel-max over temperature-scaled, top-p-filtered logits with a generator
  seeded from ``params.seed`` and the conversation (as the HF backend), so a conversation's sample
  does not depend on its batch neighbours.
- Token log-probabilities (drift uncertainty) and the entropy of the full next-token
  distribution come from the raw logits; log-likelihoods of given continuations
  (``loglikelihood``) are read from the logits of one forward pass per distinct prefix; a
  one-token continuation of a prompt generation just read (the truthfulness audit's True/False
  margins) is scored from the logits that generation computed.
- A LoRA adapter is a GGUF LoRA (``tunesafe.backends.gguf_export`` converts a PEFT adapter once)
  applied with ``llama_set_adapters_lora``, never merged.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import _cached_file_hash, sha256_obj
from tunesafe.backends.base import BackendError, ContinuationScore, ProgressCallback, with_system_prompt
from tunesafe.backends.chat_template import ChatTemplate
from tunesafe.backends.hf import conversation_seed, length_sorted_batches, split_continuation
from tunesafe.types import Completion, Conversation, GenParams, TokenStep

if TYPE_CHECKING:
    import numpy as np

    from tunesafe.config import ModelSpec

logger = logging.getLogger(__name__)

BACKEND_VERSION = 1
"""Bump when decoding semantics change: it is part of the fingerprint, so cached text is invalidated."""

PROMPT_CHUNK = 512
"""Tokens per ``llama_decode`` call while reading prompts (llama.cpp's default ``n_batch``)."""
CTX_STEP = 256
"""Per-sequence context sizes are rounded up to this many tokens (fewer context rebuilds)."""
MIN_SHARED_PREFIX = 4
"""A prefix all prompts of a batch share is read once when it is at least this many tokens."""
PROMPT_LOGITS_BYTES = 128 * 2**20
"""The next-token logits of the prompts generation last read are kept up to this size (about 200
prompts of a 150k-token vocabulary), so scoring a one-token reply to one of them reads it no more."""


class LlamaCppBackend:
    """A GGUF model run in-process by llama.cpp, with an optional GGUF LoRA adapter.

    The model loads on first use; ``fingerprint()`` reads files only.

    Args:
        gguf_path: the model file.
        lora_path: a GGUF LoRA adapter applied on top (``gguf_export.lora_to_gguf`` makes one).
        adapter_identity: the content identity of the adapter the LoRA came from (its PEFT
            folder's fingerprint); the LoRA file's own hash when not given.
        adapter_dir: where the adapter came from (a PEFT folder), shown by the adapter-applied check.
        batch_size: conversations decoded together.
        threads: CPU threads (default: the cores this process may use).
        system_prompt: prepended as a system turn to conversations that have none.
        flash_attn: llama.cpp's flash attention (faster batched decoding on CPU; the last bits of
            the logits differ from the plain kernel, so near-ties can flip; part of the fingerprint).
        name: shown in logs and manifests.
    """

    def __init__(
        self,
        gguf_path: Path,
        *,
        lora_path: Path | None = None,
        adapter_identity: str | None = None,
        adapter_dir: Path | None = None,
        batch_size: int = 8,
        threads: int | None = None,
        system_prompt: str | None = None,
        flash_attn: bool = True,
        name: str | None = None,
    ) -> None:
        self.gguf_path = Path(gguf_path)
        self.lora_path = Path(lora_path) if lora_path is not None else None
        if not self.gguf_path.is_file():
            raise BackendError(f"{self.gguf_path}: no such GGUF file")
        if self.lora_path is not None and not self.lora_path.is_file():
            raise BackendError(f"{self.lora_path}: no such GGUF LoRA file")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.adapter_identity = adapter_identity
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else self.lora_path
        self.batch_size = batch_size
        self.threads = threads
        self.system_prompt = system_prompt
        self.flash_attn = flash_attn
        adapter = f"+{self.lora_path.stem}" if self.lora_path is not None else ""
        self.name = name or f"llamacpp:{self.gguf_path.stem}{adapter}"
        self._template: ChatTemplate | None = None
        self._fingerprint: str | None = None
        self._model: Any = None
        self._vocab: Any = None
        self._ctx: Any = None
        self._ctx_per_seq = 0
        self._lora: Any = None
        self._n_vocab = 0
        self._prompt_logits: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> LlamaCppBackend:
        """The backend a ``ModelSpec`` with ``backend: llamacpp`` describes: ``source`` is a GGUF file,
        a bundled model name or a transformers folder (exported to GGUF once); ``adapter`` a PEFT
        LoRA folder (converted to a GGUF LoRA once) or a GGUF LoRA file."""
        from tunesafe.backends.gguf_export import resolve_gguf_adapter, resolve_gguf_model

        gguf = resolve_gguf_model(spec.source)
        lora, identity = resolve_gguf_adapter(spec.adapter, spec.source) if spec.adapter else (None, None)
        return cls(
            gguf,
            lora_path=lora,
            adapter_identity=identity,
            adapter_dir=Path(spec.adapter).expanduser() if spec.adapter else None,
            batch_size=spec.batch_size,
            threads=spec.threads,
            system_prompt=spec.system_prompt,
        )

    # -- identity ---------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of the GGUF's content, the adapter's identity and the system prompt (never paths)."""
        if self._fingerprint is None:
            adapter = None
            if self.lora_path is not None:
                adapter = self.adapter_identity or _cached_file_hash(self.lora_path)
            self._fingerprint = sha256_obj(
                {
                    "backend": "llamacpp",
                    "version": BACKEND_VERSION,
                    "gguf": _cached_file_hash(self.gguf_path),
                    "adapter": adapter,
                    "system_prompt": self.system_prompt,
                    "flash_attn": self.flash_attn,
                }
            )
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """What a run manifest records about this backend."""
        import llama_cpp

        return {
            "engine": "llama.cpp",
            "llama_cpp_python": llama_cpp.__version__,
            "gguf": self.gguf_path.name,
            "lora": self.lora_path.name if self.lora_path is not None else None,
            "batch_size": self.batch_size,
            "loglikelihood": "logits",
        }

    @property
    def chat_template(self) -> ChatTemplate:
        if self._template is None:
            self._template = ChatTemplate.from_gguf(self.gguf_path)
        return self._template

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model (and adapter) now; idempotent."""
        if self._model is not None:
            return
        llama_cpp = _llama_cpp()
        params = llama_cpp.llama_model_default_params()
        model = llama_cpp.llama_model_load_from_file(str(self.gguf_path).encode("utf-8"), params)
        if not model:
            raise BackendError(f"{self.gguf_path}: llama.cpp could not load the model")
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        if self.lora_path is not None:
            lora = llama_cpp.llama_adapter_lora_init(model, str(self.lora_path).encode("utf-8"))
            if not lora:
                self.close()
                raise BackendError(f"{self.lora_path}: llama.cpp could not load this LoRA for {self.gguf_path.name}")
            self._lora = lora
        logger.debug("loaded %s (%d-token vocabulary)", self.name, self._n_vocab)

    def _context(self, per_seq: int) -> Any:
        """A context for ``batch_size`` sequences of up to ``per_seq`` tokens each (rebuilt when too small)."""
        per_seq = max(CTX_STEP, math.ceil(per_seq / CTX_STEP) * CTX_STEP)
        if self._ctx is not None and per_seq <= self._ctx_per_seq:
            return self._ctx
        llama_cpp = _llama_cpp()
        self._free_context()
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
        params.n_threads = params.n_threads_batch = self.threads or _available_cores()
        ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not ctx:
            raise BackendError(f"{self.name}: llama.cpp could not create a context of {params.n_ctx} tokens")
        self._ctx, self._ctx_per_seq = ctx, per_seq
        self._use_adapter(True)
        return ctx

    def _use_adapter(self, on: bool) -> None:
        """Switch the LoRA adapter on or off on the current context (the weights stay loaded)."""
        if self._lora is None or self._ctx is None:
            return
        llama_cpp = _llama_cpp()
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._lora)
        scales = (ctypes.c_float * 1)(1.0)
        status = llama_cpp.llama_set_adapters_lora(self._ctx, adapters if on else None, 1 if on else 0, scales)
        if status != 0:
            raise BackendError(f"{self.name}: llama.cpp could not switch the adapter {self.lora_path}")

    # -- tokens -----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, special tokens parsed, no BOS added (the template writes its own)."""
        self.load()
        llama_cpp = _llama_cpp()
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, False, True)
        if n < 0:
            raise BackendError(f"{self.name}: tokenization needs {-n} tokens, more than {capacity}")
        return list(buffer[:n])

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` with control tokens left out (``skip_special_tokens``)."""
        llama_cpp = _llama_cpp()
        pieces = bytearray()
        buffer = ctypes.create_string_buffer(256)
        for token in tokens:
            n = llama_cpp.llama_token_to_piece(self._vocab, int(token), buffer, 256, 0, False)
            if n > 0:
                pieces += buffer.raw[:n]
        return pieces.decode("utf-8", errors="replace")

    def encode(self, conversations: Sequence[Conversation]) -> list[list[int]]:
        """Each conversation rendered by the GGUF's chat template (with generation prompt), tokenized."""
        return [self.tokenize(self.chat_template.render(self._with_system(c))) for c in conversations]

    def _with_system(self, conversation: Conversation) -> Conversation:
        return with_system_prompt(conversation, self.system_prompt)

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenParams,
        progress: ProgressCallback | None = None,
    ) -> list[Completion]:
        """Complete every conversation, in order; up to ``batch_size`` decoded together."""
        if not conversations:
            return []
        self.load()
        encoded = self.encode(conversations)
        results: dict[int, Completion] = {}
        for group in length_sorted_batches([len(ids) for ids in encoded], self.batch_size):
            rngs = None if params.greedy else [_rng(conversation_seed(params.seed, conversations[i])) for i in group]
            completions = self._decode_group([encoded[i] for i in group], params, rngs)
            results.update(zip(group, completions, strict=True))
            if progress is not None:
                progress(len(group))
        return [results[i] for i in range(len(conversations))]

    def _decode_group(self, rows: list[list[int]], params: GenParams, rngs: list[Any] | None) -> list[Completion]:
        llama_cpp = _llama_cpp()
        if any(not row for row in rows):
            raise BackendError(f"{self.name}: the chat template rendered an empty prompt")
        ctx = self._context(max(len(row) for row in rows) + params.max_new_tokens)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        generated: list[list[int]] = [[] for _ in rows]
        steps: list[list[TokenStep]] = [[] for _ in rows]
        done = [False] * len(rows)

        def pick(seq: int, logits: np.ndarray) -> None:
            token = _choose(logits, params, rngs[seq] if rngs is not None else None)
            generated[seq].append(token)
            if params.logprobs:
                steps[seq].append(_token_step(logits, token, params.logprobs))
            if llama_cpp.llama_vocab_is_eog(self._vocab, token) or len(generated[seq]) >= params.max_new_tokens:
                done[seq] = True

        for seq, _pos, logits in self._prefill(ctx, rows, [len(row) - 1 for row in rows]):
            self._remember_prompt(rows[seq], logits)
            pick(seq, logits)
        # one new token per unfinished sequence per step
        while not all(done):
            entries = [
                (seq, len(rows[seq]) + len(generated[seq]) - 1, generated[seq][-1], True)
                for seq in range(len(rows))
                if not done[seq]
            ]
            for seq, _pos, logits in self._decode_entries(ctx, entries):
                pick(seq, logits)
        return [self._completion(generated[seq], steps[seq] if params.logprobs else None) for seq in range(len(rows))]

    def _remember_prompt(self, prompt: list[int], logits: np.ndarray) -> None:
        """Keep the logits after ``prompt`` (adapter on, as generation runs), the oldest dropped past
        :data:`PROMPT_LOGITS_BYTES`."""
        key = tuple(prompt)
        self._prompt_logits[key] = logits
        self._prompt_logits.move_to_end(key)
        while len(self._prompt_logits) * logits.nbytes > PROMPT_LOGITS_BYTES:
            self._prompt_logits.popitem(last=False)

    def _prefill(self, ctx: Any, rows: list[list[int]], first: list[int]) -> list[tuple[int, int, np.ndarray]]:
        """Read each row into its own sequence (row ``i`` is sequence ``i``); logits at positions from ``first[i]`` on.

        The prefix every row shares (the chat template's system turn, typically) is decoded once and
        its KV stream copied to the other sequences. Then each row's rest is decoded alone: llama.cpp
        splits a batch that mixes KV streams into small pieces, which reads prompts several times slower.
        """
        llama_cpp = _llama_cpp()
        shared = min(_common_prefix(rows), min(first)) if len(rows) > 1 else 0
        out: list[tuple[int, int, np.ndarray]] = []
        if shared >= MIN_SHARED_PREFIX:
            self._decode_entries(ctx, [(0, pos, token, False) for pos, token in enumerate(rows[0][:shared])])
            memory = llama_cpp.llama_get_memory(ctx)
            for seq in range(1, len(rows)):
                llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        else:
            shared = 0
        for seq, row in enumerate(rows):
            entries = [(seq, pos, row[pos], pos >= first[seq]) for pos in range(shared, len(row))]
            out.extend(self._decode_entries(ctx, entries))
        return out

    def _decode_entries(
        self, ctx: Any, entries: Sequence[tuple[int, int, int, bool]]
    ) -> list[tuple[int, int, np.ndarray]]:
        """Decode ``(seq, position, token, want_logits)`` entries in chunks; ``(seq, position, logits)`` wanted."""
        import numpy as np

        llama_cpp = _llama_cpp()
        out: list[tuple[int, int, np.ndarray]] = []
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
                        out.append((seq, pos, np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()))
        finally:
            llama_cpp.llama_batch_free(batch)
        return out

    def _completion(self, tokens: list[int], steps: list[TokenStep] | None) -> Completion:
        llama_cpp = _llama_cpp()
        stopped = bool(tokens) and llama_cpp.llama_vocab_is_eog(self._vocab, tokens[-1])
        text_tokens = tokens[:-1] if stopped else tokens
        return Completion(
            text=self.detokenize(text_tokens).strip(),
            finish_reason="stop" if stopped else "length",
            n_tokens=len(tokens),
            steps=steps,
        )

    # -- log-likelihood ---------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[tuple[Conversation, str]]) -> list[ContinuationScore]:
        """Summed natural-log probability of each continuation as the assistant's reply, in order.

        Same request shape as the HF backend (lm-evaluation-harness, Gao et al. 2023): the
        continuation's tokens are those of prompt text + continuation minus the prompt's, or the
        continuation tokenized alone when the tokenizer merges across the boundary. Requests whose
        tokens up to their last continuation token agree share one forward pass.
        """
        if not requests:
            return []
        self.load()
        rows = [self._prompt_and_continuation(conversation, continuation) for conversation, continuation in requests]
        groups: dict[tuple[int, ...], list[int]] = {}
        scores: dict[int, ContinuationScore] = {}
        for index, (prompt, continuation) in enumerate(rows):
            read = self._prompt_logits.get(tuple(prompt)) if len(continuation) == 1 else None
            if read is not None:  # generation already read this prompt
                scores[index] = ContinuationScore(logprob=float(_log_softmax(read)[continuation[0]]), n_tokens=1)
            elif continuation:
                groups.setdefault(tuple(prompt + continuation[:-1]), []).append(index)
            else:
                scores[index] = ContinuationScore(logprob=0.0, n_tokens=0)
        keys = list(groups)
        for start in range(0, len(keys), self.batch_size):
            scores.update(self._score_groups(keys[start : start + self.batch_size], groups, rows))
        return [scores[i] for i in range(len(requests))]

    def _prompt_and_continuation(self, conversation: Conversation, continuation: str) -> tuple[list[int], list[int]]:
        """The templated prompt's tokens and the continuation's: those of prompt text + continuation minus
        the prompt's, or the continuation tokenized alone when the tokenizer merges across the boundary."""
        prompt_text = self.chat_template.render(self._with_system(conversation))
        prompt = self.tokenize(prompt_text)
        if not prompt:
            raise BackendError(f"{self.name}: the chat template rendered an empty prompt")
        if not continuation:
            return prompt, []
        rest = split_continuation(prompt, self.tokenize(prompt_text + continuation))
        return prompt, rest if rest is not None else self.tokenize(continuation)

    def _score_groups(
        self,
        keys: list[tuple[int, ...]],
        groups: dict[tuple[int, ...], list[int]],
        rows: list[tuple[list[int], list[int]]],
    ) -> dict[int, ContinuationScore]:
        llama_cpp = _llama_cpp()
        ctx = self._context(max(len(key) for key in keys) + 1)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        # logits at position t predict token t + 1: wanted from the shortest member prompt's last token on
        first = [min(len(rows[i][0]) for i in groups[key]) - 1 for key in keys]
        logprobs = {
            (seq, pos): _log_softmax(logits) for seq, pos, logits in self._prefill(ctx, [list(k) for k in keys], first)
        }
        scores = {}
        for seq, key in enumerate(keys):
            for index in groups[key]:
                prompt, continuation = rows[index]
                total = sum(float(logprobs[(seq, len(prompt) - 1 + k)][token]) for k, token in enumerate(continuation))
                scores[index] = ContinuationScore(logprob=total, n_tokens=len(continuation))
        return scores

    # -- the adapter-applied check ---------------------------------------------------------

    def reply_logits(self, requests: Sequence[tuple[Conversation, str]], *, use_adapter: bool = True) -> list[Any]:
        """Raw next-token logits over a teacher-forced reply, as ``HFBackend.reply_logits``: per request a
        float32 tensor (1 + reply tokens, vocab); ``use_adapter=False`` switches the GGUF LoRA off on the
        same loaded model (the adapter-applied check, ``tunesafe.adapter_check``)."""
        import numpy as np
        import torch

        if not requests:
            return []
        self.load()
        rows = []
        for conversation, reply in requests:
            prompt, reply_ids = self._prompt_and_continuation(conversation, reply)
            rows.append((len(prompt) - 1, prompt + reply_ids))
        results: list[Any] = []
        for start in range(0, len(rows), self.batch_size):
            group = rows[start : start + self.batch_size]
            ctx = self._context(max(len(full) for _, full in group) + 1)
            llama_cpp = _llama_cpp()
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
            self._use_adapter(use_adapter)
            try:
                picked = self._prefill(ctx, [full for _, full in group], [first for first, _ in group])
            finally:
                self._use_adapter(True)
            for seq in range(len(group)):
                rows_of_seq = [logits for s, _pos, logits in picked if s == seq]
                results.append(torch.from_numpy(np.stack(rows_of_seq)))
        return results

    # -- cleanup ----------------------------------------------------------------------------

    def _free_context(self) -> None:
        if self._ctx is not None:
            _llama_cpp().llama_free(self._ctx)
            self._ctx, self._ctx_per_seq = None, 0

    def close(self) -> None:
        """Free the context, the adapter and the model (a later call reloads)."""
        if self._model is None:
            return
        llama_cpp = _llama_cpp()
        self._free_context()
        self._prompt_logits.clear()
        if self._lora is not None:
            llama_cpp.llama_adapter_lora_free(self._lora)
            self._lora = None
        llama_cpp.llama_model_free(self._model)
        self._model = self._vocab = None

    def __del__(self) -> None:  # the C objects are freed even when close() is forgotten
        with contextlib.suppress(Exception):  # at interpreter shutdown the library may be gone
            self.close()


def _llama_cpp() -> Any:
    """``llama_cpp.llama_cpp`` (the C API), with llama.cpp's own logging quiet; a clear error without it."""
    try:
        import llama_cpp
    except ImportError:
        raise BackendError(
            "backend llamacpp needs llama-cpp-python: pip install 'tunesafe[llamacpp]' (built from source, ~5 min)"
        ) from None
    if not getattr(_llama_cpp, "_initialised", False):
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        _llama_cpp._initialised = True  # type: ignore[attr-defined]
    return llama_cpp.llama_cpp


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every row shares."""
    shortest = min(len(row) for row in rows)
    for position in range(shortest):
        token = rows[0][position]
        if any(row[position] != token for row in rows):
            return position
    return shortest


def _available_cores() -> int:
    """Cores this process may run on (llama.cpp's own default of 4 threads oversubscribes 2 cores)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _rng(seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    values = logits.astype(np.float64)
    shifted = values - values.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


def _choose(logits: np.ndarray, params: GenParams, rng: Any) -> int:
    """Greedy argmax, or a Gumbel-max draw from temperature-scaled, top-p-filtered logits."""
    import numpy as np

    if params.greedy or rng is None:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / params.temperature
    if params.top_p < 1.0:
        order = np.argsort(-scaled)
        probs = np.exp(scaled[order] - scaled[order[0]])
        probs /= probs.sum()
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        keep = np.cumsum(probs) - probs < params.top_p
        mask = np.full(scaled.shape, -np.inf)
        mask[order[keep]] = 0.0
        scaled = scaled + mask
    return int(np.argmax(scaled + rng.gumbel(size=scaled.shape)))


def _token_step(logits: np.ndarray, token: int, k: int) -> TokenStep:
    """The chosen token's log-probability, the full distribution's entropy and the top-k, from raw logits."""
    import numpy as np

    logprobs = _log_softmax(logits)
    probs = np.exp(logprobs)
    entropy = float(-np.sum(np.where(probs > 0, probs * logprobs, 0.0)))
    top = np.argpartition(-logprobs, k)[:k]
    top = top[np.argsort(-logprobs[top], kind="stable")]
    return TokenStep(
        token_id=int(token),
        logprob=float(logprobs[token]),
        entropy=entropy,
        top_ids=[int(i) for i in top],
        top_logprobs=[float(logprobs[i]) for i in top],
    )
