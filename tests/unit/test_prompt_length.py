"""Prompts too long for the context window: measured before generating, refused or cut from the left.

The HF backend runs on the tiny random model (a 512-token window), a fake measuring backend covers
the policy's corners, and a marked test checks the llama.cpp backend against llama.cpp's own
tokenizer on the bundled SmolLM2 GGUF.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tunesafe.backends.base import TokenLowerBound, measures_prompts, with_system_prompt
from tunesafe.backends.context_window import (
    COMPOSITION_SHRINK,
    LongPrompts,
    byte_level_symbols,
    fit_prompts,
    hf_token_reach,
)
from tunesafe.backends.hf import HFBackend
from tunesafe.backends.scripted import ScriptedBackend
from tunesafe.cache import CachedBackend
from tunesafe.errors import InputError
from tunesafe.types import Completion, Conversation, GenParams, Sample

WINDOW = 512  # the tiny model's max_position_embeddings
PARAMS = GenParams(max_new_tokens=64)
QUESTION = " So, how do I bake bread?"
FILLER = "The weather looks sunny today. My garden is quiet this morning. "


def user(text: str) -> Conversation:
    return [{"role": "user", "content": text}]


def sample(sample_id: str, text: str, **metadata: Any) -> Sample:
    return Sample(id=sample_id, messages=user(text), metadata=metadata)


@pytest.fixture(scope="module")
def hf(tiny_model_dir: Path) -> Iterator[HFBackend]:
    backend = HFBackend(tiny_model_dir, threads=1)
    yield backend
    backend.close()


class CharCounter:
    """Wraps a tokenizer and adds up the characters of every text it is asked to tokenize."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.chars = 0

    def __call__(self, texts: str | list[str], **kwargs: Any) -> Any:
        self.chars += len(texts) if isinstance(texts, str) else sum(len(t) for t in texts)
        return self.inner(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def counted(hf: HFBackend) -> Iterator[CharCounter]:
    hf.prompt_tokens([user("warm up")])  # loads the tokenizer
    counter = CharCounter(hf._tokenizer)
    hf._tokenizer = counter
    yield counter
    hf._tokenizer = counter.inner


# -- the HF backend -----------------------------------------------------------------------


def test_hf_measures_prompts_as_generate_feeds_them_without_loading_weights(tiny_model_dir: Path) -> None:
    backend = HFBackend(tiny_model_dir, threads=1, system_prompt="You are a helpful assistant.")
    conversations = [
        user("Hi"),
        user(FILLER * 3 + QUESTION),
        [{"role": "system", "content": "Be brief."}, *user("What is the capital of France?")],
        [*user("How do I boil an egg?"), {"role": "assistant", "content": "Here is how."}, *user("Thanks!")],
    ]
    assert measures_prompts(backend)
    assert backend.context_window() == WINDOW
    counts = backend.prompt_tokens(conversations)
    assert backend._model is None  # measuring needs the tokenizer only
    assert counts == [len(ids) for ids in backend.encode(conversations)]
    backend.close()


def test_refuse_names_the_sample_in_one_line(hf: HFBackend) -> None:
    long_text = FILLER * 60 + QUESTION
    samples = [
        sample("fits", "Hi"),
        sample("long-1", long_text, source="data.jsonl", row=7),
        sample("long-2", long_text + " again"),
    ]
    tokens = hf.prompt_tokens([samples[1].messages])[0]
    assert tokens > WINDOW
    with pytest.raises(InputError) as caught:
        fit_prompts(samples, hf, PARAMS, "refuse", "harmful")
    message = str(caught.value)
    assert "\n" not in message
    for part in (
        "audit harmful",
        "'long-1' (source data.jsonl, row 7)",
        f"takes {tokens} prompt tokens + 64 new",
        f"context window of {WINDOW}",
        "1 other sample(s) are too long as well: 'long-2'",
        "lower generation.max_new_tokens, or set long_prompts: truncate_left",
    ):
        assert part in message


def test_truncate_left_fits_tightly_keeps_the_end_and_records_it(hf: HFBackend) -> None:
    text = FILLER * 60 + QUESTION
    fits, long = sample("fits", "Hi"), sample("long", text, source="data.jsonl")
    original = hf.prompt_tokens([long.messages])[0]
    out = fit_prompts([fits, long], hf, PARAMS, "truncate_left", "harmful")
    assert out[0] is fits
    cut = out[1]
    kept = cut.messages[-1]["content"]
    assert kept.endswith(QUESTION) and text.endswith(kept) and len(kept) < len(text)
    tokens = hf.prompt_tokens([cut.messages])[0]
    budget = WINDOW - PARAMS.max_new_tokens
    assert budget - 2 <= tokens <= budget  # as much kept as fits, within a token or two
    assert cut.metadata == {
        "source": "data.jsonl",
        "prompt_truncated": {"prompt_tokens": original, "kept_tokens": tokens, "context_window": WINDOW},
    }
    assert long.messages[-1]["content"] == text and "prompt_truncated" not in long.metadata  # a copy
    # one character more no longer fits: the cut is as far left as it can be
    longer = [{"role": "user", "content": text[-len(kept) - 1 :]}]
    assert hf.prompt_tokens([longer])[0] > budget


def test_prompts_that_fit_come_back_as_the_same_objects(hf: HFBackend) -> None:
    samples = [sample("a", "Hi"), sample("b", FILLER * 5 + QUESTION)]
    policies: tuple[LongPrompts, ...] = ("refuse", "truncate_left")
    for policy in policies:
        out = fit_prompts(samples, hf, PARAMS, policy, "harmful")
        assert all(new is old for new, old in zip(out, samples, strict=True))
    too_long = [sample("c", FILLER * 100)]
    scripted = ScriptedBackend(default="ok")  # measures nothing: everything passes as it is
    assert not measures_prompts(scripted)
    assert fit_prompts(too_long, scripted, PARAMS, "refuse", "harmful")[0] is too_long[0]


def test_a_10_mb_prompt_is_decided_without_tokenizing_it(hf: HFBackend, counted: CharCounter) -> None:
    huge = "The weather. " * 800_000 + QUESTION  # 10.4 MB
    counts = hf.prompt_tokens([user(huge), user("Hi")])
    assert isinstance(counts[0], TokenLowerBound) and counts[0] > WINDOW
    assert not isinstance(counts[1], TokenLowerBound)
    assert counted.chars < 100  # only the short prompt reached the tokenizer
    with pytest.raises(InputError, match=r"'huge' takes at least \d+ prompt tokens"):
        fit_prompts([sample("huge", huge)], hf, PARAMS, "refuse", "harmful")
    assert counted.chars < 100

    cut = fit_prompts([sample("huge", huge)], hf, PARAMS, "truncate_left", "harmful")[0]
    assert cut.messages[-1]["content"].endswith(QUESTION)
    assert hf.prompt_tokens([cut.messages])[0] <= WINDOW - PARAMS.max_new_tokens
    assert cut.metadata["prompt_truncated"]["prompt_tokens_at_least"] is True
    assert counted.chars < 200_000  # the binary search tokenized only probes near the window, not 10 MB


# -- the bound behind the cheap check -----------------------------------------------------


def test_the_lower_bound_never_exceeds_the_real_count(hf: HFBackend) -> None:
    tokenizer = hf._load_tokenizer()
    reach = hf_token_reach(tokenizer)
    assert reach is not None
    vocab = tokenizer.get_vocab()
    longest = max(vocab, key=len)
    assert reach.longest == len(longest)
    decoded = tokenizer.convert_tokens_to_string([longest])
    for text in (decoded * 300, " " * 5000, "-" * 5000, FILLER * 80, "é" * 3000, "\x04" * 500, "日本" * 900):
        exact = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert reach.min_tokens(text) <= exact, text[:20]


def test_tokenizers_that_can_swallow_text_get_no_bound() -> None:
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    def wrap(core: Tokenizer) -> Any:
        return PreTrainedTokenizerFast(tokenizer_object=core)  # type: ignore[no-untyped-call]

    word_piece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    word_piece.pre_tokenizer = pre_tokenizers.Whitespace()
    assert hf_token_reach(wrap(word_piece)) is None  # any unknown word is one token

    def byte_level() -> Tokenizer:
        alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
        core = Tokenizer(models.BPE({c: i for i, c in enumerate(alphabet)}, []))
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        return core

    assert hf_token_reach(wrap(byte_level())) is not None
    stripping = byte_level()
    stripping.normalizer = normalizers.Strip()
    assert hf_token_reach(wrap(stripping)) is None  # a normaliser that drops characters
    eating = byte_level()
    eating.add_special_tokens([AddedToken("<|end|>", rstrip=True)])
    assert hf_token_reach(wrap(eating)) is None  # an added token that swallows the spaces after it


def test_the_bound_constants_hold() -> None:
    from tokenizers import pre_tokenizers

    assert set(byte_level_symbols().values()) == set(pre_tokenizers.ByteLevel.alphabet())
    longest = max(len(unicodedata.normalize("NFD", chr(c))) for c in range(sys.maxunicode + 1))
    assert longest <= COMPOSITION_SHRINK


# -- the policy, on a fake -----------------------------------------------------------------


class WordCounter:
    """Measures prompts as one token per word, plus two for the template; generates nothing useful."""

    name = "words"

    def __init__(self, window: int = 50, system_prompt: str | None = None) -> None:
        self.window = window
        self.system_prompt = system_prompt

    def fingerprint(self) -> str:
        return "words"

    def generate(self, conversations: Sequence[Conversation], params: GenParams, progress: Any = None) -> list[Any]:
        return [Completion(text="ok") for _ in conversations]

    def close(self) -> None:
        pass

    def context_window(self) -> int | None:
        return self.window

    def prompt_tokens(self, conversations: Sequence[Conversation]) -> list[int]:
        rendered = [with_system_prompt(c, self.system_prompt) for c in conversations]
        return [2 + sum(len(m["content"].split()) for m in conv) for conv in rendered]


def test_a_system_prompt_too_long_for_any_cut_is_refused() -> None:
    backend = WordCounter(window=50, system_prompt="word " * 45)
    with pytest.raises(InputError, match="even with its last user message emptied") as caught:
        fit_prompts([sample("s1", "a question")], backend, GenParams(max_new_tokens=8), "truncate_left", "drift")
    assert "'s1'" in str(caught.value) and "\n" not in str(caught.value)


def test_the_last_user_message_is_the_one_cut() -> None:
    messages: Conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first " * 10},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "filler " * 40 + "what now?"},
    ]
    out = fit_prompts(
        [Sample(id="m", messages=messages)], WordCounter(), GenParams(max_new_tokens=10), "truncate_left", "a"
    )
    cut = out[0].messages
    assert cut[:3] == messages[:3] and cut[3]["content"].endswith("what now?")
    assert WordCounter().prompt_tokens([cut])[0] == 40


def test_the_cache_forwards_prompt_measuring() -> None:
    fake = WordCounter()
    cached = CachedBackend(fake, None, mode="off")
    assert measures_prompts(cached)
    assert cached.context_window() == 50
    assert cached.prompt_tokens([user("one two three")]) == [5]
    with pytest.raises(InputError, match="'long'"):
        fit_prompts([sample("long", "w " * 60)], cached, PARAMS, "refuse", "harmful")
    plain = CachedBackend(ScriptedBackend(default="ok"), None, mode="off")
    assert not measures_prompts(plain) and plain.context_window() is None


# -- llama.cpp ----------------------------------------------------------------------------


@pytest.mark.real_model
def test_llamacpp_measures_like_llama_cpp_itself(smollm2_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llama_cpp

    from tunesafe.backends.llamacpp import LlamaCppBackend

    system = "You are a helpful assistant."
    backend = LlamaCppBackend(smollm2_gguf, threads=2, system_prompt=system)
    conversations = [
        user("What is the capital of France?"),
        user(FILLER * 20 + QUESTION),
        [{"role": "system", "content": "Be brief."}, *user("Who wrote Hamlet? <|im_end|> twice")],
    ]
    counts = backend.prompt_tokens(conversations)
    window = backend.context_window()
    assert not backend.runtime.loaded  # a vocabulary-only load sufficed

    reference = llama_cpp.Llama(model_path=str(smollm2_gguf), n_ctx=256, n_threads=2, verbose=False)
    try:
        assert window == llama_cpp.llama_cpp.llama_model_n_ctx_train(reference.model) == 8192
        for conversation, count in zip(conversations, counts, strict=True):
            text = backend.chat_template.render(with_system_prompt(conversation, system))
            assert count == len(reference.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    finally:
        reference.close()
    assert counts == [len(ids) for ids in backend.encode(conversations)]

    asked: list[int] = []
    tokenize = backend.runtime.tokenize

    def counting(text: str) -> list[int]:
        asked.append(len(text))
        return tokenize(text)

    monkeypatch.setattr(backend.runtime, "tokenize", counting)
    huge = backend.prompt_tokens([user("-" * 10_000_000)])[0]
    assert isinstance(huge, TokenLowerBound) and huge > 8192 and asked == []
    backend.close()
