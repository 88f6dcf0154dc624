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
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tunesafe._util.hashing import fingerprint_dir, sha256_obj
from tunesafe._util.precision import DTYPE_CHOICES, resolve_device, resolve_dtype
from tunesafe.backends.base import BackendError, ContinuationScore, ProgressCallback, with_system_prompt
from tunesafe.types import Completion, Conversation, GenParams, TokenStep

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

BACKEND_VERSION = 1
"""Bump when decoding semantics change: it is part of the fingerprint, so cached text is invalidated."""

# Everything in a model's generation_config.json that could change which token is picked, reset to
# the value that changes nothing. Values left as None would be filled in from the model's file.
_NEUTRAL_DECODING: dict[str, Any] = {
    "do_sample": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "length_penalty": 1.0,
    "min_length": 0,
    "num_return_sequences": 1,
    "use_cache": True,
    "output_scores": False,
    "return_dict_in_generate": False,
}


class Finished(NamedTuple):
    """One generated row cut at its first EOS."""

    text_ids: list[int]
    """Generated tokens before the EOS (what is decoded)."""
    n_tokens: int
    """Tokens generated, the EOS included."""
    finish_reason: str
    """"stop" when an EOS was produced, else "length"."""


def cut_at_eos(new_ids: Sequence[int], eos_ids: set[int]) -> Finished:
    """Cut generated ids at the first EOS; padding after it is dropped."""
    for position, token in enumerate(new_ids):
        if token in eos_ids:
            return Finished(list(new_ids[:position]), position + 1, "stop")
    return Finished(list(new_ids), len(new_ids), "length")


def conversation_seed(seed: int, conversation: Conversation) -> int:
    """A 60-bit sampling seed from ``seed`` and the conversation's content (not its batch position)."""
    return int(sha256_obj({"seed": seed, "messages": conversation})[:15], 16)


def eos_token_ids(generation_eos: int | list[int] | None, tokenizer_eos: int | None) -> set[int]:
    """All EOS ids: the generation config's (an int or a list) plus the tokenizer's."""
    ids: set[int] = set()
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos:
        ids.update(int(i) for i in generation_eos)
    if tokenizer_eos is not None:
        ids.add(int(tokenizer_eos))
    return ids


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (OOM shows up at once)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def right_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Right-pad token rows to one length: (input_ids, attention_mask). Scoring pads on the right, so
    every real token keeps its unpadded position and causal attention never sees the padding."""
    width = max(len(row) for row in rows)
    ids = [list(row) + [pad_id] * (width - len(row)) for row in rows]
    mask = [[1] * len(row) + [0] * (width - len(row)) for row in rows]
    return ids, mask


def split_continuation(prompt_ids: Sequence[int], full_ids: Sequence[int]) -> list[int] | None:
    """The continuation's tokens: ``full_ids`` minus the prompt's tokens, or None when the full text's
    tokenization does not start with the prompt's (a merge across the boundary)."""
    if len(full_ids) < len(prompt_ids) or list(full_ids[: len(prompt_ids)]) != list(prompt_ids):
        return None
    return list(full_ids[len(prompt_ids) :])


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Left-pad token rows to one length: (input_ids, attention_mask)."""
    width = max(len(row) for row in rows)
    ids = [[pad_id] * (width - len(row)) + list(row) for row in rows]
    mask = [[0] * (width - len(row)) + [1] * len(row) for row in rows]
    return ids, mask


class _SeededGumbelNoise:
    """Logits processor adding per-row Gumbel noise from per-row generators (seeded sampling)."""

    def __init__(self, seeds: Sequence[int]) -> None:
        import torch

        self._generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import torch

        vocab = scores.shape[-1]
        uniform = torch.stack([torch.rand(vocab, generator=g, dtype=torch.float64) for g in self._generators])
        uniform = uniform.clamp_(min=1e-300, max=1.0 - 1e-16)
        gumbel = -torch.log(-torch.log(uniform))
        return scores + gumbel.to(device=scores.device, dtype=scores.dtype)


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
        _require_file(self.model_dir, "config.json", "model")
        if self.adapter_dir is not None:
            _require_file(self.adapter_dir, "adapter_config.json", "adapter")
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

    # -- identity ---------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of the model files, the adapter files, the resolved dtype and system prompt (never paths).

        The dtype is the one that runs (``resolved_dtype``), so "auto" and the dtype it stands for on
        this machine share cached generations, and a run resumed at another precision is refused.
        """
        if self._fingerprint is None:
            adapter = fingerprint_dir(self.adapter_dir) if self.adapter_dir is not None else None
            self._fingerprint = sha256_obj(
                {
                    "backend": "hf",
                    "version": BACKEND_VERSION,
                    "model": fingerprint_dir(self.model_dir),
                    "adapter": adapter,
                    "dtype": self.resolved_dtype(),
                    "system_prompt": self.system_prompt,
                }
            )
        return self._fingerprint

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
        tokenizer = _load_tokenizer(self.model_dir)
        dtype = getattr(torch, self.resolved_dtype())
        model = _load_model(self.model_dir, self.adapter_dir, dtype, self.resolved_device(), self.device_map)
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
        texts = [
            tokenizer.apply_chat_template(self._with_system(conv), add_generation_prompt=True, tokenize=False)
            for conv in conversations
        ]
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

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
        rows = []
        for conversation, continuation in requests:
            prompt_text = tokenizer.apply_chat_template(
                self._with_system(conversation), add_generation_prompt=True, tokenize=False
            )
            prompt = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
            if not prompt:
                raise BackendError(f"{self.name}: the chat template rendered an empty prompt")
            rows.append((prompt, self._continuation_ids(prompt_text, prompt, continuation)))
        # Requests whose tokens up to the last continuation token agree share one forward pass
        # (e.g. " True" and " False" after one prompt), as lm-evaluation-harness groups them.
        groups: dict[tuple[int, ...], list[int]] = {}
        results: dict[int, ContinuationScore] = {}
        for index, (prompt, continuation) in enumerate(rows):
            if continuation:
                groups.setdefault(tuple(prompt + continuation[:-1]), []).append(index)
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
            prompt_text = tokenizer.apply_chat_template(
                self._with_system(conversation), add_generation_prompt=True, tokenize=False
            )
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
                generation_config=self._generation_config(params),
                logits_processor=_sampling_processors(params, seeds),
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

    def _generation_config(self, params: GenParams) -> Any:
        from transformers import GenerationConfig

        recording = {"output_logits": True, "return_dict_in_generate": True} if params.logprobs else {}
        return GenerationConfig(
            **{**_NEUTRAL_DECODING, **recording},
            max_new_tokens=params.max_new_tokens,
            eos_token_id=sorted(self._eos_ids),
            pad_token_id=self._pad_id,
        )

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


def token_steps(logits: Sequence[Any], row: int, token_ids: Sequence[int], k: int) -> list[TokenStep]:
    """Per-step statistics of one batch row from ``generate``'s raw logits (one (batch, vocab) tensor per step).

    Raw logits, before temperature or top-p, as Kumar 2024 (arXiv 2409.19476) reads them.
    """
    import torch

    steps = []
    for position, token in enumerate(token_ids):
        logprobs = torch.log_softmax(logits[position][row].double(), dim=-1)
        top = torch.topk(logprobs, k)
        probs = logprobs.exp()
        entropy = -torch.sum(torch.where(probs > 0, probs * logprobs, torch.zeros_like(probs)))
        steps.append(
            TokenStep(
                token_id=int(token),
                logprob=float(logprobs[token]),
                entropy=float(entropy),
                top_ids=[int(i) for i in top.indices],
                top_logprobs=[float(v) for v in top.values],
            )
        )
    return steps


def _require_file(directory: Path, filename: str, what: str) -> None:
    if not (directory / filename).is_file():
        raise BackendError(f"{directory} is not a {what} directory (no {filename})")


def _load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if not tokenizer.chat_template:
        raise BackendError(f"{model_dir}: the tokenizer has no chat template")
    tokenizer.padding_side = "left"
    return tokenizer


def input_device(model: Any) -> torch.device:
    """The device a model's input ids go to: its input embeddings'. With a ``device_map`` the layers
    span several devices (accelerate's hooks move activations between them) and ``model.device``
    names only the first parameter's."""
    try:
        return model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):  # a model class without input embeddings to ask
        return model.device


def _load_model(
    model_dir: Path, adapter_dir: Path | None, dtype: torch.dtype, device: str, device_map: str | None = None
) -> Any:
    from transformers import AutoModelForCausalLM

    placement = {"device_map": device_map} if device_map is not None else {}
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, local_files_only=True, **placement)
    if device_map is None:  # a device_map has placed (and may have sharded) the weights already
        model.to(device)
    if adapter_dir is not None:
        from peft import PeftModel

        with warnings.catch_warnings():  # peft 0.21 calls a transformers 5.x API that warns on every load
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    model.eval()
    return model


def _sampling_processors(params: GenParams, seeds: list[int] | None) -> Any:
    """Temperature, top-p and seeded Gumbel noise; empty for greedy decoding."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    processors = LogitsProcessorList()
    if params.greedy or seeds is None:
        return processors
    processors.append(TemperatureLogitsWarper(params.temperature))
    if params.top_p < 1.0:
        processors.append(TopPLogitsWarper(params.top_p))
    processors.append(_SeededGumbelNoise(seeds))
    return processors
