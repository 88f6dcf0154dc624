"""Tests for tunesafe.audits.uncertainty on hand-computed values (Kumar 2024, arXiv:2409.19476, A.6 formulas).

Reference table used throughout (natural logs), two answer steps and a final EOS step:

    step 1 logits [ln 2, 0, 0]      -> exp [2, 1, 1]  -> p = [0.50, 0.25, 0.25]
    step 2 logits [ln 6, ln 3, 0]   -> exp [6, 3, 1]  -> p = [0.60, 0.30, 0.10]
    step 3 (EOS)  [0, 0, 5]         -> dropped when drop_last=True

    top-1 probabilities 0.5, 0.6 -> TP = 0.55, PPL = exp(-(ln 0.5 + ln 0.6)/2) = 1/sqrt(0.3) = 1.825742
    H(step 1) = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2 = 1.039721
    H(step 2) = -(0.6 ln 0.6 + 0.3 ln 0.3 + 0.1 ln 0.1) = 0.306495 + 0.361192 + 0.230259 = 0.897946
    mean H = 0.968833 (top-10 covers the whole 3-token vocabulary, so top-10 H = full H)
    top-2 entropy: step 1 0.5 ln 2 + 0.25 ln 4 = ln 2 = 0.693147; step 2 0.306495 + 0.361192 = 0.667687
    generated tokens [1, 0] (not the argmax at step 1): p = 0.25, 0.6 -> mean 0.425,
        PPL = exp(-(ln 0.25 + ln 0.6)/2) = 1/sqrt(0.15) = 2.581989
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunesafe.audits.uncertainty import (
    NOTE_NO_STEPS,
    mean_and_standard_error,
    split_by_correct,
    token_uncertainty,
    topk_uncertainty,
)

LOGITS = np.array([[math.log(2), 0.0, 0.0], [math.log(6), math.log(3), 0.0], [0.0, 0.0, 5.0]])
H1 = 1.5 * math.log(2)
H2 = -(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1))


def test_hand_values_of_the_constants():
    assert abs(H1 - 1.039721) < 1e-6
    assert abs(H2 - 0.897946) < 1e-6


def test_compat_mode_matches_paper_formulas():
    stats = token_uncertainty(LOGITS, mode="compat")
    assert stats.n_steps == 2
    assert stats.probability == pytest.approx(0.55)
    assert stats.perplexity == pytest.approx(1.825742, abs=1e-6)
    assert stats.entropy == pytest.approx((H1 + H2) / 2)
    assert stats.entropy == pytest.approx(0.968833, abs=1e-6)
    assert stats.entropy_topk == stats.entropy


def test_compat_ignores_chosen_ids_and_tunesafe_uses_them():
    compat = token_uncertainty(LOGITS, [1, 0, 2], mode="compat")
    tunesafe = token_uncertainty(LOGITS, [1, 0, 2], mode="tunesafe")
    assert compat.probability == pytest.approx(0.55)
    assert tunesafe.probability == pytest.approx(0.425)
    assert tunesafe.perplexity == pytest.approx(2.581989, abs=1e-6)
    # entropy does not depend on the token chosen
    assert tunesafe.entropy == pytest.approx(compat.entropy)
    assert tunesafe.note == ""


def test_tunesafe_without_chosen_ids_uses_argmax_and_equals_compat():
    compat = token_uncertainty(LOGITS, mode="compat")
    tunesafe = token_uncertainty(LOGITS, mode="tunesafe")
    assert tunesafe.probability == pytest.approx(compat.probability)
    assert tunesafe.perplexity == pytest.approx(compat.perplexity)
    assert "argmax" in tunesafe.note


def test_top_k_truncation_is_unnormalised():
    stats = token_uncertainty(LOGITS, mode="tunesafe", top_k=2)
    assert stats.entropy_topk == pytest.approx((math.log(2) + 0.306495 + 0.361192) / 2, abs=1e-6)
    assert stats.entropy == pytest.approx((H1 + H2) / 2)
    compat = token_uncertainty(LOGITS, mode="compat", top_k=2)
    assert compat.entropy == pytest.approx(stats.entropy_topk)


def test_drop_last_false_keeps_eos_step():
    stats = token_uncertainty(LOGITS, mode="compat", drop_last=False)
    p3 = math.exp(5) / (2 + math.exp(5))
    assert stats.n_steps == 3
    assert stats.probability == pytest.approx((0.5 + 0.6 + p3) / 3)


@pytest.mark.parametrize("vocab", [2, 7, 50])
def test_uniform_distribution(vocab):
    logits = np.full((3, vocab), 1.7)
    stats = token_uncertainty(logits, [0, vocab - 1, 0], mode="tunesafe", drop_last=False)
    assert stats.entropy == pytest.approx(math.log(vocab))
    assert stats.probability == pytest.approx(1 / vocab)
    assert stats.perplexity == pytest.approx(vocab)
    # top-10 truncated: min(10, V) tokens of probability 1/V each
    assert stats.entropy_topk == pytest.approx(min(10, vocab) / vocab * math.log(vocab))


def test_topk_entropy_never_exceeds_full_entropy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(scale=3.0, size=(5, 40))
        stats = token_uncertainty(logits, mode="tunesafe")
        assert stats.entropy_topk <= stats.entropy + 1e-12


def test_invariant_to_constant_shift_and_stable_for_huge_logits():
    base = token_uncertainty(LOGITS, [1, 0, 2], mode="tunesafe")
    shifts = np.array([[1000.0], [-1000.0], [3.0]])
    shifted = token_uncertainty(LOGITS + shifts, [1, 0, 2], mode="tunesafe")
    huge = token_uncertainty(LOGITS + 1e6, [1, 0, 2], mode="tunesafe")
    for other in (shifted, huge):
        assert other.probability == pytest.approx(base.probability)
        assert other.perplexity == pytest.approx(base.perplexity)
        assert other.entropy == pytest.approx(base.entropy)
        assert other.entropy_topk == pytest.approx(base.entropy_topk)


def test_one_step_answer_with_drop_last_gives_none():
    for mode in ("compat", "tunesafe"):
        stats = token_uncertainty(LOGITS[:1], [0], mode=mode)
        assert stats.n_steps == 0
        assert stats.note == NOTE_NO_STEPS
        assert stats.probability is None and stats.perplexity is None
        assert stats.entropy is None and stats.entropy_topk is None


def test_masked_minus_inf_logits_are_zero_probability():
    logits = np.array([[math.log(2), 0.0, 0.0, -np.inf]])
    stats = token_uncertainty(logits, mode="tunesafe", drop_last=False)
    assert stats.entropy == pytest.approx(H1)
    chosen_masked = token_uncertainty(logits, [3], mode="tunesafe", drop_last=False)
    assert chosen_masked.probability == 0.0
    assert chosen_masked.perplexity == math.inf


@pytest.mark.parametrize(
    ("logits", "chosen", "kwargs"),
    [
        (np.zeros(3), None, {}),
        (np.array([[0.0, np.nan]]), None, {}),
        (np.array([[-np.inf, -np.inf]]), None, {"drop_last": False}),
        (LOGITS, [0, 1], {}),
        (LOGITS, [0, 1, 3], {}),
        (LOGITS, None, {"mode": "paper"}),
        (LOGITS, None, {"top_k": 0}),
    ],
)
def test_invalid_inputs_raise(logits, chosen, kwargs):
    with pytest.raises(ValueError):
        token_uncertainty(logits, chosen, **kwargs)


def test_topk_logprobs_compat_equals_full_logits_compat():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(4, 30))
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    top10 = -np.sort(-logp, axis=1)[:, :10]
    rng.shuffle(top10, axis=1)  # column order must not matter
    full = token_uncertainty(logits, mode="compat")
    from_top = topk_uncertainty(top10, mode="compat")
    assert from_top.n_steps == full.n_steps == 3
    assert from_top.probability == pytest.approx(full.probability)
    assert from_top.perplexity == pytest.approx(full.perplexity)
    assert from_top.entropy == pytest.approx(full.entropy)
    assert from_top.note == ""


def test_topk_logprobs_tunesafe_mode():
    top = np.log(np.array([[0.5, 0.25], [0.6, 0.3], [0.9, 0.05]]))
    stats = topk_uncertainty(top, np.log([0.25, 0.6, 0.9]), mode="tunesafe")
    assert stats.probability == pytest.approx(0.425)
    assert stats.perplexity == pytest.approx(1 / math.sqrt(0.15))
    assert stats.entropy is None
    assert stats.entropy_topk == pytest.approx((math.log(2) + 0.306495 + 0.361192) / 2, abs=1e-6)
    assert "top-2" in stats.note and "full entropy" in stats.note
    assert topk_uncertainty(top[:1]).note == NOTE_NO_STEPS
    with pytest.raises(ValueError):
        topk_uncertainty(np.array([[0.5, -1.0]]))


def test_mean_and_standard_error_population_std():
    # values 1, 2, 3, 4: mean 2.5; population variance ((1.5^2 + 0.5^2) * 2) / 4 = 1.25
    mean, se = mean_and_standard_error([1.0, 2.0, None, 3.0, 4.0, float("nan")])
    assert mean == pytest.approx(2.5)
    assert se == pytest.approx(math.sqrt(1.25) / 2)
    # sample std: variance 5/3
    _, se_sample = mean_and_standard_error([1.0, 2.0, 3.0, 4.0], ddof=1)
    assert se_sample == pytest.approx(math.sqrt(5 / 3) / 2)
    assert mean_and_standard_error([]) == (None, None)
    assert mean_and_standard_error([7.0]) == (7.0, 0.0)
    assert mean_and_standard_error([7.0], ddof=1) == (7.0, None)


def test_split_by_correct():
    values = [1.0, 3.0, 10.0, None, 20.0, 30.0]
    correct = [True, True, False, False, False, False]
    out = split_by_correct(values, correct)
    assert out["correct"].n == 2 and out["correct"].mean == pytest.approx(2.0)
    assert out["correct"].se == pytest.approx(1.0 / math.sqrt(2))
    # incorrect 10, 20, 30: population variance 200/3
    assert out["incorrect"].n == 3 and out["incorrect"].n_missing == 1
    assert out["incorrect"].mean == pytest.approx(20.0)
    assert out["incorrect"].se == pytest.approx(math.sqrt(200 / 3) / math.sqrt(3))
    with pytest.raises(ValueError):
        split_by_correct([1.0], [True, False])


def test_split_by_correct_gives_quartiles_of_each_group() -> None:
    from tunesafe.audits.uncertainty import split_by_correct

    groups = split_by_correct([1.0, 2.0, None, 3.0, 4.0, 9.0], [True, True, True, True, True, False])
    correct = groups["correct"]
    assert (correct.n, correct.n_missing) == (4, 1)
    assert (correct.q1, correct.median, correct.q3) == pytest.approx((1.75, 2.5, 3.25))  # linear interpolation
    assert groups["incorrect"].median == 9.0
    empty = split_by_correct([None], [False])["incorrect"]
    assert (empty.n, empty.median) == (0, None)
