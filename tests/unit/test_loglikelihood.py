"""Log-likelihood of continuations: the optional backend capability, on the tiny HF model and scripted fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tunesafe.backends.base import (
    ContinuationScore,
    LoglikelihoodBackend,
    LoglikelihoodUnsupportedError,
    supports_loglikelihood,
)
from tunesafe.backends.batching import right_pad, split_continuation
from tunesafe.backends.hf import HFBackend
from tunesafe.backends.scripted import ScriptedBackend
from tunesafe.cache import CachedBackend, GenerationCache
from tunesafe.types import Conversation

torch = pytest.importorskip("torch")


def user(text: str) -> Conversation:
    return [{"role": "user", "content": text}]


REQUESTS: list[tuple[Conversation, str]] = [
    (user("What is the capital of France?"), "Paris"),
    (user("Hi"), " The weather looks sunny today, and the garden is lovely."),
    (user("How do I bake bread? Tell me about the weather this morning."), "Sure, here is a simple answer."),
    (user("Tell me a fun fact about cats."), ""),
    (
        [*user("How do I boil an egg?"), {"role": "assistant", "content": "Here is an easy recipe."}, *user("Thanks!")],
        "You are welcome.",
    ),
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def manual_loglikelihood(backend: HFBackend, conversation: Conversation, continuation: str) -> tuple[float, int]:
    """Independent reference: one unpadded forward pass over prompt + continuation, summing log-softmax."""
    tok = backend.tokenizer
    prompt_text = tok.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    prompt = tok(prompt_text, add_special_tokens=False)["input_ids"]
    full = tok(prompt_text + continuation, add_special_tokens=False)["input_ids"]
    assert full[: len(prompt)] == prompt  # this tokenizer does not merge across the boundary
    with torch.no_grad():
        logits = backend.model(input_ids=torch.tensor([full])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    total = sum(float(logprobs[t - 1, full[t]]) for t in range(len(prompt), len(full)))
    return total, len(full) - len(prompt)


def test_hf_loglikelihood_equals_manual_computation(tiny_model_dir: Path) -> None:
    backend = HFBackend(tiny_model_dir, batch_size=3, device="cpu")
    assert supports_loglikelihood(backend) and isinstance(backend, LoglikelihoodBackend)
    batched = backend.loglikelihood(REQUESTS)
    assert len(batched) == len(REQUESTS)
    for (conversation, continuation), score in zip(REQUESTS, batched, strict=True):
        expected, n_tokens = manual_loglikelihood(backend, conversation, continuation)
        assert score.n_tokens == n_tokens
        assert score.logprob == pytest.approx(expected, abs=1e-4)
    assert batched[3] == ContinuationScore(logprob=0.0, n_tokens=0)  # empty continuation
    assert all(s.logprob < 0 for i, s in enumerate(batched) if i != 3)


def test_hf_loglikelihood_batched_equals_single(tiny_model_dir: Path) -> None:
    batched = HFBackend(tiny_model_dir, batch_size=4, device="cpu").loglikelihood(REQUESTS)
    single_backend = HFBackend(tiny_model_dir, batch_size=1, device="cpu")
    single = [single_backend.loglikelihood([request])[0] for request in REQUESTS]
    for a, b in zip(batched, single, strict=True):
        assert a.n_tokens == b.n_tokens
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
    assert single_backend.loglikelihood([]) == []


def test_hf_loglikelihood_shares_one_pass_between_continuations_of_one_prompt(tiny_model_dir: Path) -> None:
    """One-token continuations of one prompt (" True" / " False" on real tokenizers; "The" / "My" / "Our"
    on the tiny one) need one forward pass; the scores equal separate scoring."""
    backend = HFBackend(tiny_model_dir, batch_size=8, device="cpu")
    conversation = user("Claim: the sky is blue. True or False?")
    requests = [(conversation, c) for c in ("The", "My", "Our")] + [REQUESTS[1]]
    rows = []
    original = backend.model.forward

    def counting_forward(*args: object, **kwargs: object) -> object:
        rows.append(kwargs["input_ids"].shape[0])  # type: ignore[attr-defined]
        return original(*args, **kwargs)

    backend.model.forward = counting_forward  # type: ignore[method-assign]
    try:
        shared = backend.loglikelihood(requests)
    finally:
        backend.model.forward = original  # type: ignore[method-assign]
    assert rows == [2]  # one row for the three one-token continuations, one for the other request
    for request, score in zip(requests, shared, strict=True):
        expected, n_tokens = manual_loglikelihood(backend, *request)
        assert score.logprob == pytest.approx(expected, abs=1e-4) and score.n_tokens == n_tokens
    assert len({round(s.logprob, 6) for s in shared[:3]}) == 3


def test_hf_loglikelihood_tokenizes_the_continuation_alone_when_tokens_merge(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some tokenizers (Qwen: a leading newline) merge across the boundary; then prompt + continuation tokens."""
    import tunesafe.backends.hf as hf

    monkeypatch.setattr(hf, "split_continuation", lambda prompt, full: None)
    backend = HFBackend(tiny_model_dir, device="cpu")
    conversation, continuation = REQUESTS[2]
    tok = backend.tokenizer
    prompt = tok(
        tok.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False), add_special_tokens=False
    )["input_ids"]
    alone = tok(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(backend.model(input_ids=torch.tensor([prompt + alone])).logits[0].double(), -1)
    expected = sum(float(logprobs[len(prompt) + i - 1, t]) for i, t in enumerate(alone))
    score = backend.loglikelihood([(conversation, continuation)])[0]
    assert score.n_tokens == len(alone)
    assert score.logprob == pytest.approx(expected, abs=1e-4)


def test_hf_loglikelihood_uses_the_system_prompt(tiny_model_dir: Path) -> None:
    plain = HFBackend(tiny_model_dir, device="cpu")
    with_system = HFBackend(tiny_model_dir, device="cpu", system_prompt="You are a helpful assistant.")
    question = user("What is the capital of France?")
    explicit = [{"role": "system", "content": "You are a helpful assistant."}, *question]
    a = with_system.loglikelihood([(question, "Paris")])[0]
    b = plain.loglikelihood([(explicit, "Paris")])[0]
    c = plain.loglikelihood([(question, "Paris")])[0]
    assert a.logprob == pytest.approx(b.logprob, abs=1e-6)
    assert a.logprob != pytest.approx(c.logprob, abs=1e-6)


def test_split_continuation_and_right_pad() -> None:
    assert split_continuation([1, 2, 3], [1, 2, 3, 4, 5]) == [4, 5]
    assert split_continuation([1, 2, 3], [1, 2, 9, 5]) is None  # merge across the boundary
    assert split_continuation([1, 2, 3], [1, 2]) is None
    assert right_pad([[1, 2, 3], [4]], 0) == ([[1, 2, 3], [4, 0, 0]], [[1, 1, 1], [1, 0, 0]])


def test_scripted_backend_supports_loglikelihood_only_with_a_scorer() -> None:
    plain = ScriptedBackend(default="True")
    assert not supports_loglikelihood(plain)
    with pytest.raises(LoglikelihoodUnsupportedError, match="no scorer"):
        plain.loglikelihood([(user("q"), "a")])

    scored = ScriptedBackend(scorer=lambda conv, cont: -float(len(cont)), fingerprint_salt="len-v1")
    assert supports_loglikelihood(scored)
    out = scored.loglikelihood([(user("q"), "abc"), (user("q"), "two words")])
    assert out == [ContinuationScore(logprob=-3.0, n_tokens=1), ContinuationScore(logprob=-9.0, n_tokens=2)]
    assert scored.scored[1] == (user("q"), "two words")
    assert scored.fingerprint() != ScriptedBackend(fingerprint_salt="len-v1").fingerprint()
    with pytest.raises(ValueError, match="fingerprint_salt"):
        ScriptedBackend(scorer=lambda conv, cont: 0.0)


def test_cached_backend_forwards_loglikelihood(tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path / "c.sqlite")
    try:
        inner = ScriptedBackend(scorer=lambda c, t: -1.5, fingerprint_salt="s")
        scored = CachedBackend(inner, cache)
        assert supports_loglikelihood(scored)
        assert scored.loglikelihood([(user("q"), "a")]) == [ContinuationScore(logprob=-1.5, n_tokens=1)]
        # cached by model content, conversation and continuation: only the new request reaches the model
        again = CachedBackend(ScriptedBackend(scorer=lambda c, t: -1.5, fingerprint_salt="s"), cache)
        assert again.loglikelihood([(user("q"), "a"), (user("q"), "b")]) == [ContinuationScore(-1.5, 1)] * 2
        assert (again.score_hits, again.score_misses) == (1, 1) and again.inner.scored == [(user("q"), "b")]  # type: ignore[attr-defined]
        unscored = CachedBackend(ScriptedBackend(default="x"), cache)
        assert not supports_loglikelihood(unscored)
        with pytest.raises(LoglikelihoodUnsupportedError, match="cannot give log-likelihoods"):
            unscored.loglikelihood([(user("q"), "a")])
    finally:
        cache.close()


def test_objects_without_the_method_do_not_support_it() -> None:
    class Plain:
        name = "plain"

    assert not supports_loglikelihood(Plain())
