"""Decoding on raw llama.cpp logits (numpy): greedy or seeded Gumbel-max choice, token statistics.

The same decoding as the HF backend's (:mod:`tunesafe.backends.hf_decoding`): greedy is the argmax
of the raw logits; sampling is Gumbel-max over temperature-scaled, top-p-filtered logits, which
draws from exactly the softmax distribution, with one generator per conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunesafe.types import GenParams, TokenStep

if TYPE_CHECKING:
    import numpy as np


def seeded_rng(seed: int) -> Any:
    """A numpy generator for one conversation's samples."""
    import numpy as np

    return np.random.default_rng(seed)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Natural-log probabilities (float64) from raw logits."""
    import numpy as np

    values = logits.astype(np.float64)
    shifted = values - values.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


def choose_token(logits: np.ndarray, params: GenParams, rng: Any) -> int:
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


def token_step(logits: np.ndarray, token: int, k: int) -> TokenStep:
    """The chosen token's log-probability, the full distribution's entropy and the top-k, from raw logits."""
    import numpy as np

    logprobs = log_softmax(logits)
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
