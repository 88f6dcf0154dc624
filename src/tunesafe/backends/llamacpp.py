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

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import cached_file_hash, fingerprint_dir, sha256_obj
from tunesafe.backends.base import BackendError, ContinuationScore, ProgressCallback, with_system_prompt
from tunesafe.backends.batching import conversation_seed, length_sorted_batches, split_continuation
from tunesafe.backends.chat_template import ChatTemplate, read_gguf_header
from tunesafe.backends.context_window import TokenReach, count_tokens, gguf_token_reach
from tunesafe.backends.llamacpp_runtime import LlamaCppRuntime
from tunesafe.backends.llamacpp_sampling import choose_token, log_softmax, seeded_rng, token_step
from tunesafe.types import Completion, Conversation, GenParams, TokenStep

if TYPE_CHECKING:
    import numpy as np

    from tunesafe.config import ModelSpec

logger = logging.getLogger(__name__)

BACKEND_VERSION = 1
"""Bump when decoding semantics change: it is part of the fingerprint, so cached text is invalidated."""

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
        self._reach: tuple[TokenReach | None] | None = None  # (value,) once known: None is a value
        self.runtime = LlamaCppRuntime(
            self.gguf_path,
            self.lora_path,
            batch_size=batch_size,
            threads=threads,
            flash_attn=flash_attn,
            name=self.name,
        )
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
                adapter = self.adapter_identity or cached_file_hash(self.lora_path)
            self._fingerprint = self._fingerprint_with(adapter)
        return self._fingerprint

    def earlier_fingerprints(self) -> list[str]:
        """The fingerprint earlier tunesafe versions gave this model, where it differs (a PEFT adapter
        whose module lists were hashed in written order): a run recorded under it still resumes."""
        if self.adapter_identity is None or self.adapter_dir is None or not self.adapter_dir.is_dir():
            return []
        earlier = self._fingerprint_with(fingerprint_dir(self.adapter_dir, sort_module_sets=False))
        return [earlier] if earlier != self.fingerprint() else []

    def _fingerprint_with(self, adapter: str | None) -> str:
        return sha256_obj(
            {
                "backend": "llamacpp",
                "version": BACKEND_VERSION,
                "gguf": cached_file_hash(self.gguf_path),
                "adapter": adapter,
                "system_prompt": self.system_prompt,
                "flash_attn": self.flash_attn,
            }
        )

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
        self.runtime.load()

    # -- tokens -----------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, special tokens parsed, no BOS added (the template writes its own)."""
        return self.runtime.tokenize(text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` with control tokens left out (``skip_special_tokens``)."""
        return self.runtime.detokenize(tokens)

    def encode(self, conversations: Sequence[Conversation]) -> list[list[int]]:
        """Each conversation rendered by the GGUF's chat template (with generation prompt), tokenized."""
        return [self.tokenize(self.chat_template.render(self._with_system(c))) for c in conversations]

    def _with_system(self, conversation: Conversation) -> Conversation:
        return with_system_prompt(conversation, self.system_prompt)

    # -- prompt length ----------------------------------------------------------------------

    def context_window(self) -> int | None:
        """The model's trained context, ``<arch>.context_length`` in the GGUF (llama.cpp's ``n_ctx_train``).

        The runtime sizes its own context to each batch (``LlamaCppRuntime.context``), so that ``n_ctx``
        is no limit; positions past the trained context are what the model cannot take.
        """
        header = read_gguf_header(self.gguf_path)
        length = header.get(f"{header.get('general.architecture')}.context_length")
        return int(length) if isinstance(length, int) and length > 0 else None

    def prompt_tokens(self, conversations: Sequence[Conversation]) -> list[int]:
        """Tokens of each conversation's prompt as ``generate`` feeds it (GGUF chat template, llama.cpp's
        tokenizer; a vocabulary-only load when the model is not loaded); a prompt whose length alone proves
        it over the window is not tokenized (``TokenLowerBound``)."""
        if not conversations:
            return []
        if self._reach is None:
            strips = self.runtime.strips_whitespace()
            self._reach = (None if strips else gguf_token_reach(read_gguf_header(self.gguf_path)),)
        texts = [self.chat_template.render(self._with_system(c)) for c in conversations]
        return count_tokens(
            texts, lambda batch: [len(self.tokenize(t)) for t in batch], self._reach[0], self.context_window()
        )

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
            rngs = (
                None if params.greedy else [seeded_rng(conversation_seed(params.seed, conversations[i])) for i in group]
            )
            completions = self._decode_group([encoded[i] for i in group], params, rngs)
            results.update(zip(group, completions, strict=True))
            if progress is not None:
                progress(len(group))
        return [results[i] for i in range(len(conversations))]

    def _decode_group(self, rows: list[list[int]], params: GenParams, rngs: list[Any] | None) -> list[Completion]:
        runtime = self.runtime
        if any(not row for row in rows):
            raise BackendError(f"{self.name}: the chat template rendered an empty prompt")
        ctx = runtime.fresh_context(max(len(row) for row in rows) + params.max_new_tokens)
        generated: list[list[int]] = [[] for _ in rows]
        steps: list[list[TokenStep]] = [[] for _ in rows]
        done = [False] * len(rows)

        def pick(seq: int, logits: np.ndarray) -> None:
            token = choose_token(logits, params, rngs[seq] if rngs is not None else None)
            generated[seq].append(token)
            if params.logprobs:
                steps[seq].append(token_step(logits, token, params.logprobs))
            if runtime.is_end_of_generation(token) or len(generated[seq]) >= params.max_new_tokens:
                done[seq] = True

        for seq, _pos, logits in runtime.prefill(ctx, rows, [len(row) - 1 for row in rows]):
            self._remember_prompt(rows[seq], logits)
            pick(seq, logits)
        # one new token per unfinished sequence per step
        while not all(done):
            entries = [
                (seq, len(rows[seq]) + len(generated[seq]) - 1, generated[seq][-1], True)
                for seq in range(len(rows))
                if not done[seq]
            ]
            for seq, _pos, logits in runtime.decode_entries(ctx, entries):
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

    def _completion(self, tokens: list[int], steps: list[TokenStep] | None) -> Completion:
        stopped = bool(tokens) and self.runtime.is_end_of_generation(tokens[-1])
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
                scores[index] = ContinuationScore(logprob=float(log_softmax(read)[continuation[0]]), n_tokens=1)
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
        ctx = self.runtime.fresh_context(max(len(key) for key in keys) + 1)
        # logits at position t predict token t + 1: wanted from the shortest member prompt's last token on
        first = [min(len(rows[i][0]) for i in groups[key]) - 1 for key in keys]
        logprobs = {
            (seq, pos): log_softmax(logits)
            for seq, pos, logits in self.runtime.prefill(ctx, [list(k) for k in keys], first)
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
            ctx = self.runtime.fresh_context(max(len(full) for _, full in group) + 1)
            self.runtime.use_adapter(use_adapter)
            try:
                picked = self.runtime.prefill(ctx, [full for _, full in group], [first for first, _ in group])
            finally:
                self.runtime.use_adapter(True)
            for seq in range(len(group)):
                rows_of_seq = [logits for s, _pos, logits in picked if s == seq]
                results.append(torch.from_numpy(np.stack(rows_of_seq)))
        return results

    # -- cleanup ----------------------------------------------------------------------------

    def close(self) -> None:
        """Free the context, the adapter and the model (a later call reloads)."""
        self._prompt_logits.clear()
        self.runtime.close()
