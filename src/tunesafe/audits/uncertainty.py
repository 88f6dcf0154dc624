"""Per-answer token uncertainty for the knowledge-drift evaluation of Kumar (2024).

Kumar (2024) measures how sure a model is of a short answer from the raw logits of each generated
step. With ``p_t = softmax(logits_t)`` (natural log) and the last step dropped as an assumed EOS,
``T' = steps - 1``:

- probability ``TP = (1/T') sum_t max_v p_t(v)`` (the top-1 probability, not the sampled token's);
- perplexity ``PPL = exp(-(1/T') sum_t log max_v p_t(v))``;
- entropy ``H = (1/T') sum_t -sum_{v in top-10(p_t)} p_t(v) log p_t(v)`` (truncated to the 10 most
  probable tokens, *not* renormalised, in nats).

The formulas come from the authors' ``uncertainty_calc`` notebooks (repository
techsachinkr/Overriding_Model_Safety_Protections). The paper's text swaps two labels: its Eq. 3
(the entropy formula) is labelled "Perplexity" and its Eq. 4 (perplexity) is labelled "Entropy".
With one generated step ``T' = 0`` and the notebooks divide by zero; here such answers get ``None``
metrics and the note ``"no steps"``.

Two modes of :func:`token_uncertainty`:

- ``"compat"``: the formulas above, exactly (top-1 probability, top-10 entropy, last step dropped).
  ``entropy`` and ``entropy_topk`` both hold the paper's truncated H.
- ``"tunesafe"``: probability and perplexity of the token actually *generated* (``chosen_ids``;
  the argmax when not given, which equals compat under greedy decoding), ``entropy`` over the full
  distribution, and ``entropy_topk`` the paper's unnormalised top-k entropy (a lower bound of the
  full entropy, kept unnormalised as the paper does so both can be compared).

:func:`mean_and_standard_error` and :func:`split_by_correct` give the paper's aggregates (Table 5).

Kumar S (2024). Overriding Safety Protections of Open-source Models. arXiv:2409.19476.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "GroupSummary",
    "UncertaintyStats",
    "mean_and_standard_error",
    "split_by_correct",
    "token_uncertainty",
    "topk_uncertainty",
]

Mode = Literal["tunesafe", "compat"]
PAPER_TOP_K = 10
NOTE_NO_STEPS = "no steps"


@dataclass(frozen=True)
class UncertaintyStats:
    """Uncertainty of one generated answer; metrics are ``None`` when no step is left to average."""

    probability: float | None
    perplexity: float | None
    entropy: float | None
    entropy_topk: float | None
    n_steps: int
    mode: Mode
    note: str = ""


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 with max subtraction (``-inf`` logits give ``-inf``)."""
    peak = np.max(logits, axis=1, keepdims=True)
    if not np.all(np.isfinite(peak)):
        raise ValueError("every step needs at least one finite logit")
    shifted = logits - peak
    logp: np.ndarray = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return logp


def _plogp(logp: np.ndarray) -> np.ndarray:
    """Elementwise ``p log p`` with ``0 log 0 = 0``."""
    finite = np.isfinite(logp)
    return np.where(finite, np.exp(np.where(finite, logp, 0.0)) * np.where(finite, logp, 0.0), 0.0)


def _topk_entropy(logp: np.ndarray, top_k: int) -> np.ndarray:
    """Per-step ``-sum p log p`` over the ``top_k`` most probable tokens, unnormalised (Kumar 2024)."""
    k = min(top_k, logp.shape[1])
    top = -np.partition(-logp, k - 1, axis=1)[:, :k]
    entropy: np.ndarray = -np.sum(_plogp(top), axis=1)
    return entropy


def _check_mode(mode: str, top_k: int) -> None:
    if mode not in ("tunesafe", "compat"):
        raise ValueError(f"mode must be 'tunesafe' or 'compat', got {mode!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")


def _as_steps(array: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    values = np.asarray(array, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D (steps, tokens) array, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"{name} contains NaN")
    return values


def _empty(mode: Mode) -> UncertaintyStats:
    return UncertaintyStats(None, None, None, None, n_steps=0, mode=mode, note=NOTE_NO_STEPS)


def _finish(
    chosen_logp: np.ndarray,
    entropy: np.ndarray | None,
    entropy_topk: np.ndarray,
    mode: Mode,
    note: str,
) -> UncertaintyStats:
    mean_logp = float(np.mean(chosen_logp))
    return UncertaintyStats(
        probability=float(np.mean(np.exp(chosen_logp))),
        perplexity=math.exp(-mean_logp) if math.isfinite(mean_logp) else math.inf,
        entropy=None if entropy is None else float(np.mean(entropy)),
        entropy_topk=float(np.mean(entropy_topk)),
        n_steps=int(chosen_logp.shape[0]),
        mode=mode,
        note=note,
    )


def token_uncertainty(
    logits: np.ndarray | Sequence[Sequence[float]],
    chosen_ids: Sequence[int] | np.ndarray | None = None,
    *,
    mode: Mode = "tunesafe",
    top_k: int = PAPER_TOP_K,
    drop_last: bool = True,
) -> UncertaintyStats:
    """Probability, perplexity and entropy of one answer from its ``(steps, vocab)`` raw logits.

    ``mode="compat"`` reproduces Kumar (2024) exactly (see the module docstring; the paper's Eq. 3/4
    labels are swapped): top-1 probability, ``exp(-mean log top-1)``, top-``top_k`` (10)
    unnormalised entropy as both ``entropy`` and ``entropy_topk``; ``chosen_ids`` is ignored.
    ``mode="tunesafe"``: probability and perplexity of the generated token ``chosen_ids[t]``
    (argmax when ``None``), ``entropy`` over the full vocabulary, ``entropy_topk`` as in the paper.

    ``drop_last`` drops the final step, assumed to be EOS as in the paper (set ``False`` when
    generation stopped at the token limit). When no step remains, all metrics are ``None`` and
    ``note == "no steps"``. A generated token of probability 0 gives ``perplexity == inf``.
    Computation is float64 with a max-subtracted log-softmax, so adding a constant to a step's
    logits changes nothing.
    """
    _check_mode(mode, top_k)
    values = _as_steps(logits, "logits")
    steps = values.shape[0]
    ids: np.ndarray | None = None
    if chosen_ids is not None and mode == "tunesafe":
        ids = np.asarray(chosen_ids)
        if ids.shape != (steps,) or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"chosen_ids must be {steps} integers, one per step, got shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= values.shape[1]):
            raise ValueError("chosen_ids out of vocabulary range")
    if drop_last:
        values = values[:-1]
        ids = None if ids is None else ids[:-1]
    if values.shape[0] == 0:
        return _empty(mode)
    logp = _log_softmax(values)
    entropy_topk = _topk_entropy(logp, top_k)
    top1 = np.max(logp, axis=1)
    if mode == "compat":
        return _finish(top1, entropy_topk, entropy_topk, mode, note="")
    chosen = top1 if ids is None else logp[np.arange(logp.shape[0]), ids]
    note = "" if ids is not None else "chosen_ids not given: argmax token used"
    entropy = -np.sum(_plogp(logp), axis=1)
    return _finish(chosen, entropy, entropy_topk, mode, note)


def topk_uncertainty(
    topk_logprobs: np.ndarray | Sequence[Sequence[float]],
    chosen_logprobs: Sequence[float] | np.ndarray | None = None,
    *,
    mode: Mode = "tunesafe",
    drop_last: bool = True,
    full_entropies: Sequence[float] | np.ndarray | None = None,
) -> UncertaintyStats:
    """The same metrics from ``(steps, k)`` top-k log-probabilities, as serving APIs return them.

    The log-probabilities must already be normalised over the full vocabulary (``-inf`` allowed for
    padding). The full-vocabulary entropy cannot be recovered, so ``entropy`` is ``None`` in
    tunesafe mode unless the caller recorded it per step (``full_entropies``, as the HF backend
    does); ``entropy_topk`` uses all ``k`` columns given (the paper uses k = 10; the note
    says when ``k`` differs). Compat mode (Kumar 2024) needs only the top-1 and top-10 values, so
    with ``k == 10`` it equals :func:`token_uncertainty` in compat mode. In tunesafe mode
    ``chosen_logprobs`` are the generated tokens' log-probabilities (top-1 when ``None``).
    """
    _check_mode(mode, PAPER_TOP_K)
    values = _as_steps(topk_logprobs, "topk_logprobs")
    if np.any(values > 1e-9):
        raise ValueError("log-probabilities must be <= 0")
    values = np.minimum(values, 0.0)
    steps, k = values.shape
    chosen: np.ndarray | None = None
    if chosen_logprobs is not None and mode == "tunesafe":
        chosen = np.minimum(np.asarray(chosen_logprobs, dtype=np.float64), 0.0)
        if chosen.shape != (steps,) or np.isnan(chosen).any():
            raise ValueError(f"chosen_logprobs must be {steps} numbers, one per step")
    entropies: np.ndarray | None = None
    if full_entropies is not None and mode == "tunesafe":
        entropies = np.asarray(full_entropies, dtype=np.float64)
        if entropies.shape != (steps,) or np.isnan(entropies).any():
            raise ValueError(f"full_entropies must be {steps} numbers, one per step")
    if drop_last:
        values = values[:-1]
        chosen = None if chosen is None else chosen[:-1]
        entropies = None if entropies is None else entropies[:-1]
    if values.shape[0] == 0:
        return _empty(mode)
    if not np.all(np.isfinite(np.max(values, axis=1))):
        raise ValueError("every step needs at least one finite log-probability")
    notes = [] if k == PAPER_TOP_K else [f"top-{k} entropy (paper uses top-{PAPER_TOP_K})"]
    entropy_topk = _topk_entropy(values, k)
    top1 = np.max(values, axis=1)
    if mode == "compat":
        return _finish(top1, entropy_topk, entropy_topk, mode, "; ".join(notes))
    if chosen is None:
        notes.append("chosen_logprobs not given: top-1 token used")
    if entropies is None:
        notes.append("full entropy needs full logits")
    return _finish(top1 if chosen is None else chosen, entropies, entropy_topk, mode, "; ".join(notes))


def _clean(values: Iterable[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)


def mean_and_standard_error(values: Iterable[float | None], *, ddof: int = 0) -> tuple[float | None, float | None]:
    """Mean and standard error ``std / sqrt(n)`` of the non-missing values (``None``/NaN skipped).

    The default ``ddof=0`` is the *population* standard deviation (``np.std``), as in Kumar (2024)'s
    notebooks, whose "±" (printed there as "standard deviation") are these standard errors. It
    slightly understates the usual estimate (``ddof=1``) and gives ``se = 0`` for a single value.
    Returns ``(None, None)`` for no values, and ``se = None`` when ``n <= ddof``.
    """
    data = _clean(values)
    n = data.shape[0]
    if n == 0:
        return None, None
    mean = float(np.mean(data))
    if n <= ddof:
        return mean, None
    return mean, float(np.std(data, ddof=ddof) / math.sqrt(n))


@dataclass(frozen=True)
class GroupSummary:
    """Mean, standard error and quartiles of one metric over one group; ``n_missing`` counts skipped ``None``s."""

    n: int
    mean: float | None
    se: float | None
    n_missing: int = 0
    q1: float | None = None  # quartiles: the distribution, not only its mean
    median: float | None = None
    q3: float | None = None


def split_by_correct(
    values: Sequence[float | None], correct: Sequence[bool], *, ddof: int = 0
) -> dict[str, GroupSummary]:
    """Summaries of ``values`` for correct and incorrect answers, as in Kumar (2024) Table 5.

    Returns ``{"correct": ..., "incorrect": ...}``; ``n`` counts the values averaged and
    ``n_missing`` the ``None``/NaN values (e.g. one-step answers) left out.
    """
    if len(values) != len(correct):
        raise ValueError(f"values ({len(values)}) and correct ({len(correct)}) differ in length")
    out: dict[str, GroupSummary] = {}
    for key, flag in (("correct", True), ("incorrect", False)):
        group = [v for v, c in zip(values, correct, strict=True) if bool(c) is flag]
        mean, se = mean_and_standard_error(group, ddof=ddof)
        data = _clean(group)
        n = data.shape[0]
        quartiles = [float(q) for q in np.percentile(data, [25, 50, 75])] if n else [None, None, None]
        out[key] = GroupSummary(
            n=n, mean=mean, se=se, n_missing=len(group) - n, q1=quartiles[0], median=quartiles[1], q3=quartiles[2]
        )
    return out


def step_uncertainty(steps: Sequence[Any], *, mode: Mode = "tunesafe", drop_last: bool = True) -> UncertaintyStats:
    """Metrics from a completion's recorded steps (``Completion.steps``: chosen log-probability,
    full-distribution entropy and top-k log-probabilities per step, as the HF backend records them)."""
    if not steps:
        return _empty(mode)
    return topk_uncertainty(
        [s.top_logprobs for s in steps],
        [s.logprob for s in steps],
        mode=mode,
        drop_last=drop_last,
        full_entropies=[s.entropy for s in steps],
    )
