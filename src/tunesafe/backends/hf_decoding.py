"""How the HF backend decodes: neutral generation settings, seeded Gumbel-max sampling, token statistics.

Decoding is defined by :class:`~tunesafe.types.GenParams` alone: the model's
``generation_config.json`` contributes only its EOS ids, everything else that could change which
token is picked is reset to the value that changes nothing. Sampling uses the Gumbel-max trick
(argmax of temperature-scaled, top-p-filtered logits plus Gumbel noise), which draws from exactly
the same distribution as softmax sampling, with one generator per conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunesafe.types import GenParams, TokenStep

if TYPE_CHECKING:
    import torch

# Everything in a model's generation_config.json that could change which token is picked, reset to
# the value that changes nothing. Values left as None would be filled in from the model's file.
NEUTRAL_DECODING: dict[str, Any] = {
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


class SeededGumbelNoise:
    """Logits processor adding per-row Gumbel noise from per-row generators (seeded sampling)."""

    def __init__(self, seeds: Sequence[int]) -> None:
        import torch

        self._generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        import torch

        vocab = scores.shape[-1]
        uniform = torch.stack([torch.rand(vocab, generator=g, dtype=torch.float64) for g in self._generators])
        uniform = uniform.clamp_(min=1e-300, max=1.0 - 1e-16)
        gumbel = -torch.log(-torch.log(uniform))
        return scores + gumbel.to(device=scores.device, dtype=scores.dtype)


def generation_config(params: GenParams, eos_ids: set[int], pad_id: int) -> Any:
    """A ``GenerationConfig`` with neutral decoding settings, the model's EOS ids and ``params``' length
    (raw logits recorded when ``params.logprobs`` asks for token statistics)."""
    from transformers import GenerationConfig

    recording = {"output_logits": True, "return_dict_in_generate": True} if params.logprobs else {}
    return GenerationConfig(  # type: ignore[no-untyped-call]  # transformers leaves __init__ unannotated
        **{**NEUTRAL_DECODING, **recording},
        max_new_tokens=params.max_new_tokens,
        eos_token_id=sorted(eos_ids),
        pad_token_id=pad_id,
    )


def sampling_processors(params: GenParams, seeds: list[int] | None) -> Any:
    """Temperature, top-p and seeded Gumbel noise; empty for greedy decoding."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    processors = LogitsProcessorList()
    if params.greedy or seeds is None:
        return processors
    processors.append(TemperatureLogitsWarper(params.temperature))
    if params.top_p < 1.0:
        processors.append(TopPLogitsWarper(params.top_p))
    processors.append(SeededGumbelNoise(seeds))
    return processors


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
