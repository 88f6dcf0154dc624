"""Hugging Face transformers backend: batched, left-padded chat generation, optional LoRA adapter.

The model's own chat template renders each conversation; prompts are sorted by length into
batches (less padding) and results come back in the caller's order. A LoRA adapter is applied
with ``peft.PeftModel.from_pretrained`` and never merged, so the base weights stay untouched.

Decoding is defined by :class:`~tunesafe.types.GenParams` alone. The model's
``generation_config.json`` contributes only its EOS ids: its sampling defaults, repetition
penalty and the like are overridden with neutral values, so an audit decodes every model the same
way and a cached completion means the same thing for every model.

Sampling (``temperature > 0``) reproducibility:

* guaranteed: the same conversation, ``GenParams`` (seed included), model files, dtype, device
  and library versions give the same text; each conversation draws its noise from its own
  generator, seeded from ``params.seed`` and the conversation's content, so the result does not
  depend on which other conversations share the batch or on their order;
* not guaranteed: equality across devices, dtypes or torch versions, and, rarely, across batch
  compositions, because padding changes matrix shapes and so the last bits of the logits, which
  can flip a near-tie. Identical conversations in one call get identical samples; vary the seed
  for several samples of one prompt.

Sampling uses the Gumbel-max trick (argmax of temperature-scaled, top-p-filtered logits plus
Gumbel noise), which draws from exactly the same distribution as softmax sampling.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import fingerprint_dir, sha256_obj
from tunesafe._util.precision import DTYPE_CHOICES, resolve_device, resolve_dtype
from tunesafe.backends.base import BackendError, ContinuationScore, ProgressCallback, with_system_prompt
from tunesafe.backends.batching import (
    conversation_seed,
    cut_at_eos,
    eos_token_ids,
    left_pad,
    length_sorted_batches,
    right_pad,
    split_continuation,
)
from tunesafe.backends.context_window import TokenReach, count_tokens, hf_token_reach
from tunesafe.backends.hf_decoding import generation_config, sampling_processors, token_steps
from tunesafe.backends.hf_loading import input_device, load_model, load_tokenizer, require_file, stated_context_window
from tunesafe.types import Completion, Conversation, GenParams

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

BACKEND_VERSION = 1
"""Bump when decoding semantics change: it is part of the fingerprint, so cached text is invalidated."""


class HFBackend:
    """A local Hugging Face causal LM (plus an optional, unmerged LoRA adapter) as a Backend.

    The model loads on first use (``generate``, ``model`` or ``tokenizer``), so a run served
    entirely from the cache never loads it. ``fingerprint()`` reads files only (and, for ``dtype``
    "auto", asks torch which device is there: no model is loaded).

    Args:
        model_dir: a transformers model directory with a tokenizer and a chat template.
        adapter_dir: a PEFT (LoRA) adapter directory applied on top, without merging.
        batch_size: conversations per ``generate`` call.
        dtype: "auto" (bfloat16 on a CUDA GPU that supports it, float16 on an older one, float32 on
            CPU; see ``resolved_dtype``), "float32", "bfloat16" or "float16".
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", ...
        threads: torch CPU threads (``torch.set_num_threads``); None leaves torch's default.
        system_prompt: prepended as a system turn to conversations that have none.
        device_map: passed to ``from_pretrained`` (accelerate): "auto" shards a model too large for
            one GPU across all of them; ``device`` must then stay "auto". Inputs go to the device of
            the input embeddings.
    """

    def __init__(
        self,
        model_dir: Path,
        adapter_dir: Path | None = None,
        batch_size: int = 8,
        dtype: str = "auto",
        device: str = "auto",
        threads: int | None = None,
        system_prompt: str | None = None,
        device_map: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        require_file(self.model_dir, "config.json", "model")
        if self.adapter_dir is not None:
            require_file(self.adapter_dir, "adapter_config.json", "adapter")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if dtype not in DTYPE_CHOICES:
            raise ValueError(f"dtype must be one of {DTYPE_CHOICES}, got {dtype!r}")
        if device_map is not None and device != "auto":
            raise ValueError(f"device_map {device_map!r} places the model itself; leave device at auto, not {device!r}")
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.device_map = device_map
        self.threads = threads
        self.system_prompt = system_prompt
        adapter = f"+{self.adapter_dir.name}" if self.adapter_dir is not None else ""
        self.name = f"hf:{self.model_dir.name}{adapter}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos_ids: set[int] = set()
        self._pad_id: int = 0
        self._input_device: Any = None
        self._resolved_dtype: str | None = None
        self._fingerprint: str | None = None
        self._reach: tuple[TokenReach | None] | None = None  # (value,) once known: None is a value
        self._window: tuple[int | None] | None = None

    # -- identity ---------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of the model files, the adapter files, the resolved dtype and system prompt (never paths).

        The dtype is the one that runs (``resolved_dtype``), so "auto" and the dtype it stands for on
        this machine share cached generations, and a run resumed at another precision is refused.
        """
        if self._fingerprint is None:
            adapter = fingerprint_dir(self.adapter_dir) if self.adapter_dir is not None else None
            self._fingerprint = self._fingerprint_with(adapter)
        return self._fingerprint

    def earlier_fingerprints(self) -> list[str]:
        """The fingerprint earlier versions gave this model (its adapter's module lists as written), if other."""
        if self.adapter_dir is None:
            return []
        earlier = self._fingerprint_with(fingerprint_dir(self.adapter_dir, sort_module_sets=False))
        return [earlier] if earlier != self.fingerprint() else []

    def _fingerprint_with(self, adapter: str | None) -> str:
        return sha256_obj(
            {
                "backend": "hf",
                "version": BACKEND_VERSION,
                "model": fingerprint_dir(self.model_dir),
                "adapter": adapter,
                "dtype": self.resolved_dtype(),
                "system_prompt": self.system_prompt,
            }
        )

    # -- loading ----------------------------------------------------------------------------

    @property
    def model(self) -> Any:
        """The loaded model (a ``peft.PeftModel`` when an adapter is given); loads on first access."""
        self.load()
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The loaded tokenizer (left padding); loads on first access."""
        self.load()
        return self._tokenizer

    def load(self) -> None:
        """Load tokenizer, model and adapter now (idempotent)."""
        if self._model is not None:
            return
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        tokenizer = self._load_tokenizer()
        dtype = getattr(torch, self.resolved_dtype())
        model = load_model(self.model_dir, self.adapter_dir, dtype, self.resolved_device(), self.device_map)
        self._eos_ids = eos_token_ids(model.generation_config.eos_token_id, tokenizer.eos_token_id)
        if not self._eos_ids:
            raise BackendError(f"{self.model_dir}: no EOS token in the tokenizer or generation config")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._pad_id = int(tokenizer.pad_token_id)
        self._input_device = input_device(model)
        self._tokenizer, self._model = tokenizer, model
        placement = f"device_map {self.device_map!r}" if self.device_map is not None else self.resolved_device()
        logger.debug("loaded %s on %s (%s)", self.name, placement, self.resolved_dtype())

    def _load_tokenizer(self) -> Any:
        """The tokenizer alone (measuring prompts needs no weights: a run served from the cache loads none)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.model_dir)
        return self._tokenizer

    def resolved_device(self) -> str:
        """The concrete device: "auto" becomes "cuda" when available, else "cpu". With a ``device_map``
        and the model loaded, the device its inputs go to (the input embeddings')."""
        if self.device_map is not None and self._input_device is not None:
            return str(self._input_device)
        return resolve_device(self.device)

    def resolved_dtype(self) -> str:
        """The concrete dtype: "auto" becomes bfloat16 on a CUDA GPU with native bf16, float16 on an
        older CUDA GPU, float32 on CPU (resolved once; cheap: no model is loaded)."""
        if self._resolved_dtype is None:
            self._resolved_dtype = resolve_dtype(self.dtype, resolve_device(self.device))
        return self._resolved_dtype

    def describe(self) -> dict[str, Any]:
        """What a run manifest records of this backend (``info.backend_info``): the precision and the
        placement that actually ran (the config may say only "auto")."""
        placement = {"device_map": self.device_map} if self.device_map is not None else {}
        return {"dtype": self.resolved_dtype(), "device": self.resolved_device(), **placement}

    # -- generation -------------------------------------------------------------------------

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenParams,
        progress: ProgressCallback | None = None,
    ) -> list[Completion]:
        """Complete every conversation, in order (batched by prompt length internally)."""
        if not conversations:
            return []
        self.load()
        encoded = self.encode(conversations)
        results: dict[int, Completion] = {}
        for batch in length_sorted_batches([len(ids) for ids in encoded], self.batch_size):
            seeds = None if params.greedy else [conversation_seed(params.seed, conversations[i]) for i in batch]
            completions = self._generate_batch([encoded[i] for i in batch], params, seeds)
            results.update(zip(batch, completions, strict=True))
            if progress is not None:
                progress(len(batch))
        return [results[index] for index in range(len(conversations))]

    def encode(self, conversations: Sequence[Conversation]) -> list[list[int]]:
        """Render each conversation with the chat template (plus generation prompt) and tokenize it."""
        tokenizer = self.tokenizer
        texts = [self._render(conv) for conv in conversations]
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _render(self, conversation: Conversation) -> str:
        """The prompt text ``generate`` tokenizes: system prompt, chat template, generation prompt."""
        text: str = self._load_tokenizer().apply_chat_template(
            self._with_system(conversation), add_generation_prompt=True, tokenize=False
        )
        return text

    # -- prompt length ----------------------------------------------------------------------

    def context_window(self) -> int | None:
        """The model's context window: ``config.json``'s ``max_position_embeddings`` (or the like; a
        multimodal config's ``text_config``), or the tokenizer's ``model_max_length`` when that is a real
        limit and smaller. Reads files and the tokenizer only, never the weights."""
        if self._window is None:
            self._window = (stated_context_window(self.model_dir, self._load_tokenizer()),)
        return self._window[0]

    def prompt_tokens(self, conversations: Sequence[Conversation]) -> list[int]:
        """Tokens of each conversation's prompt as ``generate`` feeds it (same rendering, same tokenizer);
        a prompt whose length alone proves it over the window is not tokenized (``TokenLowerBound``)."""
        if not conversations:
            return []
        tokenizer = self._load_tokenizer()
        if self._reach is None:
            self._reach = (hf_token_reach(tokenizer),)

        def count(texts: list[str]) -> list[int]:
            return [len(ids) for ids in self._tokenizer(texts, add_special_tokens=False)["input_ids"]]

        texts = [self._render(conv) for conv in conversations]
        return count_tokens(texts, count, self._reach[0], self.context_window())

    # -- log-likelihood ---------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[tuple[Conversation, str]]) -> list[ContinuationScore]:
        """Summed natural-log probability of each continuation as the assistant's reply, in order.

        The prompt is the conversation rendered by the chat template with the generation prompt
        (as ``generate`` sees it); the continuation's tokens are those of the prompt text plus the
        continuation, minus the prompt's tokens (lm-evaluation-harness's request shape, Gao et al.
        2023). If the tokenizer merges across that boundary, the continuation is tokenized on its
        own after the prompt's tokens instead. Rows are scored unpadded in effect: batches are
        right-padded, so causal attention keeps padding out of every scored position.
        """
        if not requests:
            return []
        self.load()
        tokenizer = self._tokenizer
        rows: list[tuple[list[int], list[int]]] = []
        for conversation, continuation in requests:
            prompt_text = self._render(conversation)
            prompt = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
            if not prompt:
                raise BackendError(f"{self.name}: the chat template rendered an empty prompt")
            rows.append((prompt, self._continuation_ids(prompt_text, prompt, continuation)))
        # Requests whose tokens up to the last continuation token agree share one forward pass
        # (e.g. " True" and " False" after one prompt), as lm-evaluation-harness groups them.
        groups: dict[tuple[int, ...], list[int]] = {}
        results: dict[int, ContinuationScore] = {}
        for index, (prompt_ids, continuation_ids) in enumerate(rows):
            if continuation_ids:
                groups.setdefault(tuple(prompt_ids + continuation_ids[:-1]), []).append(index)
            else:
                results[index] = ContinuationScore(logprob=0.0, n_tokens=0)
        keys = list(groups)
        for batch in length_sorted_batches([len(k) for k in keys], self.batch_size):
            members = [(i, rows[i]) for k in batch for i in groups[keys[k]]]
            owner = {i: n for n, k in enumerate(batch) for i in groups[keys[k]]}
            results.update(self._score_batch([list(keys[k]) for k in batch], members, owner))
        return [results[index] for index in range(len(requests))]

    def _continuation_ids(self, prompt_text: str, prompt_ids: list[int], continuation: str) -> list[int]:
        tokenizer = self._tokenizer
        full = tokenizer(prompt_text + continuation, add_special_tokens=False)["input_ids"]
        ids = split_continuation(prompt_ids, full)
        if ids is None:
            logger.debug("tokens merge across the prompt/continuation boundary; tokenizing the continuation alone")
            ids = list(tokenizer(continuation, add_special_tokens=False)["input_ids"])
        return ids

    def reply_logits(
        self, requests: Sequence[tuple[Conversation, str]], *, use_adapter: bool = True
    ) -> list[torch.Tensor]:
        """Raw next-token logits over a teacher-forced reply: for each (conversation, reply), a float32
        CPU tensor (1 + reply tokens, vocab) holding the logits at the generation position and after
        each reply token. ``use_adapter=False`` runs the same loaded model with the LoRA adapter
        switched off (``peft``'s ``disable_adapter``): the base model, without a second copy.

        Batches are right-padded, so every kept position sees exactly its unpadded prefix.
        """
        import contextlib

        import torch

        if not requests:
            return []
        self.load()
        tokenizer = self._tokenizer
        rows = []
        for conversation, reply in requests:
            prompt_text = self._render(conversation)
            prompt = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
            reply_ids = self._continuation_ids(prompt_text, prompt, reply) if reply else []
            rows.append((len(prompt) - 1, prompt + reply_ids))
        switch = contextlib.nullcontext()
        if not use_adapter and self.adapter_dir is not None:
            switch = self._model.disable_adapter()
        results: dict[int, torch.Tensor] = {}
        device = self._input_device
        with switch, torch.inference_mode():
            for batch in length_sorted_batches([len(r[1]) for r in rows], self.batch_size):
                ids, mask = right_pad([rows[i][1] for i in batch], self._pad_id)
                first = min(rows[i][0] for i in batch)
                inputs = {
                    "input_ids": torch.tensor(ids, dtype=torch.long, device=device),
                    "attention_mask": torch.tensor(mask, dtype=torch.long, device=device),
                }
                try:
                    keep = torch.arange(first, len(ids[0]), device=device)
                    logits, offset = self._model(**inputs, logits_to_keep=keep).logits, first
                except TypeError:  # a model class without ``logits_to_keep``
                    logits, offset = self._model(**inputs).logits, 0
                for n, i in enumerate(batch):
                    start, row = rows[i][0] - offset, rows[i][1]
                    results[i] = logits[n, start : len(row) - offset].float().cpu()
        return [results[i] for i in range(len(requests))]

    def _score_batch(
        self,
        sequences: list[list[int]],
        members: list[tuple[int, tuple[list[int], list[int]]]],
        owner: dict[int, int],
    ) -> dict[int, ContinuationScore]:
        """One forward pass over ``sequences``; each member request read from its owner's row."""
        import torch

        ids, mask = right_pad(sequences, self._pad_id)
        device = self._input_device
        # logits at position t predict token t + 1: only the span of positions before continuation
        # tokens is projected onto the vocabulary, not the whole prompt
        first = min(len(prompt) for _, (prompt, _c) in members) - 1
        last = max(len(sequence) for sequence in sequences)
        inputs = {
            "input_ids": torch.tensor(ids, dtype=torch.long, device=device),
            "attention_mask": torch.tensor(mask, dtype=torch.long, device=device),
        }
        with torch.inference_mode():
            try:
                keep = torch.arange(first, last, device=device)
                logits = self._model(**inputs, logits_to_keep=keep).logits
                offset = first
            except TypeError:  # a model class without ``logits_to_keep``: project every position
                logits = self._model(**inputs).logits
                offset = 0
        scores = {}
        for index, (prompt, continuation) in members:
            start = len(prompt) - 1 - offset
            picked = logits[owner[index], start : start + len(continuation)].double().log_softmax(dim=-1)
            target = torch.tensor(continuation, dtype=torch.long, device=picked.device)
            total = picked.gather(1, target[:, None]).sum()
            scores[index] = ContinuationScore(logprob=float(total), n_tokens=len(continuation))
        return scores

    def _with_system(self, conversation: Conversation) -> Conversation:
        return with_system_prompt(conversation, self.system_prompt)

    def _generate_batch(self, rows: list[list[int]], params: GenParams, seeds: list[int] | None) -> list[Completion]:
        import torch

        ids, mask = left_pad(rows, self._pad_id)
        device = self._input_device
        input_ids = torch.tensor(ids, dtype=torch.long, device=device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=device)
        with torch.inference_mode():
            output = self._model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=generation_config(params, self._eos_ids, self._pad_id),
                logits_processor=sampling_processors(params, seeds),
            )
        sequences = output.sequences if params.logprobs else output
        new_tokens = sequences[:, input_ids.shape[1] :].tolist()
        completions = [self._completion(row) for row in new_tokens]
        if params.logprobs:
            for row, completion in enumerate(completions):
                completion.steps = token_steps(
                    output.logits, row, new_tokens[row][: completion.n_tokens], params.logprobs
                )
        return completions

    def _completion(self, new_ids: list[int]) -> Completion:
        finished = cut_at_eos(new_ids, self._eos_ids)
        text = self._tokenizer.decode(finished.text_ids, skip_special_tokens=True).strip()
        return Completion(text=text, finish_reason=finished.finish_reason, n_tokens=finished.n_tokens)

    # -- cleanup ----------------------------------------------------------------------------

    def close(self) -> None:
        """Drop the model and tokenizer and free their memory (a later ``generate`` reloads)."""
        self._model = None
        self._tokenizer = None
        self._input_device = None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
